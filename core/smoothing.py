"""Parameter smoothing shared by every kernel: a one-pole glide toward the target.

Control threads write new targets (one float64 store each, no lock); the kernel
calls :func:`smooth_params` once per sample so a jump becomes an exponential glide
with the parameter's declared time constant.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


def smoothing_coefs(smoothing_ms: np.ndarray, sample_rate: float) -> np.ndarray:
    """Per-parameter one-pole coefficients (1.0 means "jump at once").

    Examples
    --------
    >>> smoothing_coefs(np.array([0.0, 10.0]), 48000.0)[0]
    1.0
    """
    out = np.ones(len(smoothing_ms), dtype=np.float64)
    for i, ms in enumerate(smoothing_ms):
        if ms > 0:
            out[i] = 1.0 - math.exp(-1.0 / (ms * 1e-3 * sample_rate))
    return out


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def at_rest(targets: np.ndarray, current: np.ndarray) -> bool:
    """True when every parameter has reached its target (a kernel may skip smoothing)."""
    for k in range(targets.shape[0]):
        if targets[k] != current[k]:
            return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def smooth_params(current: np.ndarray, targets: np.ndarray, coefs: np.ndarray) -> bool:
    """Move ``current`` one sample toward ``targets``; return True while any still moves."""
    moving = False
    for i in range(current.shape[0]):
        d = targets[i] - current[i]
        if d != 0.0:
            if abs(d) < 1e-9 * (1.0 + abs(targets[i])):
                current[i] = targets[i]
            else:
                current[i] += d * coefs[i]
                moving = True
    return moving
