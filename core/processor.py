"""The processor contract: declared params, ``prepare`` allocates, ``process`` does not.

A real-time processor keeps its DSP in a numba kernel with the signature
``kernel(audio, sidechain, targets, current, coefs, *state)`` where every
argument is a numpy array. The Python object only validates, allocates and
holds those arrays; that uniform shape is what lets the real-time engine fuse a
chain's kernels into one compiled callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from core.errors import ParameterError
from core.params import Param


class Processor:
    """Base class of every processor.

    Subclasses declare ``name``, ``params`` and either a ``kernel`` (real-time)
    or override :meth:`process` and set ``realtime = False`` (offline only).
    Offline stages that analyse a whole track (pitch tracking, the vocoder) also
    set ``whole_track = True``; the offline render hands them the whole track.

    Examples
    --------
    >>> class Gain(Processor):
    ...     name = "gain"
    ...     params = (Param("gain_db", 0.0, -60.0, 24.0, unit="dB"),)
    """

    name: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    realtime: ClassVar[bool] = True
    whole_track: ClassVar[bool] = False  # offline stages that must see a whole track in one call
    accepts_sidechain: ClassVar[bool] = False
    kernel: ClassVar[Callable[..., None] | None] = None
    location_key: ClassVar[str] = ""  # "path" or "uri": the slot key naming a third-party plugin
    location: ClassVar[str] = ""  # that path or uri, once :meth:`at` has specialised the class

    def __init__(self, **values: Any) -> None:
        self._index = {p.name: i for i, p in enumerate(self.params)}
        self.targets = np.array([p.default for p in self.params], dtype=np.float64)
        self.current = self.targets.copy()
        self.coefs = np.ones(len(self.params), dtype=np.float64)
        self.sample_rate = 0.0
        self.max_block = 0
        self.channels = 0
        self.state: tuple[np.ndarray, ...] = ()
        self._args: tuple[np.ndarray, ...] = ()
        self._no_sidechain = np.zeros((1, 0), dtype=np.float32)
        for key, value in values.items():
            self.set(key, value)

    @classmethod
    def at(cls, location: str) -> type[Processor]:
        """The class for the third-party plugin at ``location``, its params read from the plugin.

        Only processors with a ``location_key`` (plugins/external.py) override this.
        """
        raise ParameterError(f"{cls.name}: takes no path or uri")

    # -- parameters -----------------------------------------------------
    def param(self, name: str) -> Param:
        """The declared Param called ``name``; ParameterError lists the valid names."""
        try:
            return self.params[self._index[name]]
        except KeyError:
            valid = ", ".join(p.name for p in self.params) or "none"
            raise ParameterError(
                f"{self.name}: unknown parameter {name!r} (parameters: {valid})"
            ) from None

    def set(self, name: str, value: float | int | str | bool) -> float:
        """Validate and hand a new target to the audio thread (one float store, no lock)."""
        v = self.param(name).validate(value)
        self.targets[self._index[name]] = v
        self.on_param_change(name)
        return v

    def set_norm(self, name: str, x: float) -> float:
        """Set from a 0..1 control value."""
        return self.set(name, self.param(name).from_norm(x))

    def get(self, name: str) -> float:
        """Current target value in native units."""
        return float(self.targets[self._index[self.param(name).name]])

    def values(self) -> dict[str, float]:
        """Every parameter's target, by name."""
        return {p.name: float(v) for p, v in zip(self.params, self.targets, strict=True)}

    def on_param_change(self, name: str) -> None:
        """Hook for processors that derive state from a parameter off the audio thread."""

    # -- lifecycle ------------------------------------------------------
    @property
    def latency(self) -> int:
        """Delay in samples that this processor adds (reported to hosts and DAWs)."""
        return 0

    def prepare(self, sample_rate: float, max_block: int, channels: int) -> None:
        """Allocate every buffer for blocks of at most ``max_block`` frames."""
        if sample_rate <= 0 or max_block < 1 or channels < 1:
            raise ValueError(
                f"{self.name}: bad prepare({sample_rate}, {max_block}, {channels})"
            )
        from core.smoothing import smoothing_coefs

        self.sample_rate = float(sample_rate)
        self.max_block = int(max_block)
        self.channels = int(channels)
        self.coefs = smoothing_coefs(
            np.array([p.smoothing_ms for p in self.params], dtype=np.float64), sample_rate
        )
        self._no_sidechain = np.zeros((channels, 0), dtype=np.float32)
        self.state = self.allocate()
        self._args = (self.targets, self.current, self.coefs, *self.state)
        self.reset()

    def allocate(self) -> tuple[np.ndarray, ...]:
        """Return the kernel's state arrays for the prepared rate, block and channels."""
        return ()

    def reset(self) -> None:
        """Clear all history: zero state, parameters jump to their targets."""
        self.current[:] = self.targets
        for arr in self.state:
            arr[...] = 0
        self.after_reset()

    def after_reset(self) -> None:
        """Hook: restore constant state (sample rate, coefficients) after zeroing."""

    def process(self, audio: np.ndarray, sidechain: np.ndarray | None = None) -> None:
        """Process ``audio`` (float32, shape (channels, frames)) in place.

        ``sidechain`` is an optional float32 array of the same frame count.
        """
        type(self).kernel(  # type: ignore[misc]
            audio, self._no_sidechain if sidechain is None else sidechain, *self._args
        )

    def describe(self) -> dict[str, object]:
        """Plain dict for listings: name, realtime, sidechain, params."""
        return {
            "name": self.name,
            "realtime": self.realtime,
            "sidechain": self.accepts_sidechain,
            "doc": (self.__doc__ or "").strip().splitlines()[0] if self.__doc__ else "",
            "params": [p.describe() for p in self.params],
        }

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:g}" for k, v in self.values().items())
        return f"<{type(self).__name__} {self.name}({vals})>"
