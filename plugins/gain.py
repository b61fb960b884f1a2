"""Gain, pan and trim: the smallest real-time processor and the model for the others."""

from __future__ import annotations

import math

from numba import njit

from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor
from core.smoothing import smooth_params

GAIN_DB, PAN, TRIM_DB = 0, 1, 2


@njit(cache=True, nogil=True, error_model="numpy")
def gain_kernel(audio, sidechain, targets, current, coefs):  # type: ignore[no-untyped-def]
    """Smoothed gain and constant-power pan (stereo) or plain gain (other widths)."""
    channels, frames = audio.shape
    for i in range(frames):
        smooth_params(current, targets, coefs)
        g = 10.0 ** ((current[GAIN_DB] + current[TRIM_DB]) / 20.0)
        if channels == 2:
            theta = (current[PAN] + 1.0) * (math.pi / 4.0)
            audio[0, i] *= g * math.cos(theta) * math.sqrt(2.0)
            audio[1, i] *= g * math.sin(theta) * math.sqrt(2.0)
        else:
            for c in range(channels):
                audio[c, i] *= g


class Gain(Processor):
    """Gain with trim and constant-power pan (unity at centre).

    Examples
    --------
    >>> g = Gain(gain_db=-6.0); g.prepare(48000, 64, 2)
    >>> x = np.ones((2, 64), np.float32); g.process(x); round(float(x[0, -1]), 3)
    0.501
    """

    name = "gain"
    params = (
        Param("gain_db", 0.0, -60.0, 24.0, unit="dB", smoothing_ms=20.0, doc="Output gain"),
        Param("pan", 0.0, -1.0, 1.0, smoothing_ms=20.0, doc="Constant-power pan, -1 left to 1 right"),
        Param("trim_db", 0.0, -24.0, 24.0, unit="dB", smoothing_ms=50.0, doc="Input trim"),
    )
    kernel = gain_kernel


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [Gain]
