"""The control surface model: addresses, validation, atomic batches, feedback, presets.

Every remote control (OSC, MIDI, HTTP) goes through one :class:`Controller`. It
resolves ``/mixbridge/<chain>/<slot>/<param>`` addresses against the chains'
declared Params, turns requests into ``(target_array, index, value)`` changes,
hands each request's changes to the sink as one batch (so an engine applies them
in one audio block) and tells every listener what changed, whatever the source.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.chain import BYPASS, MIX, Chain, Change
from core.errors import BridgeError, ParameterError
from core.hookspecs import RATINGS, TOO
from core.keys import Key, Settings, check
from core.params import Param

log = logging.getLogger(__name__)
PREFIX = "/mixbridge"
Listener = Callable[[list[tuple[str, float]], str], None]
PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,63}")  # whole name: no '.', '/', newline, no path

BYPASS_PARAM = Param("bypass", 0.0, 0.0, 1.0, doc="1 bypasses the slot (crossfaded)")
MIX_PARAM = Param("mix", 1.0, 0.0, 1.0, unit="", doc="wet share 0..1")


@dataclass(frozen=True)
class Target:
    """One addressable value: where it lives and how it is validated.

    ``norm`` targets take 0..1 and map through the Param's scale.
    """

    address: str
    chain: str
    slot: str
    param: Param
    array: np.ndarray
    index: int
    norm: bool = False

    def value(self) -> float:
        """The current target, in the address's units (native, or 0..1 for ``/norm``)."""
        v = float(self.array[self.index])
        return self.param.to_norm(v) if self.norm else v

    def change(self, value: Any) -> Change:
        """Validate ``value`` (one number) into a change; ParameterError says why not."""
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int | float | np.floating | np.integer):
            raise ParameterError(f"{self.address}: expected a number, got {type(value).__name__} {value!r}")
        v = float(value)
        if self.param is BYPASS_PARAM:
            if v not in (0.0, 1.0):
                raise ParameterError(f"{self.address}: bypass is 0 or 1, got {value!r}")
        native = self.param.from_norm(v) if self.norm else self.param.validate(v)
        return (self.array, self.index, native)


class Controller:
    """Addresses, validation and hand-off for a set of named chains.

    Parameters
    ----------
    chains : dict[str, Chain]
        The chains under control, by the name used in addresses.
    sink : object or callable, optional
        Receives each batch of changes: anything with ``submit(changes)`` (an
        :class:`rt.engine.Engine`), a callable, or None to write the arrays directly
        (a chain without audio).
    presets_dir : path, optional
        Where presets live (default ``core.settings.data_dir() / "presets"``).
    on_rate : callable, optional
        ``on_rate(ratings: dict)`` stores a rating of the running configuration; the
        dict has the rating keys given and ``"config"`` (a snapshot). Default: append
        a JSON line to ``presets_dir.parent / "ratings.jsonl"``.

    Examples
    --------
    >>> ctl = Controller({"vocal": chain})                         # doctest: +SKIP
    >>> ctl.set("/mixbridge/vocal/0/gain_db", 3.0, source="cli")   # doctest: +SKIP
    """

    def __init__(
        self,
        chains: dict[str, Chain],
        sink: Any = None,
        presets_dir: str | Path | None = None,
        on_rate: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if presets_dir is None:
            from core.settings import data_dir

            presets_dir = data_dir() / "presets"
        self.chains = chains
        self.sink = sink
        self.presets_dir = Path(presets_dir)
        self.on_rate = on_rate or self.save_rating
        self.listeners: list[Listener] = []
        self.on_learn: Callable[[str], None] | None = None  # set by a running MIDI bridge
        self._lock = threading.Lock()  # orders batches and their feedback between control threads
        self._by_array: dict[tuple[int, int], str] = {}
        self._targets: dict[str, Target] = {}
        self.rebuild()

    # -- address space --------------------------------------------------------------
    def rebuild(self) -> None:
        """Re-read the chains' slots (after an edit of a chain)."""
        targets: dict[str, Target] = {}
        for cname, chain in self.chains.items():
            for slot in chain:
                base = f"{PREFIX}/{cname}/{slot.label}"
                proc = slot.processor
                for i, p in enumerate(proc.params):
                    targets[f"{base}/{p.name}"] = Target(f"{base}/{p.name}", cname, slot.label, p, proc.targets, i)
                targets[f"{base}/bypass"] = Target(f"{base}/bypass", cname, slot.label, BYPASS_PARAM, slot.ctrl, BYPASS)
                targets[f"{base}/mix"] = Target(f"{base}/mix", cname, slot.label, MIX_PARAM, slot.ctrl, MIX)
        self._targets = targets
        self._by_array = {(id(t.array), t.index): a for a, t in targets.items()}

    def targets(self) -> list[Target]:
        """Every canonical (label-addressed, native-unit) target, in chain order."""
        return list(self._targets.values())

    def resolve(self, address: str) -> Target:
        """The Target for an address; slots by index or label, ``.../norm`` for 0..1."""
        t = self._targets.get(address)
        if t is not None:
            return t
        parts = address.split("/")
        # ['', 'mixbridge', chain, slot, param] or [..., param, 'norm']
        if len(parts) not in (5, 6) or parts[1] != PREFIX[1:] or (len(parts) == 6 and parts[5] != "norm"):
            raise ParameterError(f"{address}: unknown address (expected {PREFIX}/<chain>/<slot>/<param>[/norm])")
        chain = self.chains.get(parts[2])
        if chain is None:
            raise ParameterError(f"{address}: no chain {parts[2]!r} (chains: {', '.join(self.chains) or 'none'})")
        slot = chain.slot(parts[3])
        canonical = f"{PREFIX}/{parts[2]}/{slot.label}/{parts[4]}"
        t = self._targets.get(canonical)
        if t is None:
            slot.processor.param(parts[4])  # raises, naming the valid parameters
            raise ParameterError(f"{address}: unknown address")
        if len(parts) == 6:
            if t.param in (BYPASS_PARAM, MIX_PARAM):
                raise ParameterError(f"{address}: {parts[4]} has no /norm form")
            return Target(address, t.chain, t.slot, t.param, t.array, t.index, norm=True)
        return t

    def get(self, address: str) -> float:
        """Current value at an address."""
        return self.resolve(address).value()

    def describe(self) -> list[dict[str, Any]]:
        """One dict per target: address, min, max, default, unit, current value, scale, doc."""
        return [
            {"address": t.address, "min": t.param.min, "max": t.param.max, "default": t.param.default,
             "unit": t.param.unit, "value": t.value(), "scale": t.param.scale, "doc": t.param.doc,
             "choices": list(t.param.choices)}
            for t in self._targets.values()
        ]

    # -- changes --------------------------------------------------------------------
    def changes(self, requests: Iterable[tuple[str, Sequence[Any]]]) -> list[Change]:
        """Validate ``(address, args)`` set requests into changes; the first error raises."""
        out: list[Change] = []
        for address, args in requests:
            t = self.resolve(address)
            if len(args) != 1:
                raise ParameterError(f"{address}: expected 1 argument, got {len(args)}")
            out.append(t.change(args[0]))
        return out

    def apply(self, changes: list[Change], source: str = "") -> list[tuple[str, float]]:
        """Hand one batch to the sink (one audio block), then tell the listeners.

        Returns the ``(address, native value)`` pairs sent to the listeners.
        """
        if not changes:
            return []
        with self._lock:
            sink = self.sink
            if sink is None:
                for arr, idx, value in changes:
                    arr[idx] = value
            elif hasattr(sink, "submit"):
                sink.submit(changes)
            else:
                sink(changes)
            feedback = [(self._by_array.get((id(a), i), "?"), float(v)) for a, i, v in changes]
            for listener in list(self.listeners):
                try:
                    listener(feedback, source)
                except Exception:  # the change is applied; one broken surface must not fail the others
                    log.exception("feedback listener %r", listener)
        return feedback

    def set(self, address: str, value: Any, source: str = "") -> float:
        """Validate and apply one value; returns the native value applied."""
        change = self.changes([(address, [value])])
        self.apply(change, source)
        return change[0][2]

    def stats(self) -> dict[str, Any]:
        """The engine's stats when the sink has them; else the chains' latency only."""
        if hasattr(self.sink, "stats"):
            return dict(self.sink.stats())
        sr = max((c.sample_rate for c in self.chains.values()), default=0.0)
        lat = max((c.latency for c in self.chains.values()), default=0)
        return {"load": 0.0, "xruns": 0, "total_latency_ms": 1000.0 * lat / sr if sr else 0.0}

    # -- presets --------------------------------------------------------------------
    def snapshot(self) -> Settings:
        """Every slot's ``bypass``, ``mix`` and parameter targets now, as :data:`core.keys.Settings`.

        Bypass and mix are keys like any parameter (they are OSC addresses too),
        so a preset or a stored rating round-trips through one flat mapping.
        """
        out: Settings = {}
        for cname, chain in self.chains.items():
            for s in chain:
                out[f"{cname}/{s.label}/bypass"] = int(s.bypass)
                out[f"{cname}/{s.label}/mix"] = s.mix
                out |= {f"{cname}/{s.label}/{k}": v for k, v in s.processor.values().items()}
        return out

    def heard(self) -> Settings:
        """The parameters of every slot not bypassed: what a listener hears (bypass/mix left out)."""
        snap = self.snapshot()
        return {k: v for k, v in snap.items()
                if k.rsplit("/", 1)[1] not in ("bypass", "mix") and not snap[k.rsplit("/", 1)[0] + "/bypass"]}

    def _preset_path(self, name: str, must_exist: bool) -> Path:
        if not PRESET_NAME.fullmatch(name):
            raise BridgeError(f"preset name {name[:80]!r}: use letters, digits, ' ', '_', '-' "
                              "(1-64 characters, starting with a letter or digit)")
        for ext in (".json", ".toml"):
            p = self.presets_dir / f"{name}{ext}"
            if p.is_file():
                return p
        if must_exist:
            known = ", ".join(self.list_presets()) or "none"
            raise BridgeError(f"no preset {name!r} in {self.presets_dir} (presets: {known})")
        return self.presets_dir / f"{name}.json"

    def save_preset(self, name: str) -> Path:
        """Write the current values as ``presets_dir/NAME.json``."""
        from core import files

        try:
            return files.write_text(self._preset_path(name, must_exist=False), json.dumps(self.snapshot(), indent=2))
        except files.OutputError as e:
            raise BridgeError(f"preset {name!r}: {e}") from None

    def list_presets(self) -> list[str]:
        """Preset names (JSON and TOML files in the presets dir), sorted."""
        if not self.presets_dir.is_dir():
            return []
        return sorted({p.stem for p in self.presets_dir.iterdir() if p.suffix in (".json", ".toml")})

    def load_preset(self, name: str, source: str = "preset") -> list[tuple[str, float]]:
        """Apply a preset as one atomic batch; everything is validated before anything changes."""
        path = self._preset_path(name, must_exist=True)
        try:
            text = path.read_text()
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as e:
            raise BridgeError(f"preset {path}: cannot read it: {e}") from None
        try:
            settings = check(data, f"preset {name!r}")
        except ParameterError as e:
            raise BridgeError(str(e)) from None
        requests: list[tuple[str, list[Any]]] = []
        for text, value in settings.items():
            key = Key.parse(text)
            if key.chain not in self.chains:
                continue  # presets may cover chains this session does not run
            if isinstance(value, str):  # a choice by name
                value = self.resolve(key.address).param.validate(value)
            requests.append((key.address, [value]))
        try:
            changes = self.changes(requests)
        except ParameterError as e:
            raise BridgeError(f"preset {name!r}: {e}") from None
        return self.apply(changes, source)

    # -- ratings --------------------------------------------------------------------
    def rate(self, values: Sequence[Any], too: Sequence[str] = ()) -> dict[str, Any]:
        """Validate 1..6 ratings (1-5 each, in RATINGS order) and pass them to ``on_rate``.

        ``too`` are words saying which way the mix is off (``wide``, ``dark``, ...:
        core.hookspecs.TOO); they go along as ``directions``.
        """
        if not 1 <= len(values) <= len(RATINGS):
            raise ParameterError(
                f"rate: expected 1 to {len(RATINGS)} ratings ({', '.join(RATINGS)}), got {len(values)}"
            )
        ratings: dict[str, Any] = {}
        for key, v in zip(RATINGS, values, strict=False):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 1 <= v <= 5:
                raise ParameterError(f"rate: {key} must be a number from 1 to 5, got {v!r}")
            ratings[key] = float(v)
        unknown = [w for w in too if w not in TOO]
        if unknown:
            raise ParameterError(f"rate: {unknown[0][:40]!r} is not a direction (use {', '.join(TOO)})")
        if too:
            ratings["directions"] = dict(TOO[w] for w in too)
        ratings["config"] = self.heard()
        ratings["time"] = time.time()
        self.on_rate(ratings)
        return ratings

    def save_rating(self, ratings: dict[str, Any]) -> None:
        """Append a rating to ``ratings.jsonl`` beside the presets (the default ``on_rate``)."""
        path = self.presets_dir.parent / "ratings.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps(ratings) + "\n")

