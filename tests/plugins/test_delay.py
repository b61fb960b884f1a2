"""Ping-pong delay: taps on time (one sample), alternating sides, decaying by the feedback."""

import numpy as np

from plugins.delay import Delay

SR = 48000
BLOCK = 512


def run(d: Delay, x: np.ndarray) -> np.ndarray:
    d.prepare(SR, BLOCK, x.shape[0])
    y = x.copy()
    for i in range(0, y.shape[1], BLOCK):
        d.process(y[:, i : i + BLOCK])
    return y


def test_taps_land_on_time_and_alternate_sides() -> None:
    x = np.zeros((2, SR), np.float32)
    x[:, 0] = 1.0
    y = run(Delay(time_ms=100.0, feedback=0.5, wet=1.0, dry=0.0, lowcut_hz=20.0, highcut_hz=20000.0), x)
    T = 4800
    for k in range(1, 5):
        side, other = (0, 1) if k % 2 else (1, 0)
        win = slice(k * T - 200, k * T + 200)
        assert abs(int(np.argmax(np.abs(y[side, win]))) - 200) <= 1
        assert np.max(np.abs(y[other, win])) < 0.05 * np.max(np.abs(y[side, win]))


def test_taps_decay_by_the_feedback() -> None:
    n = 2 * SR
    t = np.arange(int(0.02 * SR)) / SR
    burst = (np.hanning(t.size) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    x = np.zeros((2, n), np.float32)
    x[:, : burst.size] = burst
    fb = 0.6
    y = run(Delay(time_ms=150.0, feedback=fb, wet=1.0, dry=0.0, lowcut_hz=20.0, highcut_hz=20000.0), x)
    T = int(0.15 * SR)
    level = [np.sqrt(np.sum(y[(k + 1) % 2, k * T : k * T + burst.size].astype(np.float64) ** 2))
             for k in range(1, 6)]
    ratios_db = 20 * np.log10(np.array(level[1:]) / np.array(level[:-1]))
    np.testing.assert_allclose(ratios_db, 20 * np.log10(fb), atol=0.05)
    # the loop filters darken each repeat: a 300 Hz-8 kHz loop costs more at 1 kHz ... and at 10 kHz
    y2 = run(Delay(time_ms=150.0, feedback=fb, wet=1.0, dry=0.0, lowcut_hz=2000.0), x)
    level2 = np.sqrt(np.sum(y2[1, 2 * T : 2 * T + burst.size].astype(np.float64) ** 2))
    assert level2 < 0.5 * level[1]


def test_sync_to_bpm_and_mono_echo() -> None:
    d = Delay(sync="1/4", bpm=120.0, feedback=0.5, wet=1.0, dry=0.0, lowcut_hz=20.0, highcut_hz=20000.0)
    x = np.zeros((1, 2 * SR), np.float32)
    x[0, 0] = 1.0
    y = run(d, x)
    assert d.delay_samples() == 24000
    for k in (1, 2, 3):
        win = slice(k * 24000 - 100, k * 24000 + 100)
        assert abs(int(np.argmax(np.abs(y[0, win]))) - 100) <= 1
