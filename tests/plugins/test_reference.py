"""Reference matching: the spectral distance to the reference at least halves; loudness and width follow."""

import numpy as np
import pyloudnorm
from scipy.signal import butter, lfilter, sosfilt

from plugins.reference import analyse, match, spectral_distance_db

SR = 48000


def test_matching_halves_the_spectral_distance_and_matches_loudness(rng: np.random.Generator) -> None:
    n = 4 * SR
    ref = sosfilt(butter(2, (800, 3000), "bandpass", fs=SR, output="sos"), rng.standard_normal((2, n))) * 0.5
    ref += 0.05 * rng.standard_normal((2, n))
    dark = lfilter([1.0], [1.0, -0.95], rng.standard_normal(n)) * 0.02  # a dull, narrow mix
    mix = np.vstack([dark, 0.8 * dark + 0.2 * np.roll(dark, 100)]).astype(np.float32)
    target = analyse(ref, SR)
    out, rep = match(mix, SR, target)
    before, after = spectral_distance_db(mix, ref, SR), spectral_distance_db(out, ref, SR)
    assert after <= 0.5 * before
    assert abs(rep["distance_after_db"] - after) < 1e-6
    loud = pyloudnorm.Meter(SR).integrated_loudness(out.T.astype(np.float64))
    assert abs(loud - target["loudness_lufs"]) < 0.1
    assert rep["width"]["after"] > rep["width"]["before"]  # toward the (wider) reference
    assert out.shape == mix.shape and out.dtype == np.float32


def test_correction_is_smooth_and_bounded(rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 2 * SR)).astype(np.float32) * 0.1
    _, rep = match(x, SR, analyse(x, SR))  # matching a signal to itself changes nothing
    curve = np.array(list(rep["eq_curve_db"].values()))
    assert np.max(np.abs(curve)) < 1.0
    assert rep["distance_after_db"] < 0.5
