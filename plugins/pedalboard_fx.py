"""pedalboard's effects, and VST3/AU plugins through pedalboard, as offline processors.

Each wrapped effect is a :class:`PedalboardProcessor` whose parameters are the
float attributes a default-constructed pedalboard object declares (names and
defaults come from pedalboard); pedalboard declares no ranges for its
built-ins, so the ranges come from :data:`RANGES`, keyed by attribute name.
They are offline only (``realtime = False``): pedalboard allocates a new output
array on every call, which the real-time path forbids. Several of its effects
(filters, reverb, chorus, limiter) update their internals once per call, so their
output would depend on the host's block size; the wrapper therefore feeds
pedalboard fixed blocks of :data:`BLOCK` frames through a FIFO and reports that
as its latency. Parameters are handed to pedalboard at the start of each of
those blocks, unsmoothed (pedalboard smooths its own).

VST3/AU plugins have declared ranges: :func:`plugin_class` reads them from the
plugin itself (plugins/external.py puts them in sessions and chains).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core.chain import SLOT_OWNED
from core.errors import PluginLoadError
from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor

BLOCK = 256  # frames per pedalboard call, whatever the host's block size

# (min, max, scale, unit) by pedalboard attribute name
RANGES: dict[str, tuple[float, float, str, str]] = {
    "room_size": (0.0, 1.0, "lin", ""),
    "damping": (0.0, 1.0, "lin", ""),
    "wet_level": (0.0, 1.0, "lin", ""),
    "dry_level": (0.0, 1.0, "lin", ""),
    "width": (0.0, 1.0, "lin", ""),
    "freeze_mode": (0.0, 1.0, "lin", ""),
    "mix": (0.0, 1.0, "lin", ""),
    "depth": (0.0, 1.0, "lin", ""),
    "feedback": (0.0, 0.95, "lin", ""),
    "rate_hz": (0.01, 20.0, "log", "Hz"),
    "centre_delay_ms": (1.0, 100.0, "log", "ms"),
    "centre_frequency_hz": (20.0, 20000.0, "log", "Hz"),
    "cutoff_frequency_hz": (20.0, 20000.0, "log", "Hz"),
    "delay_seconds": (0.0, 5.0, "lin", "s"),
    "drive_db": (0.0, 60.0, "lin", "dB"),
    "gain_db": (-60.0, 24.0, "lin", "dB"),
    "threshold_db": (-60.0, 0.0, "lin", "dB"),
    "ratio": (1.0, 100.0, "log", ""),
    "attack_ms": (0.1, 500.0, "log", "ms"),
    "release_ms": (1.0, 5000.0, "log", "ms"),
    "bit_depth": (1.0, 32.0, "lin", "bits"),
}

# our processor name -> pedalboard class name (effects with no latency and float params only)
EFFECTS = {
    "pb_reverb": "Reverb",
    "pb_chorus": "Chorus",
    "pb_delay": "Delay",
    "pb_phaser": "Phaser",
    "pb_distortion": "Distortion",
    "pb_compressor": "Compressor",
    "pb_limiter": "Limiter",
    "pb_gain": "Gain",
    "pb_highpass": "HighpassFilter",
    "pb_lowpass": "LowpassFilter",
    "pb_noisegate": "NoiseGate",
    "pb_bitcrush": "Bitcrush",
    "pb_clipping": "Clipping",
}


class PedalboardProcessor(Processor):
    """Base of the pedalboard wrappers: holds one pedalboard plugin, processes offline.

    Examples
    --------
    >>> rev = host.create("pb_reverb", room_size=0.8)   # doctest: +SKIP
    >>> rev.prepare(48000, 512, 2); rev.process(block)  # doctest: +SKIP
    """

    realtime = False
    factory: ClassVar[Any] = None
    attributes: ClassVar[dict[str, str]] = {}  # our param name -> the plugin's attribute, where they differ

    def __init__(self, **values: Any) -> None:
        self.plugin = type(self).factory()
        super().__init__(**values)
        self._applied = np.full(len(self.params), np.nan)

    @property
    def latency(self) -> int:
        return BLOCK

    def allocate(self) -> tuple[np.ndarray, ...]:
        # FIFO in, previous pedalboard output out, fill position
        return (
            np.zeros((self.channels, BLOCK), dtype=np.float32),
            np.zeros((self.channels, BLOCK), dtype=np.float32),
            np.zeros(1, dtype=np.int64),
        )

    def _apply(self) -> None:
        changed = self.targets != self._applied
        if changed.any():
            for i in np.flatnonzero(changed):
                name = self.params[i].name
                setattr(self.plugin, self.attributes.get(name, name), float(self.targets[i]))
            self._applied[:] = self.targets

    def after_reset(self) -> None:
        self.plugin.reset()

    def process(self, audio: np.ndarray, sidechain: np.ndarray | None = None) -> None:
        """Run the pedalboard plugin over ``audio`` (float32, (channels, frames)) in place.

        The output is delayed by :data:`BLOCK` frames (see ``latency``).
        """
        fifo, out, fill = self.state
        frames = audio.shape[1]
        i, k = 0, int(fill[0])
        while i < frames:
            n = min(BLOCK - k, frames - i)
            fifo[:, k : k + n] = audio[:, i : i + n]
            audio[:, i : i + n] = out[:, k : k + n]
            i += n
            k += n
            if k == BLOCK:
                self._apply()
                out[...] = self.plugin.process(fifo, self.sample_rate, buffer_size=BLOCK,
                                               reset=False)
                k = 0
        fill[0] = k


def _wrap(name: str, class_name: str) -> type[PedalboardProcessor]:
    import pedalboard

    cls = getattr(pedalboard, class_name)
    probe = cls()
    params = []
    for attr in sorted(dir(cls)):
        if attr.startswith("_") or not isinstance(getattr(cls, attr), property):
            continue
        value = getattr(probe, attr)
        if attr in RANGES and isinstance(value, float):
            lo, hi, scale, unit = RANGES[attr]
            params.append(Param(attr, min(max(value, lo), hi), lo, hi, unit=unit, scale=scale,  # type: ignore[arg-type]
                                smoothing_ms=0.0, doc=f"pedalboard {class_name}.{attr}"))
    doc = f"pedalboard's {class_name} (offline only).\n\n{(cls.__doc__ or '').strip()}"
    return type(class_name, (PedalboardProcessor,),
                {"name": name, "params": tuple(params), "factory": cls, "__doc__": doc})




def plugin_class(path: str | Path, name: str | None = None) -> type[PedalboardProcessor]:
    """A VST3 or AU plugin file as an offline processor class, params from its own declarations.

    Every parameter the plugin reports with a numeric range becomes a ``Param``
    (its current value as default; ``bypass``/``mix`` become ``plugin_bypass``/
    ``plugin_mix``, those names being the slot's); others are left at the plugin's
    value and listed in ``skipped``. Each instance loads its own copy of the plugin.

    Parameters
    ----------
    path : str or Path
        A ``.vst3`` bundle or ``.component`` (AU, macOS).
    name : str, optional
        Processor name; ``pb_<file stem>`` when omitted.

    Raises
    ------
    PluginLoadError
        The file is missing or pedalboard cannot load it.

    Examples
    --------
    >>> Dexed = plugin_class("/usr/lib/vst3/Dexed.vst3")   # doctest: +SKIP
    """
    import pedalboard

    p = Path(path).expanduser()
    if not p.exists():
        raise PluginLoadError(str(p), "the plugin file does not exist")
    try:
        plugin = pedalboard.load_plugin(str(p))
    except Exception as e:  # noqa: BLE001 - pedalboard raises plain exceptions of several kinds
        raise PluginLoadError(str(p), f"pedalboard cannot load it: {e}") from e
    params, skipped, attrs = [], [], {}
    for pname, prm in plugin.parameters.items():
        lo, hi, _ = prm.range
        value = getattr(plugin, pname)
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and hi > lo and \
                isinstance(value, (int, float)):
            ours = SLOT_OWNED.get(pname, pname)
            attrs[ours] = pname
            params.append(Param(ours, float(value), float(lo), float(hi), unit=prm.label or "",
                                smoothing_ms=0.0, doc=f"{p.stem}: {prm.name}"))
        else:
            skipped.append(pname)
    first = [plugin]

    def factory() -> Any:
        return first.pop() if first else pedalboard.load_plugin(str(p))

    return type(p.stem, (PedalboardProcessor,), {
        "name": name or f"pb_{p.stem.lower()}", "params": tuple(params), "attributes": attrs,
        "factory": staticmethod(factory), "skipped": tuple(skipped),
        "__doc__": f"{p.stem} through pedalboard (offline only).",
    })


def load_plugin(path: str | Path, name: str | None = None) -> PedalboardProcessor:
    """A VST3 or AU plugin file as an offline processor instance (see :func:`plugin_class`)."""
    return plugin_class(path, name)()


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [_wrap(name, cls) for name, cls in EFFECTS.items()]
