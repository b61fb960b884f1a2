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
def _psola_kernel(x: np.ndarray, period: np.ndarray, semitones: np.ndarray, voiced: np.ndarray,
                  t0: float, hop: float, y: np.ndarray, wsum: np.ndarray) -> None:
    """Overlap-add Hann grains at fractional synthesis marks.

    The contours are frames at ``t0 + k * hop`` samples, read where a grain needs
    them (the period from the nearest frame, the shift interpolated linearly and 1
    where the nearest frame is unvoiced), so no per-sample copy of them exists.
    With a ratio of 1 every grain is read where it is written: an exact identity.
    """
    n = x.shape[0]
    last = period.shape[0] - 1
    ts = 0.0  # synthesis mark (output time)
    delta = 0.0  # analysis mark minus synthesis mark, kept within half a period
    while ts < n:
        f = (ts - t0) / hop
        k = min(max(int(math.floor(f + 0.5)), 0), last)
        p = period[k]
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
        ratio = 1.0
        if voiced[k]:
            j = min(max(int(math.floor(f)), 0), last)
            frac = min(max(f - j, 0.0), 1.0)
            semi = semitones[j] + frac * (semitones[min(j + 1, last)] - semitones[j])
            ratio = 2.0 ** (min(max(semi, -24.0), 24.0) / 12.0)
        step = p / ratio
        ts += step
        # the next analysis mark is the one of ta + k p nearest the next synthesis mark
        delta += p - step


def psola_contour(audio: np.ndarray, sample_rate: float, times: np.ndarray, period_s: np.ndarray,
                  semitones: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Shift pitch by a frame-rate semitone contour, keeping duration and formants.

    Parameters
    ----------
    audio : float array, shape (frames,) or (channels, frames)
    sample_rate : float
        Hz.
    times : float array, shape (n,)
        Frame times in seconds, evenly spaced (a pitch tracker's hop).
    period_s : float array, shape (n,)
        Pitch period per frame in seconds (``UNVOICED_PERIOD_S`` where unvoiced).
    semitones : float array, shape (n,)
        Shift per frame (clipped to two octaves either way).
    voiced : bool array, shape (n,)
        Frames where the shift applies; elsewhere the ratio is exactly 1.

    Returns
    -------
    float32 array, same shape as ``audio``. Working memory is two float32 rows
    the length of the audio, whatever the number of frames.
    """
    x2 = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    hop = float(times[1] - times[0]) * sample_rate if len(times) > 1 else 1.0
    per = np.ascontiguousarray(np.maximum(np.asarray(period_s, np.float64) * sample_rate, 2.0))
    semi = np.ascontiguousarray(semitones, dtype=np.float64)
    mask = np.ascontiguousarray(voiced, dtype=np.bool_)
    out = np.empty_like(x2)
    wsum = np.empty(x2.shape[1], dtype=np.float32)
    for c in range(x2.shape[0]):
        out[c] = 0.0
        wsum[:] = 0.0
        _psola_kernel(np.ascontiguousarray(x2[c]), per, semi, mask, float(times[0]) * sample_rate,
                      max(hop, 1e-9), out[c], wsum)
        np.maximum(wsum, 1e-3, out=wsum)
        out[c] /= wsum
    return out if np.ndim(audio) == 2 else out[0]


def psola_shift(
    audio: np.ndarray, sample_rate: float, period_s: np.ndarray, ratio: np.ndarray
) -> np.ndarray:
    """Shift pitch by a per-sample ratio (0.25..4), keeping duration and formants.

    :func:`psola_contour` with one frame per sample.

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
    n = np.shape(audio)[-1]
    semitones = 12.0 * np.log2(np.clip(np.asarray(ratio, np.float64), 0.25, 4.0))
    return psola_contour(audio, sample_rate, np.arange(n) / sample_rate, period_s, semitones,
                         np.ones(n, dtype=np.bool_))
