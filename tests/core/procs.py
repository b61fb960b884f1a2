"""Small processors used by the core tests (a pure delay with reported latency)."""

from __future__ import annotations

import numpy as np
from numba import njit

from core.params import Param
from core.processor import Processor


@njit(cache=True, nogil=True)
def _delay_kernel(audio, sidechain, targets, current, coefs, ring, pos):  # type: ignore[no-untyped-def]
    channels, frames = audio.shape
    n = ring.shape[1]
    p = pos[0]
    for i in range(frames):
        for c in range(channels):
            y = ring[c, p]
            ring[c, p] = audio[c, i]
            audio[c, i] = y
        p += 1
        if p == n:
            p = 0
    pos[0] = p


class Delay(Processor):
    """A pure delay of ``samples`` frames, reported as latency."""

    name = "test_delay"
    params = (Param("level", 1.0, 0.0, 1.0),)
    kernel = _delay_kernel

    def __init__(self, samples: int = 32, **values: float) -> None:
        self.samples = samples
        super().__init__(**values)

    @property
    def latency(self) -> int:
        return self.samples

    def allocate(self) -> tuple[np.ndarray, ...]:
        return (np.zeros((self.channels, self.samples), np.float32), np.zeros(1, np.int64))


@njit(cache=True, nogil=True)
def _copy_sidechain(audio, sidechain, targets, current, coefs):  # type: ignore[no-untyped-def]
    if sidechain.shape[1] == 0:
        return
    for c in range(audio.shape[0]):
        for i in range(audio.shape[1]):
            audio[c, i] = sidechain[0, i]


class SidechainCopy(Processor):
    """Replaces its input with the sidechain's first channel (to test routing)."""

    name = "test_sidechain_copy"
    accepts_sidechain = True
    kernel = _copy_sidechain


class Normalize(Processor):
    """Peak-normalises a whole track to 0.5 (needs the whole track: a whole-track stage)."""

    name = "test_normalize"
    realtime = False
    whole_track = True

    def process(self, audio: np.ndarray, sidechain: np.ndarray | None = None) -> None:
        peak = float(np.max(np.abs(audio)))
        if peak > 0:
            audio *= 0.5 / peak


from core.hookspecs import hookimpl  # noqa: E402


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [Delay, SidechainCopy, Normalize]
