"""Formant-preserving pitch shifting by TD-PSOLA, driven by a tracked pitch contour.

Grains two periods long are cut at analysis marks one period apart and laid down
again at synthesis marks ``period / ratio`` apart. The grains themselves are not
resampled, so the spectral envelope (the formants) stays where it was while the
harmonic spacing follows the new period.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

UNVOICED_PERIOD_S = 0.005  # grain spacing where there is no pitch: ratio 1, exact identity


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def cubic_at(x: np.ndarray, pos: float, mask: int) -> float:
    """Catmull-Rom interpolation of ``x`` at fractional ``pos`` (``mask`` wraps a ring, -1 none)."""
    i = int(math.floor(pos))
    t = pos - i
    if mask >= 0:
        y0, y1, y2, y3 = x[(i - 1) & mask], x[i & mask], x[(i + 1) & mask], x[(i + 2) & mask]
    else:
        n = x.shape[0]
        y0 = x[min(max(i - 1, 0), n - 1)]
        y1 = x[min(max(i, 0), n - 1)]
        y2 = x[min(max(i + 1, 0), n - 1)]
        y3 = x[min(max(i + 2, 0), n - 1)]
    return y1 + 0.5 * t * (
        y2 - y0 + t * (2.0 * y0 - 5.0 * y1 + 4.0 * y2 - y3 + t * (3.0 * (y1 - y2) + y3 - y0))
    )


@njit(cache=True, nogil=True, error_model="numpy")
def _psola_kernel(
    x: np.ndarray, period: np.ndarray, ratio: np.ndarray, y: np.ndarray, wsum: np.ndarray
) -> None:
    """Overlap-add Hann grains at fractional synthesis marks; ``period``/``ratio`` per sample.

    With ``ratio`` 1 every grain is read where it is written: an exact identity.
    """
    n = x.shape[0]
    ts = 0.0  # synthesis mark (output time)
    delta = 0.0  # analysis mark minus synthesis mark, kept within half a period
    while ts < n:
        p = period[min(int(ts), n - 1)]
        delta -= p * math.floor(delta / p + 0.5)
        ta = ts + delta
        for d in range(int(math.ceil(ts - p)), int(ts + p) + 1):
            if d < 0 or d >= n:
                continue
            u = d - ts
            if abs(u) >= p:
                continue
            w = 0.5 + 0.5 * math.cos(math.pi * u / p)
            y[d] += w * cubic_at(x, ta + u, -1)
            wsum[d] += w
        step = p / ratio[min(int(ts), n - 1)]
        ts += step
        # the next analysis mark is the one of ta + k p nearest the next synthesis mark
        delta += p - step


def psola_shift(
    audio: np.ndarray, sample_rate: float, period_s: np.ndarray, ratio: np.ndarray
) -> np.ndarray:
    """Shift pitch by a per-sample ratio, keeping duration and formants.

    Parameters
    ----------
    audio : float array, shape (frames,) or (channels, frames)
    sample_rate : float
        Hz.
    period_s : float array, shape (frames,)
        Local pitch period in seconds (``UNVOICED_PERIOD_S`` where unvoiced).
    ratio : float array, shape (frames,)
        Frequency ratio (2.0 is an octave up); 1.0 where nothing should change.

    Returns
    -------
    float32 array, same shape as ``audio``.

    Examples
    --------
    >>> sr = 16000; t = np.arange(sr) / sr
    >>> x = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    >>> y = psola_shift(x, sr, np.full(sr, 1 / 200), np.full(sr, 1.1))
    >>> y.shape
    (16000,)
    """
    x2 = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    per = np.ascontiguousarray(np.maximum(np.asarray(period_s, np.float64) * sample_rate, 2.0))
    rat = np.ascontiguousarray(np.clip(np.asarray(ratio, np.float64), 0.25, 4.0))
    out = np.empty_like(x2)
    for c in range(x2.shape[0]):
        y = np.zeros(x2.shape[1])
        wsum = np.zeros(x2.shape[1])
        _psola_kernel(np.ascontiguousarray(x2[c]), per, rat, y, wsum)
        out[c] = y / np.maximum(wsum, 1e-3)
    out = out.astype(np.float32)
    return out if np.ndim(audio) == 2 else out[0]


def frames_to_samples(
    times: np.ndarray, values: np.ndarray, n: int, sample_rate: float
) -> np.ndarray:
    """Linearly interpolate a frame-rate contour onto ``n`` samples (float64)."""
    t = np.arange(n) / sample_rate
    return np.interp(t, times, values).astype(np.float64)
