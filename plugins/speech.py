"""Spoken vocals from lyrics with espeak-ng (Debian's espeak-ng), one lyric line per bar pair.

Answers the vocal hook only for ``style="spoken"`` and only when espeak-ng is
installed, so the synthetic singer answers otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from core.hookspecs import hookimpl

BARS_PER_LINE = 2


def speak(text: str, sample_rate: int, voice: str = "en-us", words_per_minute: int = 150) -> np.ndarray:
    """One line of speech as float32 (frames,) at ``sample_rate`` (espeak-ng, then resampled).

    Examples
    --------
    >>> speak("hello world", 48000).shape[0] > 0   # doctest: +SKIP
    True
    """
    from core import audio_io

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "line.wav"
        subprocess.run([exe, "-v", voice, "-s", str(words_per_minute), "-w", str(wav), text],
                       check=True, capture_output=True, timeout=60)
        audio, _ = audio_io.read(wav, sample_rate=sample_rate, channels=1)
    return audio[0]


@hookimpl(tryfirst=True)  # ahead of the synthetic singer, which answers every style
def mixbridge_generate_vocals(
    lyrics: str, bpm: float, duration: float, sample_rate: int, style: str
) -> np.ndarray | None:
    """Each lyric line spoken at the start of every other bar, peak-normalised to -3 dBFS."""
    if style != "spoken" or shutil.which("espeak-ng") is None:
        return None
    lines = [ln.strip() for ln in lyrics.splitlines() if ln.strip()]
    n = int(round(duration * sample_rate))
    out = np.zeros(n, dtype=np.float32)
    step = int(round(BARS_PER_LINE * 4 * 60.0 / bpm * sample_rate))
    for i, start in enumerate(range(0, n, step)):
        if not lines:
            break
        line = speak(lines[i % len(lines)], sample_rate)[:step]
        end = min(n, start + line.shape[0])
        out[start:end] = line[: end - start]
    peak = float(np.max(np.abs(out)))
    if peak > 0:
        out *= 10 ** (-3 / 20) / peak
    return out[None, :]
