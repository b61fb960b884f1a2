"""Compressor: static curve against the Giannoulis/Massberg/Reiss soft knee, timing, sidechain."""

from __future__ import annotations

import numpy as np
import pytest

from plugins.dynamics import Compressor

SR = 48000.0


def knee_formula(x: np.ndarray, t: float, r: float, w: float) -> np.ndarray:
    """Output level in dB, JAES 2012 eq. (4), written out independently of the plugin."""
    y = np.where(2 * (x - t) < -w, x, t + (x - t) / r)
    if w > 0:
        inside = 2 * np.abs(x - t) <= w
        y = np.where(inside, x + (1 / r - 1) * (x - t + w / 2) ** 2 / (2 * w), y)
    return y


def _settled_gain_db(comp: Compressor, level: np.ndarray, frames: int) -> np.ndarray:
    """Output/input in dB at the end of a constant (DC) input at each level."""
    out = []
    for lv in level:
        comp.reset()
        x = np.full((2, frames), 10 ** (lv / 20), dtype=np.float32)
        for i in range(0, frames, 512):
            comp.process(x[:, i : i + 512])
        out.append(20 * np.log10(x[0, -1]) - lv)
    return np.array(out)


@pytest.mark.parametrize(
    ("t", "r", "w", "makeup"),
    [
        (-24.0, 4.0, 12.0, 3.0),
        (-10.0, 2.0, 6.0, 0.0),
        (-30.0, 20.0, 0.0, 6.0),
        (-18.0, 1.5, 24.0, 0.0),
    ],
)
def test_static_curve_matches_soft_knee_formula(t: float, r: float, w: float, makeup: float) -> None:
    levels = np.arange(-60.0, 0.5, 1.5)
    levels = np.sort(np.concatenate([levels, [t - w / 2, t, t + w / 2]]))
    comp = Compressor(threshold_db=t, ratio=r, knee_db=w, makeup_db=makeup, attack_ms=1.0, release_ms=20.0)
    comp.prepare(SR, 512, 2)
    measured = _settled_gain_db(comp, levels, 9600)
    expected = knee_formula(levels, t, r, w) - levels + makeup
    assert np.abs(measured - expected).max() < 0.25
    # and the meter reports the reduction of the last (loudest) level
    assert comp.gain_reduction_db == pytest.approx(-(expected[-1] - makeup), abs=0.25)


def test_rms_detector_reads_sine_rms() -> None:
    comp = Compressor(threshold_db=-30.0, ratio=4.0, knee_db=0.0, detector="rms", attack_ms=5.0, release_ms=50.0)
    comp.prepare(SR, 480, 1)
    amp = 0.5
    n = np.arange(int(SR))
    x = (amp * np.sin(2 * np.pi * 1000 * n / SR)).astype(np.float32)[np.newaxis]
    y = x.copy()
    for i in range(0, y.shape[1], 480):
        comp.process(y[:, i : i + 480])
    tail = slice(int(SR) // 2, None)
    gain_db = 20 * np.log10(np.sqrt(np.mean(y[0, tail] ** 2)) / np.sqrt(np.mean(x[0, tail] ** 2)))
    level = 20 * np.log10(amp / np.sqrt(2))
    assert gain_db == pytest.approx(float(knee_formula(np.array(level), -30.0, 4.0, 0.0)) - level, abs=0.25)


def test_attack_and_release_time_constants() -> None:
    attack, release = 10.0, 100.0
    comp = Compressor(threshold_db=-40.0, ratio=10.0, knee_db=0.0, attack_ms=attack, release_ms=release)
    comp.prepare(SR, 4800, 1)
    loud = int(0.5 * SR)
    x = np.full((1, 2 * loud), 1.0, dtype=np.float32)
    x[0, loud:] = 10 ** (-60 / 20)  # far below threshold: the reduction releases to 0
    y = x.copy()
    for i in range(0, y.shape[1], 4800):
        comp.process(y[:, i : i + 4800])
    gr = 20 * np.log10(x[0] / y[0])
    final = 40.0 * (1 - 1 / 10)  # 36 dB of reduction
    # one time constant after the step the reduction has covered 1 - 1/e of the way
    at = int(attack * 1e-3 * SR)
    assert gr[at] == pytest.approx(final * (1 - np.exp(-1)), rel=0.01)
    rt = loud + int(release * 1e-3 * SR)
    assert gr[rt] == pytest.approx(final * np.exp(-1), rel=0.01)


def test_sidechain_drives_the_gain() -> None:
    comp = Compressor(threshold_db=-20.0, ratio=4.0, knee_db=0.0, attack_ms=1.0)
    comp.prepare(SR, 4800, 2)
    x = np.full((2, 4800), 0.05, dtype=np.float32)  # -26 dB: below threshold alone
    sc = np.full((1, 4800), 1.0, dtype=np.float32)  # 0 dB key: 15 dB of reduction
    y = x.copy()
    comp.process(y, sc)
    assert 20 * np.log10(y[0, -1] / x[0, -1]) == pytest.approx(-15.0, abs=0.01)
    assert comp.gain_reduction_db == pytest.approx(15.0, abs=0.01)
    comp.reset()
    y = x.copy()
    comp.process(y)
    np.testing.assert_allclose(y, x, rtol=1e-6)


def test_makeup_jump_moves_no_faster_than_its_smoothing() -> None:
    comp = Compressor(threshold_db=0.0, ratio=1.0, knee_db=0.0)  # gain = makeup only
    comp.prepare(SR, 64, 1)
    frames, jump = 4800, 640
    y = np.full((1, frames), 0.1, dtype=np.float32)
    for i in range(0, frames, 64):
        if i == jump:
            comp.set("makeup_db", 12.0)
        comp.process(y[:, i : i + 64])
    gain_db = 20 * np.log10(y[0] / 0.1)
    tau = comp.param("makeup_db").smoothing_ms * 1e-3 * SR
    k = np.arange(frames - jump) + 1
    glide = 12.0 * (1 - np.exp(-k / tau))  # the one-pole glide of the declared time
    assert np.all(np.abs(gain_db[:jump]) < 1e-5)
    assert np.all(gain_db[jump:] <= glide + 1e-4)
    np.testing.assert_allclose(gain_db[jump:], glide, atol=1e-3)
