"""Dynamic EQ: bell bands whose gain follows a band-filtered detector; the de-esser is one band of it.

Each band is ``y = x + (G - 1) * BP(x)`` with BP the cookbook's constant-0-dB
band-pass: at the centre frequency BP has unit gain and zero phase, so the band's
gain there is exactly G, and with G = 1 the band is exactly transparent. G never
needs a coefficient redesign, so it can change every sample for free.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor
from core.smoothing import smooth_params
from plugins.biquad import BAND_PASS, design, tick

BANDS = 3
PER_BAND = 8  # on, freq_hz, q, threshold_db, ratio, range_db, attack_ms, release_ms
ON, FREQ, Q, THR, RATIO, RANGE, ATT, REL = range(PER_BAND)
DETECTOR = BANDS * PER_BAND  # the global param after the bands: 0 = own signal, 1 = sidechain when fed
SUB = 16  # samples between coefficient and time-constant updates
DETECTOR_FALL_MS = 20.0  # peak detector's fall time: smooth on a 100 Hz band, quick on sibilants
# st layout per band: designed freq, designed q, detector, attack coef, release coef, gain (dB),
# threshold (linear), detector fall coef, gain - 1 (linear)
S_FREQ, S_Q, S_ENV, S_ATT, S_REL, S_GAIN, S_THR, S_FALL, S_G1 = range(9)


@njit(cache=True, nogil=True, error_model="numpy")
def dynamic_eq_kernel(audio, sidechain, targets, current, coefs, sr, st, bq, z, zd):  # type: ignore[no-untyped-def]
    """Per band: detector = BP(mono sum of key), peak follower, downward gain computer, gliding gain, bell.

    Parameters are smoothed every sample while any moves; once all have settled
    they are checked every SUB samples, and the band designs and time constants
    are recomputed only then.
    """
    channels, frames = audio.shape
    use_sc = current[DETECTOR] > 0.5 and sidechain.shape[1] == frames
    key = sidechain if use_sc else audio
    kc = key.shape[0]
    moving = True
    for i in range(frames):
        if moving or i % SUB == 0:
            moving = smooth_params(current, targets, coefs)
            if moving or i == 0:
                for b in range(BANDS):
                    p = b * PER_BAND
                    if current[p + FREQ] != st[b, S_FREQ] or current[p + Q] != st[b, S_Q]:
                        design(BAND_PASS, current[p + FREQ], 0.0, current[p + Q], sr[0], bq[b])
                        st[b, S_FREQ] = current[p + FREQ]
                        st[b, S_Q] = current[p + Q]
                    st[b, S_ATT] = math.exp(-1.0 / (current[p + ATT] * 1e-3 * sr[0]))
                    st[b, S_REL] = math.exp(-1.0 / (current[p + REL] * 1e-3 * sr[0]))
                    st[b, S_THR] = 10.0 ** (current[p + THR] / 20.0)
                    st[b, S_FALL] = math.exp(-1.0 / (DETECTOR_FALL_MS * 1e-3 * sr[0]))
        k = 0.0
        for c in range(kc):
            k += key[c, i]
        k /= kc
        for b in range(BANDS):
            p = b * PER_BAND
            if current[p + ON] < 0.5:
                st[b, S_GAIN] = 0.0
                st[b, S_G1] = 0.0
                continue
            # detector: instant-attack peak follower on the band (20 ms fall), then the gain
            # computer, then the gain itself glides with the band's attack and release
            d = abs(tick(k, bq[b], zd[b], 0))
            env = st[b, S_ENV] * st[b, S_FALL]
            if d > env:
                env = d
            st[b, S_ENV] = env
            target = 0.0
            if env > st[b, S_THR]:  # compare in linear terms: no logarithm below threshold
                target = -(20.0 * math.log10(env) - current[p + THR]) * (1.0 - 1.0 / current[p + RATIO])
                if target < current[p + RANGE]:
                    target = current[p + RANGE]
            gain = st[b, S_GAIN]
            if target != gain:
                a = st[b, S_ATT] if target < gain else st[b, S_REL]
                gain = target + a * (gain - target)
                if abs(gain - target) < 1e-6:
                    gain = target
                st[b, S_GAIN] = gain
                st[b, S_G1] = 10.0 ** (gain / 20.0) - 1.0
            g1 = st[b, S_G1]
            for c in range(channels):
                x = np.float64(audio[c, i])
                audio[c, i] = x + g1 * tick(x, bq[b], z[b, c], 0)


def _band(n: int, on: bool, freq: float, q: float, thr: float, rng: float) -> tuple[Param, ...]:
    return (
        Param(f"b{n}_on", float(on), 0, 1, scale="choice", choices=("off", "on"), doc=f"Band {n} active"),
        Param(f"b{n}_freq_hz", freq, 40.0, 16000.0, unit="Hz", scale="log", smoothing_ms=30.0,
              doc=f"Band {n} centre frequency"),
        Param(f"b{n}_q", q, 0.3, 8.0, scale="log", smoothing_ms=30.0, doc=f"Band {n} Q (detector and bell)"),
        Param(f"b{n}_threshold_db", thr, -80.0, 0.0, unit="dB", smoothing_ms=20.0,
              doc=f"Band {n} detector level where the cut starts"),
        Param(f"b{n}_ratio", 4.0, 1.0, 50.0, scale="log", smoothing_ms=20.0, doc=f"Band {n} ratio above threshold"),
        Param(f"b{n}_range_db", rng, -24.0, 0.0, unit="dB", smoothing_ms=20.0, doc=f"Band {n} deepest cut"),
        Param(f"b{n}_attack_ms", 5.0, 0.1, 200.0, unit="ms", scale="log", smoothing_ms=0.0,
              doc=f"Band {n} time to cut"),
        Param(f"b{n}_release_ms", 120.0, 5.0, 2000.0, unit="ms", scale="log", smoothing_ms=0.0,
              doc=f"Band {n} time to recover"),
    )


class DynamicEQ(Processor):
    """Three dynamic bell bands keyed by the slot's sidechain, or by the own signal.

    Each band's detector is the band-passed mono sum of the key; above
    ``threshold_db`` the bell cuts by (level - threshold) x (1 - 1/ratio), never
    deeper than ``range_db``. With the vocal as sidechain it carves the music's
    vocal range only while the vocal sings there (unmasking).

    Examples
    --------
    >>> eq = DynamicEQ(detector="sidechain", b1_freq_hz=2500.0, b1_threshold_db=-40.0)
    >>> eq.prepare(48000, 512, 2)
    >>> music = np.zeros((2, 512), np.float32); vocal = np.zeros((1, 512), np.float32)
    >>> eq.process(music, vocal)
    """

    name = "dynamic_eq"
    accepts_sidechain = True
    params = (
        *_band(1, True, 1000.0, 1.0, -30.0, -6.0),
        *_band(2, True, 3000.0, 1.0, -30.0, -6.0),
        *_band(3, False, 7000.0, 1.0, -30.0, -6.0),
        Param("detector", 1.0, 0, 1, scale="choice", choices=("self", "sidechain"),
              doc="Key: the slot's sidechain when it has one, else (or with 'self') the own signal"),
    )
    kernel = dynamic_eq_kernel

    def allocate(self) -> tuple[np.ndarray, ...]:
        return (np.zeros(1), np.zeros((BANDS, 9)), np.zeros((BANDS, 5)),
                np.zeros((BANDS, self.channels, 2)), np.zeros((BANDS, 2)))

    def after_reset(self) -> None:
        sr, st = self.state[0], self.state[1]
        sr[0] = self.sample_rate
        st[:, S_FREQ] = -1.0  # force designs on the first sample

    def gains_db(self) -> np.ndarray:
        """Each band's current gain in dB (for meters), shape (3,)."""
        return self.state[1][:, S_GAIN].copy() if self.state else np.zeros(BANDS)


class DeEsser(DynamicEQ):
    """De-esser: the dynamic EQ with one fast band on 5-9 kHz keyed by the own signal.

    Defaults: a bell at 6.7 kHz (the geometric centre of 5-9 kHz), Q 0.7 so the
    bell spans the band, ratio 8, 1 ms attack, 60 ms release, cutting at most 6 dB.

    Examples
    --------
    >>> d = DeEsser(b1_range_db=-8.0); d.prepare(48000, 256, 1)
    """

    name = "deesser"
    params = (
        *_band(1, True, 6708.0, 0.7, -30.0, -6.0)[:4],
        Param("b1_ratio", 8.0, 1.0, 50.0, scale="log", smoothing_ms=20.0, doc="Ratio above threshold"),
        _band(1, True, 6708.0, 0.7, -30.0, -6.0)[5],
        Param("b1_attack_ms", 1.0, 0.1, 200.0, unit="ms", scale="log", smoothing_ms=0.0, doc="Time to cut"),
        Param("b1_release_ms", 60.0, 5.0, 2000.0, unit="ms", scale="log", smoothing_ms=0.0, doc="Time to recover"),
        *_band(2, False, 3000.0, 1.0, -30.0, 0.0),
        *_band(3, False, 10000.0, 1.0, -30.0, 0.0),
        Param("detector", 0.0, 0, 0, scale="choice", choices=("self",), doc="Key: always the own signal"),
    )
    accepts_sidechain = False


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [DynamicEQ, DeEsser]
