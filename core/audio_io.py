"""Audio files in and out: read common formats, resample, write 24-bit or float WAV."""

from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import Any

import numpy as np

from core import files
from core.errors import AudioFileError

SUBTYPES = {"24": "PCM_24", "16": "PCM_16", "float": "FLOAT", "32f": "FLOAT"}


def read(path: str | Path, sample_rate: int | None = None, channels: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 (channels, frames), optionally resampled and remixed.

    Raises AudioFileError for a missing, unreadable or empty file, or one with
    non-finite samples.

    Examples
    --------
    >>> audio, sr = read("vocals.wav", sample_rate=48000, channels=2)  # doctest: +SKIP
    """
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise AudioFileError(f"{p}: no such audio file")
    try:
        audio, sr = _read_planar(sf, p)
    except Exception as e:  # noqa: BLE001 - libsndfile's errors are plain RuntimeErrors
        raise AudioFileError(f"{p}: cannot read audio ({e})") from None
    if audio.shape[1] == 0:
        raise AudioFileError(f"{p}: the file holds no audio frames")
    check_finite(audio, str(p))
    if sample_rate is not None and sr != sample_rate:
        audio = resample(audio, sr, sample_rate)
        sr = sample_rate
    if channels is not None:
        audio = remix(audio, channels)
    return audio, int(sr)


def _read_planar(sf: Any, path: Path, block: int = 1 << 16) -> tuple[np.ndarray, int]:
    """The whole file as float32 (channels, frames), de-interleaved a block at a time.

    Reading interleaved and transposing at the end would hold the song twice.
    """
    with sf.SoundFile(str(path)) as f:
        audio = np.empty((f.channels, f.frames), dtype=np.float32)
        done = 0
        for chunk in f.blocks(blocksize=block, dtype="float32", always_2d=True):
            n = min(chunk.shape[0], audio.shape[1] - done)
            audio[:, done : done + n] = chunk[:n].T
            done += n
        return audio[:, :done], int(f.samplerate)


def middle(frames: int, sample_rate: int, seconds: float) -> slice:
    """The middle ``seconds`` of a signal of ``frames`` frames (all of it if shorter).

    Analysis that describes a whole song (features, masking, tempo) reads this
    excerpt: representative, and bounded in time and memory whatever the length.
    """
    n = int(seconds * sample_rate)
    start = max(0, (frames - n) // 2)
    return slice(start, min(frames, start + n))


def check_finite(audio: np.ndarray, what: str) -> None:
    """Raise AudioFileError if any sample is NaN or infinite, saying where."""
    bad = ~np.isfinite(audio)
    if bad.any():
        ch, idx = np.argwhere(bad)[0]
        raise AudioFileError(
            f"{what}: {int(bad.sum())} non-finite sample(s), first at channel {ch}, frame {idx}"
        )


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited polyphase resampling (scipy.signal.resample_poly), float32 out."""
    from scipy.signal import resample_poly

    g = gcd(int(sr_in), int(sr_out))
    out = resample_poly(audio, int(sr_out) // g, int(sr_in) // g, axis=-1)
    return np.ascontiguousarray(out, dtype=np.float32)


def remix(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mono to N by copying, N to mono by averaging; other changes are refused."""
    have = audio.shape[0]
    if have == channels:
        return audio
    if have == 1:
        return np.ascontiguousarray(np.repeat(audio, channels, axis=0))
    if channels == 1:
        return audio.mean(axis=0, keepdims=True).astype(np.float32)
    raise AudioFileError(f"cannot remix {have} channels to {channels}")


def write(path: str | Path, audio: np.ndarray, sample_rate: int, bit_depth: str = "24") -> Path:
    """Write (channels, frames) audio as WAV: ``bit_depth`` "24", "16" or "float".

    The file appears whole or not at all (core.files: written beside it, then renamed),
    so a failed write never leaves a truncated file in place of a good one, and a
    target that exists but is not a regular file is refused.
    """
    import soundfile as sf

    if bit_depth not in SUBTYPES:
        raise AudioFileError(f"bit_depth {bit_depth!r}: use one of {sorted(SUBTYPES)}")
    check_finite(audio, str(path))
    p = Path(path)
    a = np.atleast_2d(audio)
    try:
        with files.atomic_path(p) as tmp:
            with sf.SoundFile(str(tmp), "w", int(sample_rate), a.shape[0], SUBTYPES[bit_depth], format="WAV") as f:
                for start in range(0, a.shape[1], 1 << 16):  # interleaved a block at a time, not all at once
                    f.write(np.ascontiguousarray(a[:, start : start + (1 << 16)].T))
    except (OSError, sf.LibsndfileError) as e:
        raise AudioFileError(f"{str(p)[:200]}: cannot write: {e}") from None
    return p
