"""Reference matching (offline, in the manner of matchering): move a mix toward a reference.

The reference's frequency profile (average spectrum, smoothed to 1/3 octave on
a log grid), loudness, stereo width and dynamics are measured; the mix gets a
smooth EQ correction (a linear-phase FIR drawn through the level-free profile
difference), a side-gain width match and a loudness match.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from core.hookspecs import hookimpl
from plugins.analysis import stereo_measures

GRID_HZ = np.geomspace(30.0, 16000.0, 96)  # ~11 points per octave
SMOOTH_OCT = 1.0 / 3.0
MAX_CORRECTION_DB = 12.0
FIR_TAPS = 4097  # 85 ms at 48 kHz: resolves corrections down to ~30 Hz
BASS_HZ = 200.0  # the width match leaves the side below this alone


def profile_db(audio: np.ndarray, sr: int) -> np.ndarray:
    """Smoothed average power spectrum (dB) of the mono sum on GRID_HZ, with its mean removed.

    Welch's average (8192-point segments), then each grid point averages the power
    within +-1/6 octave; the mean over the grid is subtracted, so the profile is a
    shape, free of level.
    """
    from scipy.signal import welch

    x = np.asarray(audio, dtype=np.float64)
    x = x.mean(axis=0) if x.ndim == 2 else x
    f, p = welch(x, fs=sr, nperseg=min(8192, x.size))
    half = 2.0 ** (SMOOTH_OCT / 2.0)
    out = np.array([p[(f >= g / half) & (f < g * half)].mean() if np.any((f >= g / half) & (f < g * half))
                    else np.interp(g, f, p) for g in GRID_HZ])
    db = 10.0 * np.log10(out + 1e-20)
    return db - db.mean()


def spectral_distance_db(a: np.ndarray, b: np.ndarray, sr: int) -> float:
    """RMS difference (dB) between two signals' level-free profiles.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal(48000)
    >>> spectral_distance_db(x, 0.1 * x, 48000) < 1e-6
    True
    """
    d = profile_db(a, sr) - profile_db(b, sr)
    return float(np.sqrt(np.mean(d**2)))


def dynamics(audio: np.ndarray, sr: int) -> dict[str, float]:
    """Crest factor (peak over RMS, dB) and the spread of 3 s RMS levels (95th - 10th percentile, dB)."""
    x = np.asarray(audio, dtype=np.float64)
    m = x.mean(axis=0) if x.ndim == 2 else x
    rms = np.sqrt(np.mean(m**2)) + 1e-12
    win = int(3 * sr)
    starts = range(0, max(m.size - win, 1), win // 2)
    levels = [20 * np.log10(np.sqrt(np.mean(m[i : i + win] ** 2)) + 1e-12) for i in starts]
    return {
        "crest_db": float(20 * np.log10(np.max(np.abs(m)) / rms + 1e-12)),
        "level_spread_db": float(np.percentile(levels, 95) - np.percentile(levels, 10)),
    }


def analyse(audio: np.ndarray, sr: int) -> dict[str, Any]:
    """Frequency profile (dB on GRID_HZ), integrated loudness (LUFS), width, dynamics.

    Examples
    --------
    >>> ref = analyse(reference_audio, 48000)     # doctest: +SKIP
    >>> sorted(ref)                                # doctest: +SKIP
    ['dynamics', 'loudness_lufs', 'profile_db', 'width']
    """
    import pyloudnorm

    a = np.asarray(audio, dtype=np.float64)
    a2 = a if a.ndim == 2 else a[None]
    return {
        "profile_db": profile_db(a2, sr),
        "loudness_lufs": float(pyloudnorm.Meter(sr).integrated_loudness(a2.T)),
        "width": stereo_measures(a2, sr)["width"],
        "dynamics": dynamics(a2, sr),
    }


def correction_curve(mix_profile: np.ndarray, ref_profile: np.ndarray) -> np.ndarray:
    """Smooth EQ correction (dB on GRID_HZ): the profile difference, smoothed over an octave, clipped."""
    d = ref_profile - mix_profile
    k = 11  # one octave of grid points
    pad = np.pad(d, k // 2, mode="edge")
    smooth = np.convolve(pad, np.hanning(k + 2)[1:-1] / np.hanning(k + 2)[1:-1].sum(), mode="valid")
    return np.clip(smooth, -MAX_CORRECTION_DB, MAX_CORRECTION_DB)


def fir_from_curve(curve_db: np.ndarray, sr: int, taps: int = FIR_TAPS) -> np.ndarray:
    """Linear-phase FIR (odd length) whose magnitude follows ``curve_db`` on GRID_HZ, flat beyond it."""
    from scipy.signal import firwin2

    nyq = sr / 2.0
    inner = GRID_HZ < nyq
    freqs = np.concatenate([[0.0], GRID_HZ[inner], [nyq]])
    gains_db = np.concatenate([[curve_db[0]], curve_db[inner], [curve_db[inner][-1]]])
    return firwin2(taps, freqs, 10.0 ** (gains_db / 20.0), fs=sr)


def match(mix: np.ndarray, sr: int, reference: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Move ``mix`` (float32, (channels, frames)) toward an :func:`analyse` result.

    Returns the matched audio (same shape, float32) and a report: EQ curve
    (dB per GRID_HZ point), width before/target/after, loudness gain (dB),
    spectral distance before and after.

    Examples
    --------
    >>> out, rep = match(mix, 48000, analyse(ref, 48000))   # doctest: +SKIP
    >>> rep["distance_after_db"] < rep["distance_before_db"] / 2   # doctest: +SKIP
    True
    """
    import pyloudnorm
    from scipy.signal import butter, fftconvolve, sosfiltfilt

    x = np.asarray(mix, dtype=np.float64)
    x2 = x if x.ndim == 2 else x[None]
    before = profile_db(x2, sr)
    curve = correction_curve(before, reference["profile_db"])
    h = fir_from_curve(curve, sr)
    lag = (h.size - 1) // 2
    y = fftconvolve(x2, h[None], axes=1)[:, lag : lag + x2.shape[1]]
    rep: dict[str, Any] = {"eq_curve_db": {f"{g:.0f}": float(c) for g, c in zip(GRID_HZ, curve, strict=True)}}
    if y.shape[0] == 2:
        w0 = stereo_measures(y, sr)["width"]
        side_gain = float(np.clip(np.sqrt(reference["width"] / max(w0, 1e-6)), 0.0, 2.0))
        m, s = (y[0] + y[1]) / 2.0, (y[0] - y[1]) / 2.0
        # only the side above BASS_HZ is scaled (zero-phase split, exact sum): a mono bass stays mono
        s_low = sosfiltfilt(butter(4, BASS_HZ, fs=sr, output="sos"), s)
        s = s_low + side_gain * (s - s_low)
        y = np.vstack([m + s, m - s])
        rep["width"] = {"before": w0, "target": reference["width"], "after": stereo_measures(y, sr)["width"]}
    meter = pyloudnorm.Meter(sr)
    gain_db = reference["loudness_lufs"] - meter.integrated_loudness(y.T)
    y *= 10.0 ** (gain_db / 20.0)
    rep["loudness_gain_db"] = float(gain_db)
    rep["distance_before_db"] = float(np.sqrt(np.mean((before - reference["profile_db"]) ** 2)))
    rep["distance_after_db"] = float(np.sqrt(np.mean((profile_db(y, sr) - reference["profile_db"]) ** 2)))
    out = y.astype(np.float32)
    return (out if x.ndim == 2 else out[0]), rep


@hookimpl
def mixbridge_service(name: str) -> object:
    """This module is the 'reference' service."""
    return sys.modules[__name__] if name == "reference" else None
