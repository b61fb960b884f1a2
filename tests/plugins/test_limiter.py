"""True-peak limiter: nothing above the ceiling (samples, 4x points), latency, smooth gain."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, resample_poly, sosfilt

from core.loudness import true_peak_dbtp
from plugins.limiter import GUARD, Limiter

SR = 48000
TAIL = 4000  # trailing silence, so the limiter is flushed and the signal ends cleanly


def _limit(x: np.ndarray, block: int = 333, **values: float) -> tuple[np.ndarray, Limiter]:
    lim = Limiter(**values)
    lim.prepare(SR, block, x.shape[0])
    y = np.concatenate([x, np.zeros((x.shape[0], TAIL), np.float32)], axis=1)
    for i in range(0, y.shape[1], block):
        lim.process(y[:, i : i + block])
    return y, lim


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    n = np.arange(SR)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / 480.0)  # 10 ms in and out
    sig = {}
    bursts = np.zeros((2, 2 * SR))
    for s in range(2000, 2 * SR - 600, 9001):
        bursts[:, s : s + 400] = 3.0 * rng.standard_normal((2, 400))
    sig["noise bursts +10 dB"] = bursts
    sig["clipped noise"] = 1.6 * np.clip(1.5 * rng.standard_normal((2, SR)), -1.0, 1.0)
    for f in (12000.0, 20000.0, 22000.0, 23900.0):
        sig[f"sine {f:g} Hz +6 dB"] = np.tile(2.0 * np.sin(2 * np.pi * f / SR * n + 0.7) * fade, (2, 1))
    sig["fs/4 at 45 deg, samples at 0 dBFS"] = np.tile(1.41 * np.sin(np.pi / 2 * n + np.pi / 4) * fade, (2, 1))
    sos = butter(8, 20000, fs=SR, output="sos")
    sig["band-limited noise"] = 1.5 * sosfilt(sos, rng.standard_normal((2, SR)))
    return {k: v.astype(np.float32) for k, v in sig.items()}


SIGNALS = _signals()


@pytest.mark.parametrize("name", list(SIGNALS))
@pytest.mark.parametrize("ceiling", [-1.0, -0.1])
def test_no_sample_and_no_true_peak_above_ceiling(name: str, ceiling: float) -> None:
    x = SIGNALS[name]
    y, _ = _limit(x, ceiling_dbtp=ceiling)
    assert 20 * np.log10(np.abs(y).max()) <= ceiling
    # the BS.1770-4 4x measure the limiter implements ...
    assert true_peak_dbtp(y, SR) <= ceiling
    # ... and an independent 4x interpolator (scipy's polyphase resampler)
    up = resample_poly(y.astype(np.float64), 4, 1, axis=1)
    assert 20 * np.log10(np.abs(up).max()) <= ceiling + 0.05
    # not over-limiting: the loudest point sits just under the ceiling
    assert true_peak_dbtp(y, SR) >= ceiling - 0.05


def test_latency_is_the_lookahead_and_quiet_audio_passes_untouched() -> None:
    rng = np.random.default_rng(2)
    x = (0.08 * rng.standard_normal((2, 10000))).astype(np.float32)  # true peak below -6 dBTP
    assert true_peak_dbtp(x, SR) < -3.0
    y, lim = _limit(x, lookahead_ms=3.0, ceiling_dbtp=-1.0)
    assert lim.latency == round(3.0e-3 * SR)
    np.testing.assert_array_equal(y[:, lim.latency : lim.latency + x.shape[1]], x)
    assert np.all(y[:, : lim.latency] == 0.0)
    assert lim.gain_reduction_db == 0.0


def test_peak_arrives_when_gain_already_reduced_and_gain_never_steps() -> None:
    """A DC step from 0.5 to 4.0: the gain ramps down before it and back up after, no jumps."""
    x = np.full((1, 24000), 0.5, np.float32)
    x[0, 10000:12000] = 4.0
    lim = Limiter(ceiling_dbtp=0.0, release_ms=50.0)
    lim.prepare(SR, 64, 1)
    y = x.copy()
    for i in range(0, y.shape[1], 64):
        lim.process(y[:, i : i + 64])
    d = lim.latency
    gain = y[0, d:] / x[0, : x.shape[1] - d]
    assert gain[10000:12000].max() <= 0.25 * (1 + 1e-6)
    assert lim.gain_reduction_db == pytest.approx(0.0, abs=0.1)  # released after 5 time constants
    # the ramp is a moving average over the lookahead: each step at most 1/B of the drop
    # (the drop exceeds 0.75: the step's interpolated overshoot needs a little more)
    steps = np.abs(np.diff(gain))
    box = lim.state[6].shape[0]
    assert box == d + 1 - GUARD
    assert steps.max() <= (1.0 - gain.min()) / box * 1.01
    assert gain[:9000].min() == pytest.approx(1.0, abs=1e-6)


def test_ceiling_change_glides() -> None:
    x = np.full((1, 19200), 0.9, np.float32)
    lim = Limiter(ceiling_dbtp=0.0)
    lim.prepare(SR, 128, 1)
    y = x.copy()
    for i in range(0, y.shape[1], 128):
        if i == 9600:
            lim.set("ceiling_dbtp", -12.0)
        lim.process(y[:, i : i + 128])
    level = 20 * np.log10(y[0, 9600 + lim.latency :] / 0.9)
    assert np.abs(np.diff(level)).max() < 0.1  # no step: at most 0.1 dB per sample
    assert level[-1] == pytest.approx(-12.0 + 20 * np.log10(1 / 0.9), abs=0.01)


@pytest.mark.parametrize("seed", range(6))
def test_random_programme_random_blocks_never_cross_the_ceiling(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    ceiling = float(rng.uniform(-12.0, 0.0))
    frames = SR
    env = np.repeat(10 ** (rng.uniform(-30, 12, frames // 480) / 20), 480)  # 10 ms steps
    x = (env * rng.standard_normal((2, frames))).astype(np.float32)
    y, lim = _limit(
        x,
        block=int(rng.integers(1, 700)),
        ceiling_dbtp=ceiling,
        release_ms=float(rng.uniform(1.0, 500.0)),
        lookahead_ms=float(rng.uniform(1.0, 20.0)),
    )
    assert true_peak_dbtp(y, SR) <= ceiling
    assert 20 * np.log10(np.abs(y).max()) <= ceiling
