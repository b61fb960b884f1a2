"""Four-band parametric EQ: RBJ biquads, re-designed on the audio thread only while params glide."""

from __future__ import annotations

import numpy as np
from numba import njit

from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor
from core.smoothing import smooth_params
from plugins.biquad import design

BANDS = 4
PER_BAND = 4  # type, freq_hz, gain_db, q
TYPES = ("off", "peak", "low_shelf", "high_shelf", "low_pass", "high_pass")
# A band's biquad kind is its type index - 1 (biquad.PEAK == 0 ... HIGH_PASS == 4).
REDESIGN_EVERY = 16  # samples between coefficient updates while a parameter glides

# info layout: sample rate, samples since reset modulo REDESIGN_EVERY, redesign pending
SR, PHASE, DIRTY = 0, 1, 2

DEFAULTS = (("low_shelf", 80.0), ("peak", 400.0), ("peak", 2500.0), ("high_shelf", 10000.0))


@njit(cache=True, nogil=True, error_model="numpy")
def _redesign(current, bq, z, sr):  # type: ignore[no-untyped-def]
    for b in range(BANDS):
        base = b * PER_BAND
        kind = int(current[base]) - 1
        if kind < 0:  # "off" is an exact identity (y = 1 * x + 0) and restarts from silence
            bq[b, 0] = 1.0
            bq[b, 1:] = 0.0
            z[b] = 0.0
        else:
            design(kind, current[base + 1], current[base + 2], current[base + 3], sr, bq[b])


@njit(cache=True, nogil=True, error_model="numpy")
def eq_kernel(audio, sidechain, targets, current, coefs, bq, z, info):  # type: ignore[no-untyped-def]
    """Cascade of four biquads per channel ("off" bands are identities).

    State: ``bq`` (4, 5) coefficients, ``z`` (4, channels, 2) TDF-II memories,
    ``info`` (3,) float64. While every parameter rests, each channel runs the
    four bands in one pass with coefficients and memories in registers; while
    one glides, parameters are smoothed per sample and the coefficients
    re-designed every REDESIGN_EVERY samples, counted from reset so that the
    output does not depend on block size. Both paths do the same arithmetic.
    """
    channels, frames = audio.shape
    resting = info[DIRTY] == 0.0
    if resting:
        for k in range(targets.shape[0]):
            if targets[k] != current[k]:
                resting = False
                break
    if resting:
        p0, p1, p2, p3, p4 = bq[0, 0], bq[0, 1], bq[0, 2], bq[0, 3], bq[0, 4]
        q0, q1, q2, q3, q4 = bq[1, 0], bq[1, 1], bq[1, 2], bq[1, 3], bq[1, 4]
        r0, r1, r2, r3, r4 = bq[2, 0], bq[2, 1], bq[2, 2], bq[2, 3], bq[2, 4]
        s0, s1, s2, s3, s4 = bq[3, 0], bq[3, 1], bq[3, 2], bq[3, 3], bq[3, 4]
        for c in range(channels):
            pa, pb = z[0, c, 0], z[0, c, 1]
            qa, qb = z[1, c, 0], z[1, c, 1]
            ra, rb = z[2, c, 0], z[2, c, 1]
            sa, sb = z[3, c, 0], z[3, c, 1]
            for i in range(frames):
                x = np.float64(audio[c, i])
                y = p0 * x + pa
                pa = p1 * x - p3 * y + pb
                pb = p2 * x - p4 * y
                x = y
                y = q0 * x + qa
                qa = q1 * x - q3 * y + qb
                qb = q2 * x - q4 * y
                x = y
                y = r0 * x + ra
                ra = r1 * x - r3 * y + rb
                rb = r2 * x - r4 * y
                x = y
                y = s0 * x + sa
                sa = s1 * x - s3 * y + sb
                sb = s2 * x - s4 * y
                audio[c, i] = y
            z[0, c, 0], z[0, c, 1] = pa, pb
            z[1, c, 0], z[1, c, 1] = qa, qb
            z[2, c, 0], z[2, c, 1] = ra, rb
            z[3, c, 0], z[3, c, 1] = sa, sb
        info[PHASE] = (info[PHASE] + frames) % REDESIGN_EVERY
        return
    sr = info[SR]
    phase = int(info[PHASE])
    dirty = info[DIRTY] != 0.0
    for i in range(frames):
        if smooth_params(current, targets, coefs):
            dirty = True
        if dirty and phase == 0:
            _redesign(current, bq, z, sr)
            dirty = False
        phase += 1
        if phase == REDESIGN_EVERY:
            phase = 0
        for c in range(channels):
            x = np.float64(audio[c, i])
            for b in range(BANDS):
                y = bq[b, 0] * x + z[b, c, 0]
                z[b, c, 0] = bq[b, 1] * x - bq[b, 3] * y + z[b, c, 1]
                z[b, c, 1] = bq[b, 2] * x - bq[b, 4] * y
                x = y
            audio[c, i] = x
    info[PHASE] = phase
    info[DIRTY] = 1.0 if dirty else 0.0


def _band_params(n: int, kind: str, freq: float) -> tuple[Param, ...]:
    return (
        Param(f"b{n}_type", float(TYPES.index(kind)), 0, len(TYPES) - 1, scale="choice",
              choices=TYPES, doc=f"Band {n} filter type"),
        Param(f"b{n}_freq_hz", freq, 20.0, 20000.0, unit="Hz", scale="log", smoothing_ms=30.0,
              doc=f"Band {n} centre or corner frequency"),
        Param(f"b{n}_gain_db", 0.0, -24.0, 24.0, unit="dB", smoothing_ms=20.0,
              doc=f"Band {n} gain (peak and shelves)"),
        Param(f"b{n}_q", 0.7071, 0.1, 18.0, scale="log", smoothing_ms=20.0,
              doc=f"Band {n} Q (the cookbook's Q, also for shelves)"),
    )


class EQ(Processor):
    """Four-band parametric EQ (RBJ cookbook biquads, transposed direct form II).

    Each band is off, peak, low/high shelf or low/high pass. The defaults (a
    low shelf, two peaks and a high shelf, all at 0 dB) are flat. Frequencies
    above 0.499 x the sample rate are clamped there.

    Examples
    --------
    >>> eq = EQ(b2_gain_db=6.0, b2_freq_hz=1000.0, b2_q=1.0)
    >>> eq.prepare(48000, 256, 2)
    >>> x = np.zeros((2, 256), np.float32); x[:, 0] = 1.0
    >>> eq.process(x); bool(abs(x[0]).sum() > 1.0)
    True
    """

    name = "eq"
    params = tuple(p for n, (k, f) in enumerate(DEFAULTS, 1) for p in _band_params(n, k, f))
    kernel = eq_kernel

    def allocate(self) -> tuple[np.ndarray, ...]:
        return (
            np.zeros((BANDS, 5)),
            np.zeros((BANDS, self.channels, 2)),
            np.zeros(3),
        )

    def after_reset(self) -> None:
        bq, z, info = self.state
        info[SR] = self.sample_rate
        _redesign(self.current, bq, z, self.sample_rate)


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [EQ]
