"""Stereo width: mono at 0, transparent at 1, bass stays mono (correlation >= 0) when widened."""

import numpy as np
from scipy.signal import butter, sosfilt

from plugins.analysis import stereo_measures
from plugins.stereo import StereoWidth

SR = 48000
BLOCK = 512


def run(proc: StereoWidth, x: np.ndarray) -> np.ndarray:
    proc.prepare(SR, BLOCK, x.shape[0])
    y = x.copy()
    for i in range(0, y.shape[1], BLOCK):
        proc.process(y[:, i : i + BLOCK])
    return y


def test_width_zero_is_mono(rng: np.random.Generator) -> None:
    x = (0.5 * rng.standard_normal((2, SR // 2))).astype(np.float32)
    for mono in ("off", "on"):
        y = run(StereoWidth(width=0.0, bass_mono=mono), x)
        side = 0.5 * (y[0].astype(np.float64) - y[1])
        assert 10 * np.log10(np.mean(side**2) + 1e-30) < -80.0


def test_width_one_without_bass_mono_is_transparent(rng: np.random.Generator) -> None:
    x = (0.5 * rng.standard_normal((2, SR // 4))).astype(np.float32)
    y = run(StereoWidth(width=1.0, bass_mono="off"), x)
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-7)


def test_bass_mono_keeps_the_mid_flat_and_removes_low_side() -> None:
    # mono impulse: the mid goes through LP4 + HP4 of a Linkwitz-Riley pair, an all-pass
    x = np.zeros((2, 1 << 15), np.float32)
    x[:, 0] = 1.0
    y = run(StereoWidth(width=1.5, crossover_hz=120.0), x)
    mag = 20 * np.log10(np.abs(np.fft.rfft(y[0].astype(np.float64))))
    assert np.max(np.abs(mag)) < 0.01
    assert np.allclose(y[0], y[1])
    # side impulse: 24 dB/oct high-pass at the crossover, width times above
    x[1, 0] = -1.0
    y = run(StereoWidth(width=1.5, crossover_hz=120.0), x)
    side = np.abs(np.fft.rfft(0.5 * (y[0].astype(np.float64) - y[1])))
    f = np.fft.rfftfreq(x.shape[1], 1 / SR)
    at = lambda hz: 20 * np.log10(side[np.argmin(np.abs(f - hz))])  # noqa: E731
    assert abs(at(120.0) - (20 * np.log10(1.5) - 6.02)) < 0.1  # LR4: -6 dB at the crossover
    assert abs(at(5000.0) - 20 * np.log10(1.5)) < 0.01
    assert at(30.0) < 20 * np.log10(1.5) - 45.0  # two octaves down: ~ -48 dB


def test_widening_keeps_low_band_correlation_non_negative(rng: np.random.Generator) -> None:
    n = 2 * SR
    lows = sosfilt(butter(4, 100, fs=SR, output="sos"), rng.standard_normal((2, n)))
    highs = sosfilt(butter(4, 1000, "highpass", fs=SR, output="sos"), rng.standard_normal((2, n)))
    a, b = lows
    left = 0.3 * a + b + highs[0]  # low band anti-correlated: mostly side
    right = 0.3 * a - b + highs[1]
    x = np.vstack([left, right]).astype(np.float32)
    before = stereo_measures(x, SR, ((20.0, 60.0), (2000.0, 20000.0)))
    assert before["bands"]["20-60"]["correlation"] < -0.5
    y = run(StereoWidth(width=1.5, crossover_hz=150.0), x)
    after = stereo_measures(y[:, SR // 2 :], SR, ((20.0, 60.0), (2000.0, 20000.0)))
    assert after["bands"]["20-60"]["correlation"] >= 0.0
    assert after["bands"]["20-60"]["correlation"] > 0.95
    # above the crossover the side/mid energy ratio grows by width^2
    ratio = after["bands"]["2000-20000"]["width"] / before["bands"]["2000-20000"]["width"]
    assert abs(ratio - 1.5**2) < 0.1


def test_mono_input_passes_unchanged(rng: np.random.Generator) -> None:
    x = rng.standard_normal((1, 4096)).astype(np.float32)
    assert np.array_equal(run(StereoWidth(width=2.0), x), x)
