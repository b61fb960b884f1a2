"""A fixed-length, normalised feature vector of a piece of audio, for similarity search.

Layout (DIM = 48): tempo, spectral centroid, bandwidth, rolloff, 13 MFCC means,
13 MFCC standard deviations, 8 band energies, integrated loudness, stereo width,
then padding. Each entry is scaled by a declared range to about [0, 1] so no
feature dominates the Euclidean distance; the vector is then L2-normalised.
Songs are described by their middle minute, which bounds the time and memory
whatever their length (a whole 3-minute song's spectrograms cost 250 MB).
"""

from __future__ import annotations

from typing import Any

import numpy as np

DIM = 48
BANDS = (20, 60, 250, 500, 1000, 2000, 4000, 8000, 20000)
SR = 22050
EXCERPT_S = 60.0


def features(audio: np.ndarray, sr: int) -> dict[str, Any]:
    """Named features of (channels, frames) audio (librosa at 22.05 kHz, mono mix, middle minute)."""
    import librosa

    from core.audio_io import middle, resample

    audio = audio[..., middle(audio.shape[-1], sr, EXCERPT_S)]
    mono = audio.mean(axis=0) if audio.ndim == 2 else audio
    y = resample(mono[None], sr, SR)[0] if sr != SR else mono.astype(np.float32)
    if y.size < SR // 2:
        y = np.pad(y, (0, SR // 2 - y.size))
    tempo = float(np.atleast_1d(librosa.feature.tempo(y=y, sr=SR))[0])
    spec = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
    centroid = float(librosa.feature.spectral_centroid(S=spec, sr=SR).mean())
    bandwidth = float(librosa.feature.spectral_bandwidth(S=spec, sr=SR).mean())
    rolloff = float(librosa.feature.spectral_rolloff(S=spec, sr=SR).mean())
    mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13)
    freqs = librosa.fft_frequencies(sr=SR, n_fft=2048)
    power = (spec**2).mean(axis=1)
    total = power.sum() + 1e-12
    bands = [float(power[(freqs >= lo) & (freqs < hi)].sum() / total) for lo, hi in zip(BANDS, BANDS[1:], strict=False)]
    rms = float(np.sqrt(np.mean(mono**2)) + 1e-12)
    width = 0.0
    if audio.ndim == 2 and audio.shape[0] == 2:
        mid, side = (audio[0] + audio[1]) / 2, (audio[0] - audio[1]) / 2
        width = float(np.sqrt(np.dot(side, side)) / (np.sqrt(np.dot(mid, mid)) + 1e-12))
    return {"tempo": tempo, "spectral_centroid": centroid, "spectral_bandwidth": bandwidth,
            "spectral_rolloff": rolloff, "mfcc_mean": mfcc.mean(axis=1).tolist(),
            "mfcc_std": mfcc.std(axis=1).tolist(), "band_energies": bands,
            "loudness_db": 20 * np.log10(rms), "width": width}


def vector(f: dict[str, Any]) -> np.ndarray:
    """The normalised DIM-long vector of named features."""
    v = np.zeros(DIM, dtype=np.float64)
    v[0] = (f["tempo"] - 60.0) / 140.0
    v[1] = f["spectral_centroid"] / 5000.0
    v[2] = f["spectral_bandwidth"] / 4000.0
    v[3] = f["spectral_rolloff"] / 10000.0
    v[4:17] = (np.asarray(f["mfcc_mean"]) + 300.0) / 600.0
    v[17:30] = np.asarray(f["mfcc_std"]) / 100.0
    v[30:38] = np.asarray(f["band_energies"])
    v[38] = (f["loudness_db"] + 60.0) / 60.0
    v[39] = min(f["width"], 2.0) / 2.0
    n = np.linalg.norm(v)
    return v / n if n > 0 else v
