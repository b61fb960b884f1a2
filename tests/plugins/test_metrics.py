"""PESQ, STOI and DNSMOS on real speech (espeak-ng), clean and with noise."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from core.errors import AudioFileError
from plugins.metrics import (
    PESQ_MAX,
    calculate_all_metrics,
    dnsmos,
    overall_score,
    pesq_score,
    stoi_score,
)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, int]:
    """Real synthetic speech from espeak-ng (22.05 kHz)."""
    import soundfile as sf

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(path), "The quick brown fox jumps over the lazy dog."],
        check=True,
        capture_output=True,
    )
    x, sr = sf.read(path, dtype="float32")
    return x, sr


def noisy(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    n = np.random.default_rng(seed).standard_normal(x.size)
    n *= np.sqrt(np.mean(x**2) / np.mean(n**2) / 10 ** (snr_db / 10))
    return (x + n).astype(np.float32)


def test_pesq_is_maximal_against_itself_and_falls_with_noise(speech):
    x, sr = speech
    assert pesq_score(x, x, sr, "wb") == pytest.approx(PESQ_MAX["wb"], abs=0.01)
    assert pesq_score(x, x, sr, "nb") == pytest.approx(PESQ_MAX["nb"], abs=0.01)
    scores = [pesq_score(x, noisy(x, snr), sr, "nb") for snr in (30, 15, 0)]
    assert PESQ_MAX["nb"] > scores[0] > scores[1] > scores[2]


def test_stoi_is_one_against_itself_and_falls_with_noise(speech):
    x, sr = speech
    assert stoi_score(x, x, sr) == pytest.approx(1.0, abs=1e-6)
    assert stoi_score(x, x, sr, extended=True) == pytest.approx(1.0, abs=1e-6)
    scores = [stoi_score(x, noisy(x, snr), sr) for snr in (10, 0, -10)]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_dnsmos_scores_clean_above_noisy(speech):
    x, sr = speech
    clean, dirty = dnsmos(x, sr), dnsmos(noisy(x, 5.0), sr)
    assert set(clean) == {"sig", "bak", "ovrl", "p808"}
    assert clean["ovrl"] > dirty["ovrl"] + 0.3
    assert clean["bak"] > dirty["bak"] + 0.5
    assert all(1.0 <= v <= 5.0 for v in clean.values())


@pytest.mark.parametrize("seconds", [2.5, 9.3, 14.6])
def test_dnsmos_equals_speechmos_reference_runner(speech, seconds):
    """Our sessions (no memory arena) score exactly as speechmos's own runner: short input doubled, 1 s hops."""
    from speechmos import dnsmos as reference

    from core.audio_io import resample

    x, sr = speech
    x16 = np.resize(resample(x[None], sr, 16000)[0], int(seconds * 16000)).astype(np.float32)
    ours, theirs = dnsmos(x16, 16000), reference.run(x16, 16000)
    for k in ("sig", "bak", "ovrl", "p808"):
        assert ours[k] == pytest.approx(float(theirs[f"{k}_mos"]), abs=1e-5)


def test_calculate_all_metrics(speech):
    x, sr = speech
    without = calculate_all_metrics(x, sr)
    assert set(without) == {"dnsmos", "overall"}
    both = calculate_all_metrics(noisy(x, 10.0), sr, reference=x)
    assert set(both) == {"dnsmos", "pesq_wb", "pesq_nb", "stoi", "estoi", "overall"}
    assert 1.0 <= both["overall"] <= 5.0
    assert overall_score({"stoi": 1.0, "pesq_wb": PESQ_MAX["wb"]}) == pytest.approx(5.0)


def test_silent_and_short_inputs_are_refused_clearly():
    sr = 16000
    tone = np.sin(2 * np.pi * 200 * np.arange(sr) / sr).astype(np.float32)
    with pytest.raises(AudioFileError, match="silent"):
        pesq_score(tone, np.zeros(sr, np.float32), sr)
    with pytest.raises(AudioFileError, match="too short"):
        pesq_score(tone[:1000], tone[:1000], sr)
    with pytest.raises(AudioFileError, match="non-finite"):
        stoi_score(tone, np.full(sr, np.nan, np.float32), sr)


def test_pesq_of_long_audio_is_segmented_not_crashing(speech):
    x, sr = speech
    long = np.tile(x, int(np.ceil(130 * sr / x.size)))[: 130 * sr]  # the pesq C code dies past ~100 s
    assert pesq_score(long, long, sr, "nb") == pytest.approx(PESQ_MAX["nb"], abs=0.01)
    n = noisy(long, 15.0)
    whole = pesq_score(long, n, sr, "nb")
    assert whole == pytest.approx(pesq_score(long[: 30 * sr], n[: 30 * sr], sr, "nb"), abs=0.15)
