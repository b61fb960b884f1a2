from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core import audio_io
from core.errors import AudioFileError


def test_write_read_24bit_and_float(tmp_path: Path, rng: np.random.Generator) -> None:
    x = (rng.uniform(-0.9, 0.9, (2, 4800))).astype(np.float32)
    audio_io.write(tmp_path / "a.wav", x, 48000, "24")
    audio_io.write(tmp_path / "b.wav", x, 48000, "float")
    assert sf.info(str(tmp_path / "a.wav")).subtype == "PCM_24"
    y, sr = audio_io.read(tmp_path / "a.wav")
    assert sr == 48000 and y.shape == (2, 4800)
    assert np.abs(y - x).max() < 2.0 ** -23  # 24-bit quantisation
    z, _ = audio_io.read(tmp_path / "b.wav")
    np.testing.assert_array_equal(z, x)


def test_resample_keeps_a_sine_and_remix(tmp_path: Path) -> None:
    t = np.arange(44100) / 44100
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None]
    sf.write(str(tmp_path / "s.flac"), x.T, 44100)
    y, sr = audio_io.read(tmp_path / "s.flac", sample_rate=48000, channels=2)
    assert sr == 48000 and y.shape == (2, 48000)
    spec = np.abs(np.fft.rfft(y[0, 4800:-4800] * np.hanning(38400)))
    assert np.argmax(spec) * 48000 / 38400 == pytest.approx(1000, abs=1.5)
    assert np.sqrt(np.mean(y[0, 4800:-4800] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: None, "no such audio file"),
        (lambda p: p.write_bytes(b"RIFF\x00\x00garbage not audio"), "cannot read audio"),
        (lambda p: sf.write(str(p), np.zeros((0, 2)), 48000), "holds no audio frames"),
        (lambda p: sf.write(str(p), np.array([[0.1], [np.nan], [0.2]]), 48000, subtype="FLOAT"),
         r"1 non-finite sample\(s\), first at channel 0, frame 1"),
    ],
)
def test_bad_audio_gets_specific_errors(tmp_path: Path, make, match: str) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "bad.wav"
    make(p)
    with pytest.raises(AudioFileError, match=match):
        audio_io.read(p)


def test_write_refuses_nan_and_bad_depth(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="non-finite"):
        audio_io.write(tmp_path / "x.wav", np.array([[np.inf]], np.float32), 48000)
    with pytest.raises(AudioFileError, match="bit_depth '8'"):
        audio_io.write(tmp_path / "x.wav", np.zeros((1, 4), np.float32), 48000, "8")
    assert not (tmp_path / "x.wav").exists()
