"""Loudness, loudness range and true peak against EBU Tech 3341/3342, and the mastering stage.

The EBU test signals are synthesised here from their descriptions (stereo, 48 kHz,
1 kHz sines at the stated dBFS on both channels). The true-peak signals (3341
cases 15-19) get a 10 ms fade in and out: an abrupt full-scale start really does
overshoot between samples, and that onset is not what those cases test.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import AudioFileError
from core.host import PluginHost
from core.loudness import integrated_lufs, loudness_range, master, true_peak_dbtp

SR = 48000


def tone(segments: list[tuple[float, float]], freq: float = 1000.0) -> np.ndarray:
    """Stereo sine made of (seconds, dBFS) segments, phase continuous."""
    levels = np.concatenate([np.full(int(round(s * SR)), 10 ** (db / 20)) for s, db in segments])
    t = np.arange(len(levels)) / SR
    return np.tile(levels * np.sin(2 * np.pi * freq * t), (2, 1)).astype(np.float32)


@pytest.mark.parametrize(("case", "segments", "expected"), [
    (1, [(20, -23.0)], -23.0),
    (2, [(20, -33.0)], -33.0),
    (3, [(10, -36.0), (60, -23.0), (10, -36.0)], -23.0),
    (4, [(10, -72.0), (10, -36.0), (60, -23.0), (10, -36.0), (10, -72.0)], -23.0),
    (5, [(20, -26.0), (20.1, -20.0), (20, -26.0)], -23.0),
])
def test_ebu_3341_integrated_loudness(case: int, segments: list, expected: float) -> None:
    assert integrated_lufs(tone(segments), SR) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize(("case", "segments", "expected"), [
    (1, [(20, -20.0), (20, -30.0)], 10.0),
    (2, [(20, -20.0), (20, -15.0)], 5.0),
    (3, [(20, -40.0), (20, -20.0)], 20.0),
    (4, [(20, -50.0), (20, -35.0), (20, -20.0), (20, -35.0), (20, -50.0)], 15.0),
])
def test_ebu_3342_loudness_range(case: int, segments: list, expected: float) -> None:
    assert loudness_range(tone(segments), SR) == pytest.approx(expected, abs=1.0)


@pytest.mark.parametrize(("case", "freq_div", "amp", "phase_deg", "expected"), [
    (15, 4, 0.50, 0.0, -6.0),
    (16, 4, 0.50, 45.0, -6.0),
    (17, 6, 0.50, 60.0, -6.0),
    (18, 8, 0.50, 67.5, -6.0),
    (19, 4, 1.41, 45.0, 3.0),
])
def test_ebu_3341_true_peak(case: int, freq_div: int, amp: float, phase_deg: float,
                            expected: float) -> None:
    n = np.arange(SR)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / (0.01 * SR))
    x = amp * np.sin(2 * np.pi * n / freq_div + np.deg2rad(phase_deg)) * fade
    tp = true_peak_dbtp(np.tile(x, (2, 1)), SR)
    assert expected - 0.4 <= tp <= expected + 0.2  # Tech 3341's tolerance
    assert tp == pytest.approx(expected, abs=0.05)  # and in fact much closer


def programme(seconds: float = 20.0, seed: int = 5) -> np.ndarray:
    """Synthetic mix: kick-like thumps, a bass line, a noise pad and a lead with dynamics."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    beat = (t * 2.0) % 1.0  # 120 bpm
    kick = np.exp(-beat * 30) * np.sin(2 * np.pi * 55 * beat * (1 + 2 * np.exp(-beat * 40)))
    bass = 0.3 * np.sin(2 * np.pi * 82.4 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t))
    pad = 0.05 * rng.standard_normal(n)
    lead = 0.25 * np.sin(2 * np.pi * 440 * t + 3 * np.sin(2 * np.pi * 5 * t)) * (t % 4 < 3)
    left = 0.5 * kick + bass + pad + lead
    right = 0.5 * kick + bass + 0.05 * rng.standard_normal(n) + 0.8 * lead
    return (0.5 * np.stack([left, right])).astype(np.float32)


@pytest.mark.parametrize("target", [-14.0, -16.0, -23.0])
def test_master_lands_on_target_under_the_ceiling(host: PluginHost, target: float) -> None:
    x = programme()
    out, report = master(x, SR, host, target_lufs=target, ceiling_dbtp=-1.0)
    assert out.shape == x.shape and out.dtype == np.float32
    assert integrated_lufs(out, SR) == pytest.approx(target, abs=0.1)
    assert report["lufs_after"] == pytest.approx(target, abs=0.1)
    assert true_peak_dbtp(out, SR) <= -1.0
    assert report["true_peak_after"] <= -1.0
    assert report["lufs_before"] == pytest.approx(integrated_lufs(x, SR))
    assert report["lra_after"] == pytest.approx(loudness_range(out, SR))
    assert report["warnings"] == []


def test_master_output_is_aligned_with_its_input(host: PluginHost) -> None:
    """Where the limiter has nothing to do the output is exactly the input times the gain."""
    x = programme(10.0)
    out, report = master(x, SR, host, target_lufs=-30.0, ceiling_dbtp=-1.0)
    gain = np.float32(10 ** (report["gain_db"] / 20))
    np.testing.assert_array_equal(out, x * gain)


def test_master_of_silence_warns_and_returns_silence(host: PluginHost) -> None:
    out, report = master(np.zeros((2, SR), np.float32), SR, host)
    assert not out.any()
    assert report["warnings"] and "silent" in report["warnings"][0]


@pytest.mark.parametrize("bad", [np.zeros((2, 0), np.float32),
                                 np.full((2, SR), np.nan, np.float32)])
def test_bad_audio_gets_a_specific_error(bad: np.ndarray, host: PluginHost) -> None:
    with pytest.raises(AudioFileError):
        master(bad, SR, host)
    with pytest.raises(AudioFileError):
        true_peak_dbtp(bad, SR)


@pytest.mark.parametrize(("sr", "channels"), [(48000, 2), (44100, 1), (22050, 5), (11025, 2)])
def test_integrated_loudness_matches_pyloudnorm(sr: int, channels: int) -> None:
    """The one-pass gating agrees with pyloudnorm's reference loop on programme material."""
    import pyloudnorm
    from scipy.signal import resample_poly

    x = programme(12.0, seed=sr)
    x = resample_poly(x, sr, SR, axis=1) if sr != SR else x
    x = np.concatenate([x, 0.7 * x, 0.5 * x[:1]])[:channels]  # up to L R C Ls Rs
    x[:, : sr * 3] *= 0.05  # a quiet intro exercises the relative gate
    assert x.shape[0] == channels
    ours = integrated_lufs(x, sr)
    ref = pyloudnorm.Meter(sr).integrated_loudness(np.ascontiguousarray(x.T, dtype=np.float64))
    assert ours == pytest.approx(ref, abs=0.01)


def test_loudness_and_range_is_the_two_measurements_in_one_pass() -> None:
    from core.loudness import loudness_and_range

    x = programme(20.0)
    assert loudness_and_range(x, SR) == (integrated_lufs(x, SR), loudness_range(x, SR))
