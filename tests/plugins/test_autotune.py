"""Auto-tune offline and real time, checked with an estimator independent of the trackers."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ParameterError
from plugins.autotune import AutoTune, autotune, correction_contour, parse_scale
from plugins.pitch import track_pitch
from plugins.psola import psola_shift

SR = 16000


def harmonic(f0: np.ndarray | float, sr: int = SR, seconds: float = 1.0) -> np.ndarray:
    """A voiced-like tone: ten harmonics with a falling spectrum, any f0 contour."""
    n = int(sr * seconds)
    f = np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f) / sr
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 11))).astype(np.float32)


def fft_f0(x: np.ndarray, sr: int = SR, lo: float = 300.0, hi: float = 700.0) -> float:
    """Fundamental by a zero-padded Hann FFT peak with log-parabolic interpolation."""
    w = np.hanning(x.size)
    nfft = 16 * x.size
    mag = np.abs(np.fft.rfft(x * w, nfft))
    f = np.fft.rfftfreq(nfft, 1 / sr)
    k = int(np.argmax(np.where((f > lo) & (f < hi), mag, 0)))
    a, b, c = np.log(mag[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / nfft


def cents(f: float, ref: float) -> float:
    return 1200 * np.log2(f / ref)


def pyin_pitch(x: np.ndarray):
    return track_pitch(x, SR, method="pyin", fmin_hz=100.0, fmax_hz=900.0)


def test_parse_scale():
    assert np.flatnonzero(parse_scale("C major")).tolist() == [0, 2, 4, 5, 7, 9, 11]
    assert np.flatnonzero(parse_scale("A major")).tolist() == [1, 2, 4, 6, 8, 9, 11]
    assert np.flatnonzero(parse_scale("Bb minor")).tolist() == [0, 1, 3, 5, 6, 8, 10]
    assert parse_scale("chromatic").all()
    assert np.flatnonzero(parse_scale(["C", "E", "G"])).tolist() == [0, 4, 7]
    with pytest.raises(ParameterError, match="unknown scale"):
        parse_scale("C lydian-ish")
    with pytest.raises(ParameterError, match="unknown note"):
        parse_scale("H major")


def test_35_cents_sharp_a4_is_tuned_to_440():
    x = harmonic(440.0 * 2 ** (35 / 1200))
    assert abs(cents(fft_f0(x[4000:]), 440.0) - 35.0) < 0.5  # the estimator sees the input right
    y, rep = autotune(x, SR, key="A major", retune_ms=0.0, pitch=pyin_pitch(x))
    assert y.shape == x.shape
    assert abs(cents(fft_f0(y[4000:-1000]), 440.0)) < 5.0
    assert rep["mean_abs_correction_cents"] > 25


def test_melody_on_the_scale_is_left_alone():
    notes = [440.0, 493.883, 554.365, 587.330]  # A B C# D: in A major
    x = np.concatenate([harmonic(f, seconds=0.5) for f in notes])
    y, _ = autotune(x, SR, key="A major", retune_ms=0.0, pitch=pyin_pitch(x))
    for i, f in enumerate(notes):
        seg = y[i * 8000 + 1500 : (i + 1) * 8000 - 1500]
        assert abs(cents(fft_f0(seg, lo=f * 0.9, hi=f * 1.1), f)) < 2.0


def test_faster_retune_reaches_the_target_sooner():
    x = harmonic(440.0 * 2 ** (40 / 1200), seconds=1.0)
    pitch = pyin_pitch(x)
    times, f0, conf = pitch

    def settle_time(retune_ms: float) -> float:
        y, _ = autotune(x, SR, key="A major", retune_ms=retune_ms, pitch=pitch)
        t, f, _c = pyin_pitch(y)
        off = np.abs(1200 * np.log2(f / 440.0))
        inside = np.flatnonzero((off < 10.0) & (t > 0.05))
        return float(t[inside[0]]) if inside.size else np.inf

    fast, slow = settle_time(10.0), settle_time(150.0)
    assert fast < slow < np.inf
    # and the contour itself: the fast glide covers 90 % of the way in under 50 ms
    corr = correction_contour(times, f0, conf, "A major", 10.0)
    voiced_from = np.flatnonzero(conf >= 0.5)[0]
    reach = np.flatnonzero(np.abs(corr) >= 0.9 * 0.40)[0]
    assert times[reach] - times[voiced_from] < 0.05


def test_humanize_keeps_vibrato():
    t = np.arange(SR * 2) / SR
    f = 449.0 * 2 ** (30 * np.sin(2 * np.pi * 5.5 * t) / 1200)  # 30 cent vibrato, centre sharp
    x = harmonic(f, seconds=2.0)
    pitch = pyin_pitch(x)
    flat, _ = autotune(x, SR, key="A major", retune_ms=0.0, humanize=0.0, pitch=pitch)
    human, _ = autotune(x, SR, key="A major", retune_ms=0.0, humanize=1.0, pitch=pitch)

    def depth(y: np.ndarray) -> float:
        _t, ff, c = pyin_pitch(y)
        mid = ff[30:-30][c[30:-30] > 0.5]
        return float(np.std(1200 * np.log2(mid / 440.0)))

    assert depth(flat) < 8.0  # vibrato ironed out
    assert 15.0 < depth(human) < 26.0  # about 30/sqrt(2) = 21 cents kept


def test_psola_keeps_formants():
    """A shift moves the harmonics but not the spectral envelope (the formant peak)."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(0)
    src = np.zeros(SR)
    src[:: SR // 200] = 1.0  # 200 Hz pulse train
    r = 0.97
    th = 2 * np.pi * 1000 / SR  # one resonance at 1 kHz
    x = lfilter([1.0], [1.0, -2 * r * np.cos(th), r * r], src) + 1e-4 * rng.standard_normal(SR)
    y = psola_shift(x, SR, np.full(SR, 1 / 200), np.full(SR, 2 ** (4 / 12)))

    def envelope_peak(z: np.ndarray) -> float:
        from scipy.signal import welch

        f, p = welch(z, SR, nperseg=256)  # coarse: harmonics blur into the envelope
        return float(f[np.argmax(p)])

    assert abs(envelope_peak(y) - 1000) <= 125
    assert abs(cents(fft_f0(y[2000:-2000], lo=150, hi=350), 200 * 2 ** (4 / 12))) < 5


# ---------------------------------------------------------------- real time
RT_SR = 48000


def run_rt(x: np.ndarray, block: int, **params) -> tuple[np.ndarray, AutoTune]:
    at = AutoTune(**params)
    at.prepare(RT_SR, max(block, 1), 1)
    y = x[None].copy()
    for s in range(0, y.shape[1], block):
        at.process(y[:, s : s + block])
    return y[0], at


def test_rt_autotune_tunes_sharp_note():
    x = harmonic(440.0 * 2 ** (35 / 1200), RT_SR, seconds=1.0)
    y, _ = run_rt(x, 256, key="A", scale="major", retune_ms=5.0)
    assert abs(cents(fft_f0(y[RT_SR // 4 :], RT_SR), 440.0)) < 5.0


def test_rt_autotune_output_lines_up_with_latency():
    x = harmonic(440.0 * 2 ** (35 / 1200), RT_SR, seconds=1.0)
    x[:6000] = 0.0
    lat_expected = int(2.5 * np.ceil(RT_SR / 80.0)) + 2
    # with the correction at zero the output is the input delayed by exactly the latency
    y, at = run_rt(x, 128, key="A", scale="major", amount=0.0)
    assert at.latency == lat_expected
    assert np.all(y[: at.latency] == 0.0)
    np.testing.assert_allclose(y[at.latency :], x[: -at.latency], atol=1e-5)
    # correcting, the onset still lands at input onset + latency (within one 5 ms grain)
    y, at = run_rt(x, 128, key="A", scale="major", retune_ms=5.0)
    onset = np.flatnonzero(np.abs(y) > 1e-3)[0]
    assert abs(onset - (6000 + at.latency)) <= 0.005 * RT_SR


def test_rt_autotune_is_block_size_invariant():
    x = harmonic(440.0 * 2 ** (-30 / 1200), RT_SR, seconds=0.5)
    ref, _ = run_rt(x, 512, key="A", scale="major", retune_ms=20.0)
    for block in (1, 37, 128, 1000):
        y, _ = run_rt(x, block, key="A", scale="major", retune_ms=20.0)
        np.testing.assert_array_equal(y, ref)


def test_rt_autotune_is_off_by_default():
    from core.settings import EnhancementSettings

    assert EnhancementSettings().enable_auto_tune is False
