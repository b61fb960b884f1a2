"""EQ: measured magnitude response against scipy.signal.freqz of the same RBJ design."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import freqz, lfilter

from plugins.biquad import coefficients
from plugins.eq import EQ, REDESIGN_EVERY

SR = 48000.0
N = 1 << 15
FREQS = np.geomspace(25.0, 20000.0, 32)


def _impulse_response(eq: EQ, block: int = 100) -> np.ndarray:
    eq.prepare(SR, block, 2)
    x = np.zeros((2, N), dtype=np.float32)
    x[:, 0] = 1.0
    for i in range(0, N, block):
        eq.process(x[:, i : i + block])
    np.testing.assert_array_equal(x[0], x[1])
    return x[0].astype(np.float64)


def _db(h: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(np.abs(h))


CASES = [
    ("peak", 1000.0, 9.0, 2.0),
    ("peak", 150.0, -12.0, 0.7),
    ("low_shelf", 200.0, 6.0, 0.7071),
    ("low_shelf", 500.0, -9.0, 1.2),
    ("high_shelf", 4000.0, 6.0, 0.7071),
    ("high_shelf", 8000.0, -12.0, 0.5),
    ("low_pass", 2000.0, 0.0, 0.7071),
    ("low_pass", 12000.0, 0.0, 4.0),
    ("high_pass", 100.0, 0.0, 0.7071),
    ("high_pass", 800.0, 0.0, 2.5),
]


@pytest.mark.parametrize(("kind", "freq", "gain", "q"), CASES)
def test_band_magnitude_matches_freqz(kind: str, freq: float, gain: float, q: float) -> None:
    eq = EQ(b1_type="off", b2_type=kind, b2_freq_hz=freq, b2_gain_db=gain, b2_q=q, b3_type="off", b4_type="off")
    h = _impulse_response(eq)
    _, measured = freqz(h, worN=FREQS, fs=SR)
    b, a = coefficients(kind, freq, gain, q, SR)
    _, expected = freqz(b, a, worN=FREQS, fs=SR)
    # low-pass stopbands fall below -100 dB, where float32 output noise dominates
    keep = _db(expected) > -80.0
    assert keep.sum() >= 20
    err = np.abs(_db(measured) - _db(expected))[keep]
    assert err.max() < 0.1, f"{kind}: worst error {err.max():.4f} dB"


def test_four_bands_cascade_to_the_product_of_their_responses() -> None:
    bands = [
        ("high_pass", 60.0, 0.0, 0.7071),
        ("peak", 300.0, -4.0, 1.5),
        ("peak", 3000.0, 5.0, 1.0),
        ("high_shelf", 9000.0, 3.0, 0.7071),
    ]
    values = {}
    for n, (kind, f, g, q) in enumerate(bands, 1):
        values.update({f"b{n}_type": kind, f"b{n}_freq_hz": f, f"b{n}_gain_db": g, f"b{n}_q": q})
    h = _impulse_response(EQ(**values), block=64)
    _, measured = freqz(h, worN=FREQS, fs=SR)
    expected = np.ones(len(FREQS), dtype=complex)
    for kind, f, g, q in bands:
        expected *= freqz(*coefficients(kind, f, g, q, SR), worN=FREQS, fs=SR)[1]
    assert np.abs(_db(measured) - _db(expected)).max() < 0.1


def test_defaults_are_flat() -> None:
    h = _impulse_response(EQ())
    _, measured = freqz(h, worN=FREQS, fs=SR)
    assert np.abs(_db(measured)).max() < 0.001


def test_gain_jump_follows_smoothing_and_16_sample_redesign() -> None:
    """A mid-stream jump glides per sample and re-designs every 16 samples, as specified."""
    frames, jump_at = 9600, 1000
    x = (0.1 * np.random.default_rng(3).standard_normal((1, frames))).astype(np.float32)
    eq = EQ(b1_type="off", b3_type="off", b4_type="off", b2_freq_hz=1000.0, b2_q=1.0)
    eq.prepare(SR, 200, 1)
    y = x.copy()
    for i in range(0, frames, 200):
        if i == jump_at:
            eq.set("b2_gain_db", 12.0)
            eq.set("b2_freq_hz", 2000.0)
        eq.process(y[:, i : i + 200])

    # Reference: the same one-pole glides, coefficients re-designed every 16 samples
    # (counted from reset), filtered with scipy.
    def coef(name: str) -> float:  # one-pole coefficient from the declared smoothing time
        return 1.0 - np.exp(-1.0 / (eq.param(name).smoothing_ms * 1e-3 * SR))

    cg, cf = coef("b2_gain_db"), coef("b2_freq_hz")
    gain, freq = 0.0, 1000.0
    ref = np.empty(frames)
    zi = np.zeros(2)
    b, a = coefficients("peak", freq, gain, 1.0, SR)
    pending = False
    for i in range(frames):
        if i >= jump_at:
            moved = False
            for tgt, kind in ((12.0, "g"), (2000.0, "f")):
                cur = gain if kind == "g" else freq
                d = tgt - cur
                if d != 0.0:
                    step = d * (cg if kind == "g" else cf)
                    cur = tgt if abs(d) < 1e-9 * (1.0 + abs(tgt)) else cur + step
                    moved = moved or cur != tgt
                if kind == "g":
                    gain = cur
                else:
                    freq = cur
            pending = pending or moved
        if pending and i % REDESIGN_EVERY == 0:
            b, a = coefficients("peak", freq, gain, 1.0, SR)
            pending = False
        out, zi = lfilter(b, a, x[0, i : i + 1].astype(np.float64), zi=zi)
        ref[i] = out[0]
    np.testing.assert_allclose(y[0], ref, rtol=0, atol=2e-6)
