"""Mixing on real material: held-out real songs x real recorded voices from the corpus.

The intelligent mix must keep the voice more intelligible than the plain level-matched
sum (ESTOI of the mix against the dry voice, measured here with pystoi directly), land on
its preset's loudness target (pyloudnorm) within 0.5 LU under a -1 dBTP true peak, and
mix a very quiet or a very loud bed without failing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from pystoi import stoi
from scipy.signal import resample_poly

from app.planner import genre_presets, plan_mix, run_mix
from core import audio_io, corpus

pytestmark = [pytest.mark.skipif(not corpus.available(), reason=corpus.MISSING), pytest.mark.slow]

SECONDS = 8.0


def _entry(name: str) -> dict:
    return next(e for e in corpus.entries() if e["path"].name == name)


def _stems(tmp: Path, music: str, voice: str, peak_dbfs: float | None = None) -> tuple[Path, Path, np.ndarray, int]:
    """An excerpt of each at the music's rate, written for the planner; the dry voice and the rate."""
    sr = int(_entry(music)["sample_rate"])
    voc, _ = audio_io.read(_entry(voice)["path"], sample_rate=sr)
    mus, _ = audio_io.read(_entry(music)["path"], sample_rate=sr)
    n = int(SECONDS * sr)
    voc, mus = voc[:, :n], mus[:, :n]
    if peak_dbfs is not None:
        mus = mus * np.float32(10 ** (peak_dbfs / 20) / np.max(np.abs(mus)))
    audio_io.write(tmp / "voice.wav", voc, sr, "float")
    audio_io.write(tmp / "music.wav", mus, sr, "float")
    return tmp / "voice.wav", tmp / "music.wav", voc, sr


def _estoi(voice: np.ndarray, mix: np.ndarray, sr: int) -> float:
    """ESTOI of the (mono) mix against the dry voice at pystoi's 10 kHz, same start, same length."""
    ref, deg = (resample_poly(x.mean(axis=0), 10000, sr) for x in (voice, mix[:, : voice.shape[1]]))
    return float(stoi(ref, deg, 10000, extended=True))


def _true_peak_dbtp(mix: np.ndarray, sr: int) -> float:
    return float(20 * np.log10(np.max(np.abs(resample_poly(mix, 4, 1, axis=1)))))


def _mix(voice: Path, music: Path, host, sr: int, genre: str | None, intelligent: bool):  # type: ignore[no-untyped-def]
    plan = plan_mix(voice, music, host, genre=genre, intelligent=intelligent, sample_rate=sr, output="mix.wav")
    return plan, run_mix(plan, host).audio


def _assert_mix_beats_plain(host, voice: Path, music: Path, dry: np.ndarray, sr: int,  # type: ignore[no-untyped-def]
                            genre: str | None) -> list[str]:
    _, plain = _mix(voice, music, host, sr, None, intelligent=False)
    plan, mix = _mix(voice, music, host, sr, genre, intelligent=True)
    assert mix.shape[1] == dry.shape[1]
    assert _estoi(dry, mix, sr) > _estoi(dry, plain, sr)
    target = genre_presets(host)[plan.genre]["mix"]["target_lufs"]
    assert plan.session.master.loudness.target_lufs == target
    assert abs(pyloudnorm.Meter(sr).integrated_loudness(mix.T.astype(np.float64)) - target) <= 0.5
    assert _true_peak_dbtp(mix, sr) <= -1.0 + 0.05  # -1 dBTP ceiling; 0.05 dB for a different interpolator
    return plan.warnings


@pytest.mark.parametrize(("music", "voice", "genre"), [
    ("nexuiz_stairs_44.1k_stereo.flac", "alsa_48k_mono.wav", "rock"),               # metal, recorded voice
    ("wesnoth_elvish-theme_48k_mono.flac", "kal_44.1k_stereo.wav", "classical"),   # orchestra, diphone voice
    ("nexuiz_infight_44.1k_stereo.flac", "ked_48k_mono.wav", "electronic"),        # the preset is too wet here
    ("jazz_5_48k_stereo.flac", "alsa_44.1k_stereo.wav", "jazz"),                    # FluidR3 render
    ("nexuiz_desert3_48k_stereo.flac", "ked_44.1k_mono.wav", None),                 # whatever the classifier says
])
def test_intelligent_mix_keeps_a_real_voice_more_intelligible_than_the_plain_sum(
        host, tmp_path, music: str, voice: str, genre: str | None) -> None:  # type: ignore[no-untyped-def]
    v, m, dry, sr = _stems(tmp_path, music, voice)
    _assert_mix_beats_plain(host, v, m, dry, sr, genre)


@pytest.mark.parametrize(("peak_dbfs", "clamped"), [(-40.0, True), (-0.1, False)])
def test_quiet_and_loud_beds_mix_without_failing(host, tmp_path, peak_dbfs: float,  # type: ignore[no-untyped-def]
                                                  clamped: bool) -> None:
    v, m, dry, sr = _stems(tmp_path, "nexuiz_stairs_44.1k_stereo.flac", "kal_44.1k_mono.wav", peak_dbfs)
    warnings = _assert_mix_beats_plain(host, v, m, dry, sr, "rock")
    assert any("music: level matching wanted" in w and "clamped" in w for w in warnings) == clamped
