"""RBJ Audio-EQ-Cookbook biquads: coefficient design and a transposed direct form II tick.

Coefficients are computed inside kernels (numba) so that smoothed frequency, gain
and Q can be re-designed on the audio thread without Python. ``coefs`` holds
normalised ``b0, b1, b2, a1, a2`` (a0 = 1), as scipy.signal expects with a = [1, a1, a2].
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

PEAK, LOW_SHELF, HIGH_SHELF, LOW_PASS, HIGH_PASS, BAND_PASS, NOTCH = range(7)
KINDS = ("peak", "low_shelf", "high_shelf", "low_pass", "high_pass", "band_pass", "notch")


@njit(cache=True, nogil=True, error_model="numpy")
def design(kind: int, freq: float, gain_db: float, q: float, sample_rate: float, out: np.ndarray) -> None:
    """Write RBJ coefficients ``b0, b1, b2, a1, a2`` (normalised by a0) into ``out[:5]``.

    Shelves use ``q`` as the cookbook's Q (0.7071 gives the steepest monotonic shelf).
    """
    f = min(max(freq, 1.0), 0.499 * sample_rate)
    w0 = 2.0 * math.pi * f / sample_rate
    cw = math.cos(w0)
    sw = math.sin(w0)
    alpha = sw / (2.0 * q)
    A = 10.0 ** (gain_db / 40.0)
    if kind == PEAK:
        b0 = 1.0 + alpha * A
        b1 = -2.0 * cw
        b2 = 1.0 - alpha * A
        a0 = 1.0 + alpha / A
        a1 = -2.0 * cw
        a2 = 1.0 - alpha / A
    elif kind == LOW_SHELF:
        s = 2.0 * math.sqrt(A) * alpha
        b0 = A * ((A + 1.0) - (A - 1.0) * cw + s)
        b1 = 2.0 * A * ((A - 1.0) - (A + 1.0) * cw)
        b2 = A * ((A + 1.0) - (A - 1.0) * cw - s)
        a0 = (A + 1.0) + (A - 1.0) * cw + s
        a1 = -2.0 * ((A - 1.0) + (A + 1.0) * cw)
        a2 = (A + 1.0) + (A - 1.0) * cw - s
    elif kind == HIGH_SHELF:
        s = 2.0 * math.sqrt(A) * alpha
        b0 = A * ((A + 1.0) + (A - 1.0) * cw + s)
        b1 = -2.0 * A * ((A - 1.0) + (A + 1.0) * cw)
        b2 = A * ((A + 1.0) + (A - 1.0) * cw - s)
        a0 = (A + 1.0) - (A - 1.0) * cw + s
        a1 = 2.0 * ((A - 1.0) - (A + 1.0) * cw)
        a2 = (A + 1.0) - (A - 1.0) * cw - s
    elif kind == LOW_PASS:
        b0 = (1.0 - cw) / 2.0
        b1 = 1.0 - cw
        b2 = (1.0 - cw) / 2.0
        a0 = 1.0 + alpha
        a1 = -2.0 * cw
        a2 = 1.0 - alpha
    elif kind == HIGH_PASS:
        b0 = (1.0 + cw) / 2.0
        b1 = -(1.0 + cw)
        b2 = (1.0 + cw) / 2.0
        a0 = 1.0 + alpha
        a1 = -2.0 * cw
        a2 = 1.0 - alpha
    elif kind == BAND_PASS:  # constant 0 dB peak gain
        b0 = alpha
        b1 = 0.0
        b2 = -alpha
        a0 = 1.0 + alpha
        a1 = -2.0 * cw
        a2 = 1.0 - alpha
    else:  # NOTCH
        b0 = 1.0
        b1 = -2.0 * cw
        b2 = 1.0
        a0 = 1.0 + alpha
        a1 = -2.0 * cw
        a2 = 1.0 - alpha
    out[0] = b0 / a0
    out[1] = b1 / a0
    out[2] = b2 / a0
    out[3] = a1 / a0
    out[4] = a2 / a0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def tick(x: float, c: np.ndarray, z: np.ndarray, zi: int) -> float:
    """One sample through coefficients ``c`` with TDF-II state ``z[zi], z[zi + 1]``."""
    y = c[0] * x + z[zi]
    z[zi] = c[1] * x - c[3] * y + z[zi + 1]
    z[zi + 1] = c[2] * x - c[4] * y
    return y


def coefficients(kind: str, freq: float, gain_db: float, q: float, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) for scipy.signal, from the same design the kernels use.

    Examples
    --------
    >>> b, a = coefficients("peak", 1000.0, 6.0, 1.0, 48000.0)
    >>> a[0]
    1.0
    """
    out = np.zeros(5)
    design(KINDS.index(kind), freq, gain_db, q, sample_rate, out)
    return out[:3].copy(), np.array([1.0, out[3], out[4]])
