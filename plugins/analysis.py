"""Offline analysis that drives the mixing choices: spectrum, bands, masking, stereo image.

Everything here works on whole signals (float arrays shaped (channels, frames))
and returns plain dicts of floats, so the numbers go straight into OUT.json.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from core.hookspecs import hookimpl

# Octave-ish bands covering the audible range; the vocal's important range is 200 Hz - 8 kHz.
BANDS_HZ: tuple[tuple[float, float], ...] = (
    (20.0, 60.0), (60.0, 150.0), (150.0, 400.0), (400.0, 1000.0),
    (1000.0, 2500.0), (2500.0, 5000.0), (5000.0, 9000.0), (9000.0, 20000.0),
)
VOCAL_RANGE_HZ = (150.0, 9000.0)
N_FFT = 4096
PRESENT_DB = 40.0  # a vocal band-frame this far below the vocal's loudest one counts as absent
EPS = 1e-12


def _mono(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio)
    return a if a.ndim == 1 else a.mean(axis=0, dtype=np.float64)  # no float64 copy of every channel


def power_frames(audio: np.ndarray, sr: int, n_fft: int = N_FFT) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrogram of the mono sum, Hann window, hop n_fft/2.

    Returns
    -------
    freqs : float array, shape (bins,), Hz
    power : float array, shape (bins, frames)
    """
    x = _mono(audio).astype(np.float32)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    hop = n_fft // 2
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    win = np.hanning(n_fft).astype(np.float32)
    power = np.empty((n_fft // 2 + 1, frames.shape[0]), dtype=np.float32)
    for k in range(0, frames.shape[0], 256):  # chunks bound the memory of the windowed copy
        spec = np.fft.rfft(frames[k : k + 256] * win, axis=1)
        power[:, k : k + 256] = (spec.real**2 + spec.imag**2).T
    return np.fft.rfftfreq(n_fft, 1.0 / sr), power


def band_energies_db(freqs: np.ndarray, power: np.ndarray, bands: tuple[tuple[float, float], ...] = BANDS_HZ
                     ) -> np.ndarray:
    """Energy per band (dB), per frame when ``power`` is 2-D. Shape (bands,) or (bands, frames)."""
    out = np.stack([power[(freqs >= lo) & (freqs < hi)].sum(axis=0) for lo, hi in bands])
    return 10.0 * np.log10(out + EPS)


def spectral_features(audio: np.ndarray, sr: int) -> dict[str, Any]:
    """Centroid, 85 % rolloff, flatness (Hz, Hz, 0..1) and energy per band (dB, relative to total).

    Examples
    --------
    >>> x = np.sin(2 * np.pi * 1000 * np.arange(48000) / 48000)[None]
    >>> round(spectral_features(x, 48000)["centroid_hz"])
    1000
    """
    freqs, power = power_frames(audio, sr)
    avg = power.mean(axis=1)
    total = avg.sum() + EPS
    centroid = float((freqs * avg).sum() / total)
    cum = np.cumsum(avg)
    rolloff = float(freqs[min(np.searchsorted(cum, 0.85 * cum[-1]), freqs.size - 1)])
    flat = np.exp(np.mean(np.log(power + EPS), axis=0)) / (power.mean(axis=0) + EPS)
    bands = band_energies_db(freqs, avg) - 10.0 * np.log10(total)
    return {
        "centroid_hz": centroid,
        "rolloff_hz": rolloff,
        "flatness": float(np.mean(flat)),
        "band_energy_db": {f"{lo:g}-{hi:g}": float(e) for (lo, hi), e in zip(BANDS_HZ, bands, strict=True)},
    }


def masking(vocals: np.ndarray, music: np.ndarray, sr: int) -> dict[str, Any]:
    """How much the music covers the vocal, per band, where the vocal is present.

    For each band and each frame where the vocal's band energy is within 40 dB of
    its loudest band-frame (the vocal is present there), the vocal-to-music
    ratio (dB) is averaged. ``masking_db`` = max(0, 6 - ratio): 0 when the vocal is at
    least 6 dB above the music in that band. Bands outside the vocal's range
    report None.

    Returns
    -------
    dict with ``bands`` (name -> {"vmr_db", "masking_db"}), ``overall_db`` (mean
    masking over the vocal range, weighted by the vocal's band energy) and
    ``worst_bands`` (up to three band names, most masked first).

    Examples
    --------
    >>> rep = masking(vocal, music, 48000)        # doctest: +SKIP
    >>> rep["worst_bands"]                         # doctest: +SKIP
    ['1000-2500', '2500-5000']
    """
    n = min(np.shape(vocals)[-1], np.shape(music)[-1])
    fv, pv = power_frames(np.asarray(vocals)[..., :n], sr)
    _, pm = power_frames(np.asarray(music)[..., :n], sr)
    ev = band_energies_db(fv, pv)
    em = band_energies_db(fv, pm)
    bands: dict[str, dict[str, float | None]] = {}
    weights, values = [], []
    for k, (lo, hi) in enumerate(BANDS_HZ):
        name = f"{lo:g}-{hi:g}"
        inside = hi > VOCAL_RANGE_HZ[0] and lo < VOCAL_RANGE_HZ[1]
        present = ev[k] > ev.max() - PRESENT_DB
        if not inside or not present.any():
            bands[name] = {"vmr_db": None, "masking_db": None}
            continue
        vmr = float(np.mean(ev[k, present] - em[k, present]))
        m = max(0.0, 6.0 - vmr)
        bands[name] = {"vmr_db": vmr, "masking_db": m}
        weights.append(10.0 ** (float(np.mean(ev[k, present])) / 10.0))
        values.append(m)
    overall = float(np.average(values, weights=weights)) if values else 0.0
    ranked = sorted((b for b in bands if bands[b]["masking_db"]), key=lambda b: -bands[b]["masking_db"])  # type: ignore[operator]
    return {"bands": bands, "overall_db": overall, "worst_bands": ranked[:3]}


def band_edges(name: str) -> tuple[float, float]:
    """(low, high) Hz of a band named like ``"1000-2500"``."""
    lo, hi = name.split("-")
    return float(lo), float(hi)


def stereo_measures(audio: np.ndarray, sr: int, bands: tuple[tuple[float, float], ...] | None = None
                    ) -> dict[str, Any]:
    """Width (side/mid energy ratio), correlation and balance, overall and per band.

    ``width`` is E[S^2] / E[M^2] with M = (L+R)/2, S = (L-R)/2 (0 for mono, 1 for
    uncorrelated channels, large for out-of-phase); ``correlation`` the
    zero-lag correlation coefficient of L and R; ``balance_db`` the left-to-right
    energy ratio. Per band uses Butterworth band-limiting (the same filter on both channels) of each channel.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((2, 48000))
    >>> round(stereo_measures(x, 48000)["width"], 1)
    1.0
    """
    a = np.asarray(audio)
    if a.ndim == 1 or a.shape[0] == 1:
        m = _mono(a)
        a = np.broadcast_to(m, (2, m.size))
    out: dict[str, Any] = _image(_lr_sums(a))
    if bands:
        from scipy.signal import butter

        out["bands"] = {}
        for lo, hi in bands:
            # 4th-order Butterworth band; both channels get the same filter, so phase cancels out
            if lo <= 20.0:
                sos = butter(4, hi, "lowpass", fs=sr, output="sos")
            elif hi >= sr / 2 or hi >= 20000.0:
                sos = butter(4, lo, "highpass", fs=sr, output="sos")
            else:
                sos = butter(4, (lo, hi), "bandpass", fs=sr, output="sos")
            out["bands"][f"{lo:g}-{hi:g}"] = _image(_lr_sums(a, sos))
    return out


def _lr_sums(lr: np.ndarray, sos: np.ndarray | None = None, chunk: int = 1 << 16
             ) -> tuple[float, float, float]:
    """Sums of L*L, R*R and L*R in float64, optionally of a filtered copy, a chunk at a time.

    Chunks keep the working memory at a few MB whatever the song's length (a
    float64 copy of a 3-minute stereo mix is 140 MB).
    """
    from scipy.signal import sosfilt

    zi = None if sos is None else np.zeros((sos.shape[0], 2, 2))  # from rest, like one whole pass
    ll = rr = lrs = 0.0
    for start in range(0, lr.shape[1], chunk):
        x = lr[:2, start : start + chunk].astype(np.float64)
        if sos is not None:
            x, zi = sosfilt(sos, x, axis=1, zi=zi)
        ll += float(np.dot(x[0], x[0]))
        rr += float(np.dot(x[1], x[1]))
        lrs += float(np.dot(x[0], x[1]))
    return ll, rr, lrs


def _image(sums: tuple[float, float, float]) -> dict[str, float]:
    """Width, correlation and balance from the channel sums (S/M energies expand into them)."""
    el, er, elr = sums
    mid, side = (el + er + 2 * elr) / 4.0, (el + er - 2 * elr) / 4.0
    return {
        "width": float(side / (mid + EPS)),
        "correlation": float(elr / (math.sqrt(el * er) + EPS)),
        "balance_db": float(10.0 * math.log10((el + EPS) / (er + EPS))),
    }


def report(vocals: np.ndarray, music: np.ndarray, sr: int) -> dict[str, Any]:
    """The full analysis the mixing choices use: features of each stem, masking, music's image."""
    return {
        "vocals": spectral_features(vocals, sr),
        "music": spectral_features(music, sr),
        "masking": masking(vocals, music, sr),
        "music_stereo": stereo_measures(music, sr, ((20.0, 150.0), (150.0, 2500.0), (2500.0, 20000.0))),
    }


@hookimpl
def mixbridge_service(name: str) -> object:
    """This module is the 'analysis' service."""
    return sys.modules[__name__] if name == "analysis" else None
