"""Stereo width by mid/side with the bass kept mono below a Linkwitz-Riley crossover.

Measurement (width, correlation, balance, per band) lives in plugins.analysis.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor
from core.smoothing import smooth_params
from plugins.biquad import HIGH_PASS, LOW_PASS, design, tick

WIDTH, BASS_MONO, CROSSOVER = range(3)
# bq rows: LR4 low-pass (both sections share one design), LR4 high-pass
LP, HP = 0, 1
# z rows (2 state values each): mid LP x2, mid HP x2, side HP x2
SR, DESIGNED = 0, 1


@njit(cache=True, nogil=True, error_model="numpy")
def stereo_kernel(audio, sidechain, targets, current, coefs, st, bq, z):  # type: ignore[no-untyped-def]
    """M = (L+R)/2, S = (L-R)/2; S *= width; with bass mono, S = width * HP4(S), M = LP4(M) + HP4(M).

    LP4/HP4 are 4th-order Linkwitz-Riley (two cascaded Butterworth sections): their
    sum is an all-pass, so the mid keeps a flat magnitude and stays in phase with
    the high-passed side.
    """
    channels, frames = audio.shape
    if channels != 2:
        return
    moving = True
    for i in range(frames):
        if moving or i % 16 == 0:  # settled parameters are re-checked every 16 samples
            moving = smooth_params(current, targets, coefs)
        mono = current[BASS_MONO] > 0.5
        if mono and current[CROSSOVER] != st[DESIGNED]:
            design(LOW_PASS, current[CROSSOVER], 0.0, 0.7071067811865476, st[SR], bq[LP])
            design(HIGH_PASS, current[CROSSOVER], 0.0, 0.7071067811865476, st[SR], bq[HP])
            st[DESIGNED] = current[CROSSOVER]
        left = np.float64(audio[0, i])
        right = np.float64(audio[1, i])
        m = 0.5 * (left + right)
        s = 0.5 * (left - right)
        if mono:
            lo = tick(tick(m, bq[LP], z[0], 0), bq[LP], z[1], 0)
            hi = tick(tick(m, bq[HP], z[2], 0), bq[HP], z[3], 0)
            m = lo + hi
            s = tick(tick(s, bq[HP], z[4], 0), bq[HP], z[5], 0)
        s *= current[WIDTH]
        audio[0, i] = m + s
        audio[1, i] = m - s


class StereoWidth(Processor):
    """Mid/side width with mono bass.

    ``width`` scales the side signal (0 mono, 1 unchanged, 2 twice as wide).
    With ``bass_mono`` on, the side below ``crossover_hz`` is removed by a
    4th-order Linkwitz-Riley high-pass, so the low band's correlation is +1
    whatever the width; the mid passes through the matching LR4 all-pass so
    its magnitude stays flat. Mono input passes unchanged.

    Examples
    --------
    >>> w = StereoWidth(width=0.0); w.prepare(48000, 64, 2)
    >>> x = np.random.default_rng(0).standard_normal((2, 64)).astype(np.float32)
    >>> w.process(x); bool(np.allclose(x[0], x[1]))
    True
    """

    name = "stereo_width"
    params = (
        Param("width", 1.2, 0.0, 3.0, smoothing_ms=30.0, doc="Side gain: 0 mono, 1 unchanged, >1 wider"),
        Param("bass_mono", 1.0, 0, 1, scale="choice", choices=("off", "on"), doc="Keep the bass mono"),
        Param("crossover_hz", 120.0, 40.0, 500.0, unit="Hz", scale="log", smoothing_ms=0.0,
              doc="Bass-mono crossover (Linkwitz-Riley 24 dB/oct)"),
    )
    kernel = stereo_kernel

    def allocate(self) -> tuple[np.ndarray, ...]:
        return np.zeros(2), np.zeros((2, 5)), np.zeros((6, 2))

    def after_reset(self) -> None:
        st = self.state[0]
        st[SR] = self.sample_rate
        st[DESIGNED] = -1.0


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [StereoWidth]
