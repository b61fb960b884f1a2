"""Sessions: plain TOML files a person can read and edit.

Example::

    [session]
    name = "demo"
    sample_rate = 48000
    genre = "pop"
    key = "A minor"
    bpm = 96

    [[tracks]]
    name = "vocals"
    source = "vocals.wav"         # relative to the session file
    chain = "vocal"               # a named chain from plugins.toml, or:
    # processors = [{ plugin = "eq", params = { b1_gain_db = 2.0 } }]

    [master]
    chain = "master"
    [master.loudness]
    target_lufs = -14.0
    ceiling_dbtp = -1.0

    [output]
    path = "demo.wav"
    bit_depth = "24"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import SessionError, UnknownGenreError
from core.genres import resolve as resolve_genre
from core.specs import check_slot_specs, slot_labels

KEYS = {"session", "tracks", "master", "output"}
SESSION_KEYS = {"name", "sample_rate", "genre", "key", "bpm", "block_size", "tail_s"}
TRACK_KEYS = {"name", "source", "gain_db", "pan", "chain", "processors"}
MASTER_KEYS = {"chain", "processors", "loudness"}
LOUDNESS_KEYS = {"enabled", "target_lufs", "ceiling_dbtp"}
OUTPUT_KEYS = {"path", "bit_depth"}
RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)


@dataclass
class Track:
    name: str
    source: str
    gain_db: float = 0.0
    pan: float = 0.0
    chain: str | None = None
    processors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Loudness:
    enabled: bool = True
    target_lufs: float = -14.0
    ceiling_dbtp: float = -1.0


@dataclass
class Master:
    chain: str | None = None
    processors: list[dict[str, Any]] = field(default_factory=list)
    loudness: Loudness = field(default_factory=Loudness)


@dataclass
class Session:
    """A render job: rate, musical context, tracks with chains, master, output.

    Examples
    --------
    >>> s = Session.load("demo/session.toml")   # doctest: +SKIP
    >>> s.tracks[0].name                          # doctest: +SKIP
    'vocals'
    """

    name: str = "session"
    sample_rate: int = 48000
    genre: str = "pop"
    key: str = "C major"
    bpm: float = 120.0
    block_size: int = 512
    tail_s: float = 1.0
    tracks: list[Track] = field(default_factory=list)
    master: Master = field(default_factory=Master)
    output_path: str = "out.wav"
    bit_depth: str = "24"
    base_dir: Path = field(default=Path("."), compare=False)

    # -- files ----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Session:
        """Read and validate a session file; SessionError names the offending key."""
        p = Path(path)
        try:
            text = p.read_text()
        except FileNotFoundError:
            raise SessionError(f"{p}: session file not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise SessionError(f"{p}: cannot read session ({e})") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SessionError(f"{p}: not valid TOML: {e}") from None
        return cls.from_dict(data, base_dir=p.resolve().parent, where=str(p))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: Path = Path("."), where: str = "session") -> Session:
        _keys(data, KEYS, where)
        head = data.get("session", {})
        _table(head, f"{where}: [session]")
        _keys(head, SESSION_KEYS, f"{where}: [session]")
        s = cls(base_dir=base_dir)
        s.name = _typed(head, "name", str, s.name, where + ": session")
        s.sample_rate = _typed(head, "sample_rate", int, s.sample_rate, where + ": session")
        if s.sample_rate not in RATES:
            raise SessionError(f"{where}: session.sample_rate = {s.sample_rate}: use one of {RATES}")
        try:
            s.genre = resolve_genre(_typed(head, "genre", str, s.genre, where + ": session"))
        except UnknownGenreError as e:
            raise SessionError(f"{where}: session.genre: {e}") from None
        s.key = _typed(head, "key", str, s.key, where + ": session")
        s.bpm = float(_typed(head, "bpm", (int, float), s.bpm, where + ": session"))
        if not 20 <= s.bpm <= 300:
            raise SessionError(f"{where}: session.bpm = {s.bpm:g}: must lie in [20, 300]")
        s.block_size = _typed(head, "block_size", int, s.block_size, where + ": session")
        if not 1 <= s.block_size <= 65536:
            raise SessionError(f"{where}: session.block_size = {s.block_size}: must lie in [1, 65536]")
        s.tail_s = float(_typed(head, "tail_s", (int, float), s.tail_s, where + ": session"))
        if not 0 <= s.tail_s <= 60:
            raise SessionError(f"{where}: session.tail_s = {s.tail_s:g}: must lie in [0, 60]")

        tracks = data.get("tracks", [])
        if not isinstance(tracks, list) or not tracks:
            raise SessionError(f"{where}: [[tracks]]: a session needs at least one track")
        seen: set[str] = set()
        for i, t in enumerate(tracks):
            at = f"{where}: tracks[{i}]"
            _table(t, at)
            _keys(t, TRACK_KEYS, at)
            for req in ("name", "source"):
                if req not in t:
                    raise SessionError(f"{at}: missing '{req}'")
            track = Track(
                name=_typed(t, "name", str, "", at),
                source=_typed(t, "source", str, "", at),
                gain_db=float(_typed(t, "gain_db", (int, float), 0.0, at)),
                pan=float(_typed(t, "pan", (int, float), 0.0, at)),
                chain=_typed(t, "chain", str, None, at),
                processors=list(t.get("processors", [])),
            )
            if track.name in seen:
                raise SessionError(f"{at}.name = {track.name!r}: track names must be unique")
            seen.add(track.name)
            if not -1.0 <= track.pan <= 1.0:
                raise SessionError(f"{at}.pan = {track.pan:g}: must lie in [-1, 1]")
            if not -96.0 <= track.gain_db <= 24.0:
                raise SessionError(f"{at}.gain_db = {track.gain_db:g}: must lie in [-96, 24]")
            if track.chain and track.processors:
                raise SessionError(f"{at}: give either 'chain' or 'processors', not both")
            check_slot_specs(track.processors, f"{at}.processors")
            s.tracks.append(track)

        m = data.get("master", {})
        _table(m, f"{where}: [master]")
        _keys(m, MASTER_KEYS, f"{where}: [master]")
        s.master.chain = _typed(m, "chain", str, None, f"{where}: master")
        s.master.processors = list(m.get("processors", []))
        if s.master.chain and s.master.processors:
            raise SessionError(f"{where}: master: give either 'chain' or 'processors', not both")
        check_slot_specs(s.master.processors, f"{where}: master.processors")
        ld = m.get("loudness", {})
        _table(ld, f"{where}: [master.loudness]")
        _keys(ld, LOUDNESS_KEYS, f"{where}: [master.loudness]")
        at = f"{where}: master.loudness"
        s.master.loudness = Loudness(
            enabled=_typed(ld, "enabled", bool, True, at),
            target_lufs=float(_typed(ld, "target_lufs", (int, float), -14.0, at)),
            ceiling_dbtp=float(_typed(ld, "ceiling_dbtp", (int, float), -1.0, at)),
        )
        if not -70 <= s.master.loudness.target_lufs <= 0:
            raise SessionError(f"{at}.target_lufs = {s.master.loudness.target_lufs:g}: must lie in [-70, 0]")
        if not -20 <= s.master.loudness.ceiling_dbtp <= 0:
            raise SessionError(f"{at}.ceiling_dbtp = {s.master.loudness.ceiling_dbtp:g}: must lie in [-20, 0]")

        out = data.get("output", {})
        _table(out, f"{where}: [output]")
        _keys(out, OUTPUT_KEYS, f"{where}: [output]")
        s.output_path = _typed(out, "path", str, f"{s.name}.wav", f"{where}: output")
        s.bit_depth = _typed(out, "bit_depth", str, "24", f"{where}: output")
        if s.bit_depth not in ("16", "24", "float"):
            raise SessionError(f"{where}: output.bit_depth = {s.bit_depth!r}: use '16', '24' or 'float'")
        return s

    def to_dict(self) -> dict[str, Any]:
        """The TOML structure of this session (inverse of from_dict)."""
        def track(t: Track) -> dict[str, Any]:
            d: dict[str, Any] = {"name": t.name, "source": t.source, "gain_db": t.gain_db, "pan": t.pan}
            if t.chain:
                d["chain"] = t.chain
            if t.processors:
                d["processors"] = t.processors
            return d

        master: dict[str, Any] = {"loudness": asdict(self.master.loudness)}
        if self.master.chain:
            master["chain"] = self.master.chain
        if self.master.processors:
            master["processors"] = self.master.processors
        return {
            "session": {
                "name": self.name, "sample_rate": self.sample_rate, "genre": self.genre,
                "key": self.key, "bpm": self.bpm, "block_size": self.block_size, "tail_s": self.tail_s,
            },
            "tracks": [track(t) for t in self.tracks],
            "master": master,
            "output": {"path": self.output_path, "bit_depth": self.bit_depth},
        }

    def save(self, path: str | Path) -> Path:
        """Write the session as TOML."""
        import tomli_w

        from core import files

        return files.write_text(path, tomli_w.dumps(self.to_dict()))

    def inline_chains(self, chains: Mapping[str, list[dict[str, Any]]]) -> None:
        """Replace named chains by copies of their slot tables, so settings can be applied per session."""
        import copy

        for part in [*self.tracks, self.master]:
            if part.chain:
                if part.chain not in chains:
                    raise SessionError(f"chain {part.chain!r}: no such chain in plugins.toml")
                part.processors, part.chain = copy.deepcopy(chains[part.chain]), None

    def chains(self) -> dict[str, list[dict[str, Any]]]:
        """Each inline chain's slot tables by chain name: track names, then ``master``."""
        out = {t.name: t.processors for t in self.tracks}
        out["master"] = self.master.processors
        return out

    def settings(self) -> dict[str, Any]:
        """What this session renders as :data:`core.keys.Settings` (inline chains; bypassed slots left out).

        The inverse of :meth:`apply_settings`: ``track/slot/param`` and ``master/slot/param``.

        Examples
        --------
        >>> Session.from_dict({"tracks": [{"name": "vocals", "source": "v.wav",
        ...     "processors": [{"plugin": "compressor", "params": {"ratio": 3.0}}]}]}).settings()
        {'vocals/compressor/ratio': 3.0}
        """
        out: dict[str, Any] = {}
        for chain, specs in self.chains().items():
            for label, spec in zip(slot_labels(specs), specs, strict=True):
                if not spec.get("bypass"):
                    out.update({f"{chain}/{label}/{k}": v for k, v in spec.get("params", {}).items()
                                if isinstance(v, int | float | str) and not isinstance(v, bool)})
        return out

    def apply_settings(self, settings: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """Set slot parameters from :data:`core.keys.Settings` (inline chains only).

        Returns the keys applied and the keys this session has no slot for (a
        recommendation learned on another session's chains may name slots this one
        lacks; those are reported, not guessed). Values are checked when the chain
        is built, against the processor's declared ranges.

        Examples
        --------
        >>> s = Session.from_dict({"tracks": [{"name": "vocals", "source": "v.wav",
        ...     "processors": [{"plugin": "compressor"}]}]})
        >>> s.apply_settings({"vocals/compressor/ratio": 3.0, "music/eq/b1_gain_db": 1.0})
        (['vocals/compressor/ratio'], ['music/eq/b1_gain_db'])
        >>> s.tracks[0].processors[0]["params"]
        {'ratio': 3.0}
        """
        from core.keys import Key

        slots = {name: dict(zip(slot_labels(specs), specs, strict=True)) for name, specs in self.chains().items()}
        applied, missing = [], []
        for text, value in settings.items():
            key = Key.parse(text)
            spec = slots.get(key.chain, {}).get(key.slot)
            if spec is None:
                missing.append(str(key))
                continue
            spec.setdefault("params", {})[key.param] = value
            applied.append(str(key))
        return applied, missing

    def resolve(self, rel: str) -> Path:
        """A path from the session file, relative to the file's folder."""
        q = Path(rel).expanduser()
        return q if q.is_absolute() else self.base_dir / q


def _table(v: Any, where: str) -> None:
    if not isinstance(v, dict):
        raise SessionError(f"{where}: expected a table, got {type(v).__name__}")


def _keys(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    bad = set(d) - allowed
    if bad:
        raise SessionError(f"{where}: unknown key(s) {sorted(bad)} (allowed: {sorted(allowed)})")


def _typed(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...], default: Any, where: str) -> Any:
    if key not in d:
        return default
    v = d[key]
    ok = isinstance(v, typ) and not (isinstance(v, bool) and typ in (int, (int, float)))
    if not ok:
        names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise SessionError(f"{where}.{key} = {v!r}: expected {names}")
    return v
