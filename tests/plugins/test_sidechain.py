"""Ducker: depth while the key plays, unity within the release time after, band-limited dips."""

import numpy as np

from plugins.sidechain import Ducker

SR = 48000
BLOCK = 480


def run(duck: Ducker, music: np.ndarray, key: np.ndarray) -> np.ndarray:
    duck.prepare(SR, BLOCK, music.shape[0])
    out = music.copy()
    for i in range(0, out.shape[1], BLOCK):
        duck.process(out[:, i : i + BLOCK], key[:, i : i + BLOCK])
    return out


def test_depth_while_vocal_plays_and_unity_within_release() -> None:
    n = 2 * SR
    music = np.full((2, n), 0.5, np.float32)  # DC: the output/input ratio is the gain itself
    t = np.arange(n) / SR
    key = np.where((t >= 0.5) & (t < 1.2), 0.25 * np.sin(2 * np.pi * 110 * t), 0.0)[None].astype(np.float32)
    out = run(Ducker(depth_db=6.0, attack_ms=10.0, release_ms=200.0, threshold_db=-40.0), music, key)
    gain_db = 20 * np.log10(out[0] / music[0])
    assert np.all(gain_db[: int(0.5 * SR)] == 0.0)  # untouched before the vocal
    playing = slice(int(0.51 * SR), int(1.2 * SR))  # from the end of the 10 ms attack to the vocal's end
    assert np.max(np.abs(gain_db[playing] + 6.0)) <= 0.5
    assert np.all(np.abs(out[0] - out[1]) == 0)  # both channels alike
    released = slice(int((1.2 + 0.2) * SR), n)  # the release time after the vocal stops
    assert np.all(gain_db[released] == 0.0)
    assert gain_db[int(1.3 * SR)] < -0.5  # ... and not earlier: it really releases over that time


def test_band_limited_ducking_dips_only_the_vocal_range() -> None:
    n = SR
    t = np.arange(n) / SR
    low = 0.3 * np.sin(2 * np.pi * 60 * t)
    mid = 0.3 * np.sin(2 * np.pi * 1500 * t)
    music = np.vstack([low + mid, low + mid]).astype(np.float32)
    key = np.full((1, n), 0.5, np.float32)
    out = run(Ducker(depth_db=8.0, attack_ms=5.0, band="on", low_hz=300.0, high_hz=5000.0), music, key)
    seg = slice(SR // 2, SR)  # steady state, an integer number of periods of both tones
    spec_in = np.abs(np.fft.rfft(music[0, seg]))
    spec_out = np.abs(np.fft.rfft(out[0, seg]))
    f = np.fft.rfftfreq(SR // 2, 1 / SR)
    d = 20 * np.log10((spec_out + 1e-9) / (spec_in + 1e-9))
    assert abs(d[np.argmin(np.abs(f - 60))]) < 0.5  # the bass does not dip
    assert d[np.argmin(np.abs(f - 1500))] < -5.0  # the vocal range does


def test_silent_key_is_bit_transparent_in_both_modes(rng: np.random.Generator) -> None:
    music = (0.1 * rng.standard_normal((2, SR // 4))).astype(np.float32)
    key = np.zeros((1, SR // 4), np.float32)
    for band in ("off", "on"):
        assert np.array_equal(run(Ducker(band=band), music, key), music)


def test_without_sidechain_the_input_keys_itself() -> None:
    music = np.full((1, SR // 2), 0.5, np.float32)
    d = Ducker(depth_db=3.0, attack_ms=1.0)
    d.prepare(SR, BLOCK, 1)
    for i in range(0, music.shape[1], BLOCK):
        d.process(music[:, i : i + BLOCK])
    assert abs(20 * np.log10(music[0, -1] / 0.5) + 3.0) < 0.01
    assert abs(d.gain_reduction_db - 3.0) < 1e-9
