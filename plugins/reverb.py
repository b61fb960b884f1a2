"""Freeverb-class stereo reverb: 8 damped combs + 4 all-passes per side, pre-delay, spread.

The delay lengths are Jezar's Freeverb tunings (at 44.1 kHz), scaled to the
sample rate; the right side is offset by ``spread`` x 23 samples, which
decorrelates the two tails. State is float64 and every feedback store is
flushed to zero below 1e-25, so a long silence never leaves subnormal numbers
circulating (which would make each sample hundreds of times slower).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor
from core.smoothing import smooth_params

COMBS = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)
ALLPASSES = (556, 441, 341, 225)
SPREAD = 23
MAX_PREDELAY_MS = 250.0
ROOM, DAMP, PREDELAY, WET, DRY, WIDTH = range(6)
TINY = 1e-25
# info: sample rate, pre-delay write position
SR, PD_POS = range(2)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _flush(v: float) -> float:
    return 0.0 if -TINY < v < TINY else v


@njit(cache=True, nogil=True, error_model="numpy")
def reverb_kernel(audio, sidechain, targets, current, coefs, info, lens, pos, comb, damp, ap, pd):  # type: ignore[no-untyped-def]
    """Freeverb's parallel combs (one-pole damped feedback) into series all-passes, per side."""
    channels, frames = audio.shape
    pd_len = pd.shape[0]
    moving = True
    for i in range(frames):
        if moving or i % 16 == 0:  # settled parameters are re-checked every 16 samples
            moving = smooth_params(current, targets, coefs)
        fb = 0.7 + 0.28 * current[ROOM]
        d = 0.4 * current[DAMP]
        x = 0.0
        for c in range(channels):
            x += audio[c, i]
        x /= channels
        # pre-delay ring: write now, read predelay samples ago
        w = int(info[PD_POS])
        pd[w] = x
        lag = int(current[PREDELAY] * 1e-3 * info[SR] + 0.5)
        if lag > pd_len - 1:
            lag = pd_len - 1
        r = w - lag
        if r < 0:
            r += pd_len
        inp = pd[r] * 0.015  # Freeverb's fixed input gain keeps 8 summed combs in range
        w += 1
        if w == pd_len:
            w = 0
        info[PD_POS] = w
        out0 = 0.0
        out1 = 0.0
        for side in range(2):
            acc = 0.0
            for k in range(8):
                j = side * 8 + k
                p = pos[j]
                y = comb[j, p]
                damp[j] = _flush(y * (1.0 - d) + damp[j] * d)
                comb[j, p] = _flush(inp + damp[j] * fb)
                p += 1
                if p == lens[j]:
                    p = 0
                pos[j] = p
                acc += y
            for k in range(4):
                j = 16 + side * 4 + k
                p = pos[j]
                b = ap[j - 16, p]
                ap[j - 16, p] = _flush(acc + b * 0.5)
                acc = b - acc
                p += 1
                if p == lens[j]:
                    p = 0
                pos[j] = p
            if side == 0:
                out0 = acc
            else:
                out1 = acc
        wet = current[WET] * 3.0  # Freeverb's wet scale
        w1 = wet * (0.5 + 0.5 * current[WIDTH])
        w2 = wet * (0.5 - 0.5 * current[WIDTH])
        left = out0 * w1 + out1 * w2
        right = out1 * w1 + out0 * w2
        if channels == 1:
            audio[0, i] = audio[0, i] * current[DRY] + 0.5 * (left + right)
        else:
            audio[0, i] = audio[0, i] * current[DRY] + left
            audio[1, i] = audio[1, i] * current[DRY] + right
            for c in range(2, channels):
                audio[c, i] *= current[DRY]


class Reverb(Processor):
    """Stereo Freeverb-class reverb with pre-delay.

    ``room_size`` sets the comb feedback (0.70-0.98, longer tails), ``damping``
    the high-frequency loss per pass, ``predelay_ms`` the gap before the tail,
    ``wet``/``dry`` the levels and ``width`` the stereo spread of the tail (0
    mono, 1 full). Mono input gets the mono sum of the two tails.

    Examples
    --------
    >>> rv = Reverb(room_size=0.8, wet=0.3); rv.prepare(48000, 256, 2)
    >>> x = np.zeros((2, 256), np.float32); x[:, 0] = 1.0; rv.process(x)
    """

    name = "reverb"
    params = (
        Param("room_size", 0.5, 0.0, 1.0, smoothing_ms=50.0, doc="Tail length (comb feedback 0.70-0.98)"),
        Param("damping", 0.5, 0.0, 1.0, smoothing_ms=50.0, doc="High-frequency damping of the tail"),
        Param("predelay_ms", 10.0, 0.0, MAX_PREDELAY_MS, unit="ms", smoothing_ms=0.0,
              doc="Gap before the tail starts"),
        Param("wet", 0.25, 0.0, 1.0, smoothing_ms=20.0, doc="Reverb level"),
        Param("dry", 1.0, 0.0, 1.0, smoothing_ms=20.0, doc="Direct level"),
        Param("width", 1.0, 0.0, 1.0, smoothing_ms=20.0, doc="Stereo spread of the tail"),
    )
    kernel = reverb_kernel

    def allocate(self) -> tuple[np.ndarray, ...]:
        lens = _lengths(self.sample_rate)
        pd_len = int(MAX_PREDELAY_MS * 1e-3 * self.sample_rate) + 1
        return (
            np.zeros(2),
            lens,
            np.zeros(24, dtype=np.int64),
            np.zeros((16, int(lens[:16].max()))),
            np.zeros(16),
            np.zeros((8, int(lens[16:].max()))),
            np.zeros(pd_len),
        )

    def after_reset(self) -> None:
        self.state[0][SR] = self.sample_rate
        self.state[1][:] = _lengths(self.sample_rate)


def _lengths(sample_rate: float) -> np.ndarray:
    """Comb (16) then all-pass (8) lengths in samples: left side, then right (+ spread)."""
    scale = sample_rate / 44100.0
    sides = [(COMBS, 0), (COMBS, SPREAD)], [(ALLPASSES, 0), (ALLPASSES, SPREAD)]
    return np.array([int(round((n + off) * scale)) for group in sides for tun, off in group for n in tun],
                    dtype=np.int64)


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [Reverb]
