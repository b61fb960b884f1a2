"""Feed-forward compressor with a soft knee (Giannoulis, Massberg and Reiss, JAES 2012).

The gain computer works in dB on the detector level; its output is smoothed in
the log domain by a branching attack/release one-pole ("smooth branching" in the
paper), so the static curve is exactly the knee formula of :func:`static_curve`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor
from core.smoothing import at_rest, smooth_params

THRESHOLD, RATIO, KNEE, ATTACK, RELEASE, MAKEUP, DETECTOR = range(7)
DETECTORS = ("peak", "rms")
RMS_MS = 10.0  # averaging time of the RMS detector
FLOOR_DB = -200.0
DB_PER_NEPER = 20.0 / math.log(10.0)

# info layout: sample rate, smoothed gain (dB, <= 0), RMS mean square, attack coef,
# release coef, RMS coef, derived values stale (1.0 after reset), then the derived
# gain-computer values: 1/ratio - 1, knee start and end (dB), 1/(2 knee) (0 for a
# hard knee), knee start as a linear level, makeup as a linear gain
SR, GAIN, MEANSQ, ATT, REL, RMSC, STALE, SLOPE, KNEE_LO, KNEE_HI, INV2W, LO_LIN, MAKEUP_LIN = (
    range(13)
)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _gain_db(x, t, slope, lo, hi, inv2w):  # type: ignore[no-untyped-def]
    """Gain in dB (<= 0) at input level ``x`` dB: Giannoulis et al. 2012, eq. (4).

    ``slope = 1/R - 1``, ``lo``/``hi`` = ``T -/+ W/2``, ``inv2w = 1/(2W)``.
    """
    if x <= lo:
        return 0.0
    if x < hi:
        e = x - lo
        return slope * e * e * inv2w
    return slope * (x - t)


@njit(cache=True, nogil=True, error_model="numpy")
def _derive(current, info):  # type: ignore[no-untyped-def]
    sr = info[SR]
    t = current[THRESHOLD]
    w = current[KNEE]
    info[ATT] = math.exp(-1.0 / (current[ATTACK] * 1e-3 * sr))
    info[REL] = math.exp(-1.0 / (current[RELEASE] * 1e-3 * sr))
    info[SLOPE] = 1.0 / current[RATIO] - 1.0
    info[KNEE_LO] = t - 0.5 * w
    info[KNEE_HI] = t + 0.5 * w
    info[INV2W] = 0.5 / w if w > 0.0 else 0.0
    info[LO_LIN] = math.exp(info[KNEE_LO] / DB_PER_NEPER)
    info[MAKEUP_LIN] = math.exp(current[MAKEUP] / DB_PER_NEPER)


def static_curve(x_db: np.ndarray, threshold_db: float, ratio: float, knee_db: float) -> np.ndarray:
    """Output level in dB for input level ``x_db``: the curve the kernel applies.

    Examples
    --------
    >>> float(static_curve(np.array([0.0]), -20.0, 4.0, 0.0)[0])
    -15.0
    """
    x = np.asarray(x_db, dtype=np.float64)
    args = (threshold_db, 1.0 / ratio - 1.0, threshold_db - knee_db / 2,
            threshold_db + knee_db / 2, 0.5 / knee_db if knee_db > 0 else 0.0)
    gains = [_gain_db(v, *args) for v in x.ravel()]
    return x + np.array(gains).reshape(x.shape)


@njit(cache=True, nogil=True, error_model="numpy")
def compressor_kernel(audio, sidechain, targets, current, coefs, info, meter):  # type: ignore[no-untyped-def]
    """Linked-channel compressor; ``meter[0]`` receives the gain reduction in dB (>= 0)."""
    channels, frames = audio.shape
    det = sidechain if sidechain.shape[1] == frames and frames > 0 else audio
    dch = det.shape[0]
    resting = at_rest(targets, current)
    if info[STALE] != 0.0:
        _derive(current, info)
        info[STALE] = 0.0
    gs = info[GAIN]
    ms = info[MEANSQ]
    rmsc = info[RMSC]
    rms = current[DETECTOR] >= 0.5
    for i in range(frames):
        if not resting and smooth_params(current, targets, coefs):
            _derive(current, info)
            rms = current[DETECTOR] >= 0.5
        lo_lin = info[LO_LIN]
        gc = 0.0
        if rms:
            s = 0.0
            for c in range(dch):
                v = det[c, i]
                s += v * v
            ms += (s / dch - ms) * rmsc
            if ms > lo_lin * lo_lin:  # below the knee no logarithm is needed
                level = 0.5 * DB_PER_NEPER * math.log(np.float32(ms))
                gc = _gain_db(level, current[THRESHOLD], info[SLOPE], info[KNEE_LO],
                              info[KNEE_HI], info[INV2W])
        else:
            m = 0.0
            for c in range(dch):
                v = abs(det[c, i])
                if v > m:
                    m = v
            if m > lo_lin:
                level = DB_PER_NEPER * math.log(np.float32(m))
                gc = _gain_db(level, current[THRESHOLD], info[SLOPE], info[KNEE_LO],
                              info[KNEE_HI], info[INV2W])
        if gc < gs:
            gs = info[ATT] * (gs - gc) + gc
        else:
            gs = info[REL] * (gs - gc) + gc
            if gs > -1e-9:  # released: stop the exponential tail so idle blocks skip exp()
                gs = 0.0
        if gs == 0.0:
            g = info[MAKEUP_LIN]
        else:
            g = math.exp(np.float32((gs + current[MAKEUP]) / DB_PER_NEPER))
        for c in range(channels):
            audio[c, i] *= g
    info[GAIN] = gs
    info[MEANSQ] = ms
    meter[0] = -gs


class Compressor(Processor):
    """Feed-forward soft-knee compressor with an optional sidechain.

    The detector (peak or RMS over 10 ms) takes the loudest channel of the
    sidechain when one is given, else of the input, so stereo stays linked.
    ``gain_reduction_db`` reads the current reduction for meters.

    Examples
    --------
    >>> comp = Compressor(threshold_db=-20.0, ratio=4.0, knee_db=0.0, attack_ms=1.0)
    >>> comp.prepare(48000, 4800, 1)
    >>> x = np.full((1, 4800), 1.0, np.float32); comp.process(x)
    >>> round(20 * math.log10(float(x[0, -1])), 2)
    -15.0
    """

    name = "compressor"
    accepts_sidechain = True
    params = (
        Param("threshold_db", -18.0, -60.0, 0.0, unit="dB", smoothing_ms=20.0,
              doc="Level where compression starts (centre of the knee)"),
        Param("ratio", 4.0, 1.0, 20.0, scale="log", smoothing_ms=20.0,
              doc="Input dB above threshold per output dB"),
        Param("knee_db", 6.0, 0.0, 24.0, unit="dB", smoothing_ms=20.0,
              doc="Width of the soft knee"),
        Param("attack_ms", 10.0, 0.1, 200.0, unit="ms", scale="log", smoothing_ms=20.0,
              doc="Time constant of rising gain reduction"),
        Param("release_ms", 100.0, 5.0, 2000.0, unit="ms", scale="log", smoothing_ms=20.0,
              doc="Time constant of falling gain reduction"),
        Param("makeup_db", 0.0, 0.0, 24.0, unit="dB", smoothing_ms=20.0,
              doc="Gain after compression"),
        Param("detector", 0.0, 0, 1, scale="choice", choices=DETECTORS,
              doc="Level detector: instantaneous peak or 10 ms RMS"),
    )
    kernel = compressor_kernel

    def allocate(self) -> tuple[np.ndarray, ...]:
        return np.zeros(13), np.zeros(1)

    def after_reset(self) -> None:
        info = self.state[0]
        info[SR] = self.sample_rate
        info[RMSC] = 1.0 - math.exp(-1.0 / (RMS_MS * 1e-3 * self.sample_rate))
        info[STALE] = 1.0

    @property
    def gain_reduction_db(self) -> float:
        """Current gain reduction in dB (0 when idle); safe to read from any thread."""
        return float(self.state[1][0]) if self.state else 0.0


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [Compressor]
