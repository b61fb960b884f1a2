"""Sidechain ducker: the music dips under the vocal, optionally only in the vocal's range."""

from __future__ import annotations

import numpy as np
from numba import njit

from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor
from core.smoothing import smooth_params
from plugins.biquad import HIGH_PASS, LOW_PASS, design, tick

DEPTH, THRESH, ATTACK, RELEASE, BAND, LOW, HIGH = range(7)
SUB = 16
HOLD_MS = 10.0  # the key stays on this long after the last loud sample (a 50 Hz half-period)
# st layout: sample rate, current reduction (dB), hold counter, designed low, designed high
SR, GR, HOLD, D_LO, D_HI = range(5)


@njit(cache=True, nogil=True, error_model="numpy")
def ducker_kernel(audio, sidechain, targets, current, coefs, st, bq, z):  # type: ignore[no-untyped-def]
    """Gate-keyed gain ramps: down ``depth_db`` over attack, back over release (linear in dB).

    Band mode splits x = band + (x - band) with band = LP(high) * HP(low) of x; only
    the band is scaled, so unity gain is exactly transparent.
    """
    channels, frames = audio.shape
    sr = st[SR]
    hold_n = HOLD_MS * 1e-3 * sr
    key = sidechain if sidechain.shape[1] == frames else audio
    moving = True
    thr = 0.0
    g = 10.0 ** (-st[GR] / 20.0)
    for i in range(frames):
        if moving or i % SUB == 0:  # settled parameters are re-checked every SUB samples
            moving = smooth_params(current, targets, coefs)
            if current[BAND] > 0.5 and (current[LOW] != st[D_LO] or current[HIGH] != st[D_HI]):
                design(HIGH_PASS, current[LOW], 0.0, 0.7071, sr, bq[0])
                design(LOW_PASS, current[HIGH], 0.0, 0.7071, sr, bq[1])
                st[D_LO] = current[LOW]
                st[D_HI] = current[HIGH]
            thr = 10.0 ** (current[THRESH] / 20.0)
        loud = False
        for c in range(key.shape[0]):
            if abs(key[c, i]) > thr:
                loud = True
        if loud:
            st[HOLD] = hold_n
        elif st[HOLD] > 0.0:
            st[HOLD] -= 1.0
        depth = current[DEPTH]
        gr = st[GR]
        if st[HOLD] > 0.0:
            gr = min(depth, gr + depth / max(current[ATTACK] * 1e-3 * sr, 1.0))
        else:
            ramp = max((current[RELEASE] - HOLD_MS) * 1e-3 * sr, 1.0)
            gr = max(0.0, gr - depth / ramp)
        gr = min(gr, depth)
        if gr != st[GR]:
            g = 10.0 ** (-gr / 20.0)
            st[GR] = gr
        if current[BAND] > 0.5:
            for c in range(channels):
                x = np.float64(audio[c, i])
                b = tick(tick(x, bq[0], z[c], 0), bq[1], z[c], 2)
                audio[c, i] = x + (g - 1.0) * b
        elif gr != 0.0:
            for c in range(channels):
                audio[c, i] *= g


class Ducker(Processor):
    """Sidechain ducker: while the key (sidechain) is above threshold the signal dips by ``depth_db``.

    Gain moves linearly in dB: full depth ``attack_ms`` after the key opens, unity
    again ``release_ms`` after the key falls silent (10 ms of that is the
    detector's hold, which spans the zero crossings of low voices). With
    ``band = on`` only ``low_hz``..``high_hz`` dips (a complementary split:
    x = band + rest, so the sum is exact). Without a sidechain the input keys itself.

    Examples
    --------
    >>> d = Ducker(depth_db=6.0); d.prepare(48000, 480, 2)
    >>> music = np.ones((2, 480), np.float32); vocal = np.ones((1, 480), np.float32)
    >>> d.process(music, vocal); round(float(20 * np.log10(music[0, -1])), 1)
    -6.0
    """

    name = "ducker"
    accepts_sidechain = True
    params = (
        Param("depth_db", 4.0, 0.0, 30.0, unit="dB", smoothing_ms=20.0, doc="Gain reduction while the key is on"),
        Param("threshold_db", -40.0, -80.0, 0.0, unit="dB", smoothing_ms=20.0, doc="Key level that opens the duck"),
        Param("attack_ms", 10.0, 0.1, 500.0, unit="ms", scale="log", smoothing_ms=0.0,
              doc="Time to full depth"),
        Param("release_ms", 250.0, 20.0, 5000.0, unit="ms", scale="log", smoothing_ms=0.0,
              doc="Time from key off back to unity"),
        Param("band", 0.0, 0, 1, scale="choice", choices=("off", "on"), doc="Duck only low_hz..high_hz"),
        Param("low_hz", 250.0, 40.0, 4000.0, unit="Hz", scale="log", smoothing_ms=0.0, doc="Ducked band's low edge"),
        Param("high_hz", 5000.0, 500.0, 16000.0, unit="Hz", scale="log", smoothing_ms=0.0,
              doc="Ducked band's high edge"),
    )
    kernel = ducker_kernel

    def allocate(self) -> tuple[np.ndarray, ...]:
        return np.zeros(5), np.zeros((2, 5)), np.zeros((self.channels, 4))

    def after_reset(self) -> None:
        st = self.state[0]
        st[SR] = self.sample_rate
        st[D_LO] = st[D_HI] = -1.0  # force a design on the first sample

    @property
    def gain_reduction_db(self) -> float:
        """Current reduction in dB (for meters)."""
        return float(self.state[0][GR]) if self.state else 0.0


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [Ducker]
