"""The search space the learner moves in: a few declared knobs per genre, ranges from their Params.

A knob is a settings key (``chain/slot/param``, :mod:`core.keys`) of the mix session
the planner builds from a genre preset (chains ``vocals``, ``music``, ``master``).
Only *which* keys are searchable, how far from the preset the search may go and
what each one changes audibly are declared here; the range, unit and scale
(linear or log) come from the processor's declared :class:`core.params.Param`,
found through the plugin host. The reach is a share of the Param's own 0..1
scale, so a log parameter (a compressor ratio) is searched in log steps.

Examples
--------
>>> space = space_for("pop", PluginHost.from_toml())     # doctest: +SKIP
>>> [d["key"] for d in describe_space("pop")][:2]         # doctest: +SKIP
['vocals/gain/gain_db', 'vocals/compressor/threshold_db']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import UnknownGenreError
from core.genres import resolve
from core.keys import Key, Settings
from core.params import Param
from core.specs import slot_labels


@dataclass(frozen=True)
class Knob:
    """A searchable key: how far the search may go from the preset, which ratings speak of it."""

    key: str
    reach: float  # +- this share of the Param's 0..1 scale around the preset's value
    aspects: tuple[str, ...]  # the rating aspects that judge what this knob changes
    hears: str  # what a listener hears when it goes up
    # signed aspects (memory.learning.DIRECTIONS) this knob turns up (+1) or down (-1) when it goes up:
    # a mix rated "too narrow" moves the knobs that push stereo_width up, up
    pushes: tuple[tuple[str, int], ...] = ()


KNOBS: dict[str, Knob] = {k.key: k for k in (
    Knob("vocals/gain/gain_db", 0.08, ("music_balance", "vocals_clarity"),
         "up: the vocal louder against the music (+-6.7 dB around the preset's offset)",
         (("music_balance", 1),)),
    Knob("vocals/compressor/threshold_db", 0.2, ("vocals_clarity",),
         "up: less vocal compression, more natural dynamics; down: a denser, more upfront vocal"),
    Knob("vocals/compressor/ratio", 0.2, ("vocals_clarity",),
         "up: harder levelling of the vocal"),
    Knob("vocals/eq/b4_gain_db", 0.125, ("eq_quality", "vocals_clarity"),
         "up: more air and presence on the vocal (high shelf)", (("eq_quality", 1),)),
    Knob("master/eq/b1_gain_db", 0.125, ("eq_quality",),
         "up: a warmer, fuller mix (low shelf at 200 Hz)", (("eq_quality", -1),)),
    Knob("master/eq/b4_gain_db", 0.125, ("eq_quality",),
         "up: a brighter mix (high shelf at 4 kHz)", (("eq_quality", 1),)),
    Knob("master/stereo_width/width", 0.2, ("stereo_width",),
         "up: a wider stereo image (side level; the bass stays mono)", (("stereo_width", 1),)),
    Knob("vocals/reverb/wet", 0.25, ("reverb_quality", "vocals_clarity"),
         "up: more reverb on the vocal (farther away, roomier)", (("reverb_quality", 1),)),
    Knob("vocals/delay/wet", 0.2, ("reverb_quality",),
         "up: louder echoes on the vocal", (("reverb_quality", 1),)),
)}

_ALL = tuple(KNOBS)
GENRE_KNOBS: dict[str, tuple[str, ...]] = {
    "pop": _ALL, "rock": _ALL, "hip-hop": _ALL, "electronic": _ALL, "r&b": _ALL, "country": _ALL,
    "jazz": _ALL, "acoustic": _ALL,
    # classical: a soloist in a hall; echoes and heavy levelling are not part of the idiom
    "classical": tuple(k for k in _ALL if k not in ("vocals/delay/wet", "vocals/compressor/ratio")),
}
PRESET_CHAINS = {"vocal": "vocals", "music": "music", "master": "master"}


@dataclass(frozen=True)
class Dim:
    """One axis of the normalised space: 0..1 maps onto [lo, hi] of the Param's own 0..1 scale."""

    knob: Knob
    plugin: str
    param: Param
    preset: float  # the genre preset's value (native)
    lo: float
    hi: float

    def native(self, x: float) -> float:
        return float(self.param.from_norm(self.lo + float(np.clip(x, 0.0, 1.0)) * (self.hi - self.lo)))

    def unit(self, value: float) -> float:
        """A native value as this axis' 0..1 coordinate (clipped to the window)."""
        v = float(np.clip(value, self.param.min, self.param.max))
        return float(np.clip((self.param.to_norm(v) - self.lo) / (self.hi - self.lo), 0.0, 1.0))


@dataclass(frozen=True)
class Space:
    """A genre's searchable knobs as a unit cube; settings in, coordinates out, and back."""

    genre: str
    dims: tuple[Dim, ...]

    @property
    def keys(self) -> list[str]:
        return [d.knob.key for d in self.dims]

    def to_unit(self, settings: Settings) -> np.ndarray:
        """Coordinates of ``settings`` (keys it lacks sit at the preset's value)."""
        return np.array([d.unit(float(settings.get(d.knob.key, d.preset))) for d in self.dims])

    def to_settings(self, x: np.ndarray) -> Settings:
        return {d.knob.key: round(d.native(float(v)), 4) for d, v in zip(self.dims, x, strict=True)}

    def preset_unit(self) -> np.ndarray:
        return np.array([d.unit(d.preset) for d in self.dims])

    def aspect_dims(self, aspect: str) -> list[int]:
        return [i for i, d in enumerate(self.dims) if aspect in d.knob.aspects]

    def pushes(self, aspect: str) -> dict[int, int]:
        """Dimension -> +1/-1: which knobs turn ``aspect`` up (or down) as they go up."""
        return {i: sign for i, d in enumerate(self.dims) for a, sign in d.knob.pushes if a == aspect}


def _preset_slots(preset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``chain/slot`` -> slot table, for the session chains a preset builds."""
    out = {}
    for section, chain in PRESET_CHAINS.items():
        for label, spec in zip(slot_labels(preset[section]), preset[section], strict=True):
            out[f"{chain}/{label}"] = spec
    return out


def space_for(genre: str, host: Any) -> Space:
    """The search space of ``genre``, its ranges read from the host's processor classes.

    Raises UnknownGenreError for a genre without a preset (nothing to search around).
    """
    name = resolve(genre)
    presets: dict[str, Any] = {}
    for part in reversed(host.pm.hook.mixbridge_genre_presets()):
        presets.update(part)
    if name not in presets or name not in GENRE_KNOBS:
        raise UnknownGenreError(f"genre {name!r} has no mix preset to learn around "
                                f"(presets: {', '.join(sorted(presets))})")
    slots = _preset_slots(presets[name])
    dims = []
    for key in GENRE_KNOBS[name]:
        k = Key.parse(key)
        spec = slots.get(f"{k.chain}/{k.slot}")
        if spec is None or spec["plugin"] not in host.processors:
            continue  # the preset (or this host) has no such slot: nothing to turn
        param = {p.name: p for p in host.processor_class(spec["plugin"]).params}[k.param]
        preset = param.validate(spec.get("params", {}).get(k.param, param.default))
        centre, reach = param.to_norm(preset), KNOBS[key].reach
        dims.append(Dim(KNOBS[key], spec["plugin"], param, preset,
                        max(0.0, centre - reach), min(1.0, centre + reach)))
    return Space(name, tuple(dims))


def describe_space(genre: str, host: Any = None) -> list[dict[str, Any]]:
    """Each searchable knob of ``genre``: key, range, unit, scale, preset value and what it changes.

    Examples
    --------
    >>> [d["key"] for d in describe_space("classical")][-1]    # doctest: +SKIP
    'vocals/reverb/wet'
    """
    if host is None:
        from core.host import PluginHost

        host = PluginHost.from_toml()
    return [{"key": d.knob.key, "plugin": d.plugin, "min": round(d.native(0.0), 4), "max": round(d.native(1.0), 4),
             "preset": d.preset, "unit": d.param.unit, "scale": d.param.scale, "aspects": list(d.knob.aspects),
             "hears": d.knob.hears, "pushes": dict(d.knob.pushes), "doc": d.param.doc}
            for d in space_for(genre, host).dims]
