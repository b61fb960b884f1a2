"""Declared parameters: native range, 0..1 mapping both ways, unit and smoothing time.

Every surface (OSC, MIDI, HTTP, ``mixbridge plugins``) is built from these
declarations alone, the way pyo's SLMap maps a control to a value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from core.errors import ParameterError

Scale = Literal["lin", "log", "choice"]


@dataclass(frozen=True)
class Param:
    """One processor parameter.

    Parameters
    ----------
    name : str
        Identifier with its unit in the name (``threshold_db``, ``attack_ms``).
    default, min, max : float
        Native values. For ``choice`` the value is the index into ``choices``.
    unit : str
        Display unit ("dB", "Hz", "ms", "%", "" ...).
    scale : {"lin", "log", "choice"}
        How 0..1 maps onto the native range. ``log`` needs ``min > 0``.
    smoothing_ms : float
        Time constant the audio thread uses to move toward a new target.
    doc : str
        One line for surfaces and ``mixbridge plugins``.

    Examples
    --------
    >>> p = Param("freq_hz", 1000.0, 20.0, 20000.0, unit="Hz", scale="log")
    >>> round(p.from_norm(p.to_norm(440.0)), 6)
    440.0
    """

    name: str
    default: float
    min: float
    max: float
    unit: str = ""
    scale: Scale = "lin"
    smoothing_ms: float = 20.0
    doc: str = ""
    choices: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.scale == "choice":
            if not self.choices:
                raise ValueError(f"{self.name}: a choice parameter needs choices")
            object.__setattr__(self, "min", 0.0)
            object.__setattr__(self, "max", float(len(self.choices) - 1))
            object.__setattr__(self, "smoothing_ms", 0.0)
        if not self.min <= self.default <= self.max:
            raise ValueError(f"{self.name}: default {self.default} outside [{self.min}, {self.max}]")
        if self.scale == "log" and self.min <= 0:
            raise ValueError(f"{self.name}: a log parameter needs min > 0")

    def validate(self, value: float | int | str | bool) -> float:
        """Return ``value`` as a native float, or raise ParameterError naming the range."""
        if self.scale == "choice" and isinstance(value, str):
            if value not in self.choices:
                raise ParameterError(
                    f"{self.name}: {value!r} is not one of {', '.join(self.choices)}"
                )
            return float(self.choices.index(value))
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name}: expected a number, got {value!r}") from None
        if not math.isfinite(v):
            raise ParameterError(f"{self.name}: value must be finite, got {v}")
        if not self.min <= v <= self.max:
            raise ParameterError(
                f"{self.name}: {v:g} is outside [{self.min:g}, {self.max:g}]"
                + (f" {self.unit}" if self.unit else "")
            )
        if self.scale == "choice":
            if v != int(v):
                raise ParameterError(f"{self.name}: choice index must be whole, got {v}")
        return v

    def to_norm(self, value: float) -> float:
        """Map a native value to 0..1."""
        v = self.validate(value)
        if self.max == self.min:
            return 0.0
        if self.scale == "log":
            return math.log(v / self.min) / math.log(self.max / self.min)
        return (v - self.min) / (self.max - self.min)

    def from_norm(self, x: float) -> float:
        """Map 0..1 to a native value (a choice rounds to the nearest index)."""
        try:
            x = float(x)
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name}: expected a number in 0..1, got {x!r}") from None
        if not (math.isfinite(x) and 0.0 <= x <= 1.0):
            raise ParameterError(f"{self.name}: normalised value {x} is outside [0, 1]")
        if self.scale == "log":
            return self.min * (self.max / self.min) ** x
        v = self.min + x * (self.max - self.min)
        return float(round(v)) if self.scale == "choice" else v

    def describe(self) -> dict[str, object]:
        """Plain dict for JSON listings and surfaces."""
        d: dict[str, object] = {
            "id": self.name,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "unit": self.unit,
            "scale": self.scale,
            "smoothing_ms": self.smoothing_ms,
            "doc": self.doc,
        }
        if self.choices:
            d["choices"] = list(self.choices)
        return d
