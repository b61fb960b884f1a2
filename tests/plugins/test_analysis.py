"""Frequency analysis and stereo measurements against signals with known answers."""

import numpy as np

from plugins.analysis import masking, spectral_features, stereo_measures

SR = 48000


def test_centroid_rolloff_flatness_and_bands_of_a_tone_and_noise(rng: np.random.Generator) -> None:
    t = np.arange(SR) / SR
    tone = spectral_features(np.sin(2 * np.pi * 3000 * t)[None], SR)
    assert abs(tone["centroid_hz"] - 3000) < 20
    assert tone["flatness"] < 0.01
    bands = tone["band_energy_db"]
    assert len(bands) >= 8 and max(bands, key=bands.get) == "2500-5000"
    assert bands["2500-5000"] > -0.1
    noise = spectral_features(rng.standard_normal(SR)[None], SR)
    assert abs(noise["centroid_hz"] - SR / 4) < 300  # white noise: the middle of 0..Nyquist
    assert abs(noise["rolloff_hz"] - 0.85 * SR / 2) < 300
    assert noise["flatness"] > 0.5


def test_masking_finds_the_band_where_the_music_covers_the_vocal(rng: np.random.Generator) -> None:
    t = np.arange(2 * SR) / SR
    vocal = (0.1 * np.sin(2 * np.pi * 300 * t) + 0.1 * np.sin(2 * np.pi * 1500 * t))[None]
    from scipy.signal import butter, sosfilt

    music = sosfilt(butter(4, (1100, 2200), "bandpass", fs=SR, output="sos"), rng.standard_normal(t.size))[None]
    rep = masking(vocal, music, SR)
    assert rep["worst_bands"][0] == "1000-2500"
    assert rep["bands"]["1000-2500"]["masking_db"] > rep["bands"]["150-400"]["masking_db"]
    assert rep["bands"]["20-60"]["masking_db"] is None  # outside the vocal's range
    quiet = masking(vocal, 1e-4 * music, SR)
    assert quiet["overall_db"] < rep["overall_db"]


def test_stereo_measures_of_known_images(rng: np.random.Generator) -> None:
    n = rng.standard_normal(SR)
    mono = stereo_measures(np.vstack([n, n]), SR)
    assert mono["width"] < 1e-12 and abs(mono["correlation"] - 1) < 1e-12 and abs(mono["balance_db"]) < 1e-9
    wide = stereo_measures(rng.standard_normal((2, 4 * SR)), SR, ((20.0, 150.0),))
    assert abs(wide["width"] - 1) < 0.05 and abs(wide["correlation"]) < 0.05
    assert abs(wide["bands"]["20-150"]["correlation"]) < 0.1
    anti = stereo_measures(np.vstack([n, -n]), SR)
    assert anti["correlation"] < -0.999 and anti["width"] > 1e6
    left = stereo_measures(np.vstack([n, 0.5 * n]), SR)
    assert abs(left["balance_db"] - 20 * np.log10(2)) < 1e-6
