"""Dynamic EQ and de-esser: static curve, sidechain carving, sibilant bursts."""

import numpy as np
from scipy.signal import butter, sosfilt

from plugins.dynamic_eq import DeEsser, DynamicEQ

SR = 48000
BLOCK = 256


def run(proc, audio: np.ndarray, key: np.ndarray | None = None) -> np.ndarray:  # type: ignore[no-untyped-def]
    proc.prepare(SR, BLOCK, audio.shape[0])
    out = audio.copy()
    for i in range(0, out.shape[1], BLOCK):
        proc.process(out[:, i : i + BLOCK], None if key is None else key[:, i : i + BLOCK])
    return out


def band_db(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(10 * np.log10(spec[(f >= lo) & (f < hi)].sum()))


def test_static_curve_of_a_band_follows_threshold_and_ratio() -> None:
    t = np.arange(SR) / SR
    x = (10 ** (-18 / 20) * np.sin(2 * np.pi * 1000 * t))[None].astype(np.float32)  # 12 dB over -30
    eq = DynamicEQ(b1_freq_hz=1000.0, b1_threshold_db=-30.0, b1_ratio=4.0, b1_range_db=-24.0, b2_on="off")
    y = run(eq, x)
    seg = slice(SR // 2, SR)
    got = 20 * np.log10(np.sqrt(np.mean(y[0, seg] ** 2)) / np.sqrt(np.mean(x[0, seg] ** 2)))
    assert abs(got - (-9.0)) < 0.5  # 12 dB over at 4:1 -> 9 dB cut (a peak detector on the band)


def test_sidechain_carves_the_music_only_while_the_vocal_sings(rng: np.random.Generator) -> None:
    n = SR
    music = (0.1 * rng.standard_normal((2, n))).astype(np.float32)
    t = np.arange(n) / SR
    vocal = np.where(t >= 0.5, 0.3 * np.sin(2 * np.pi * 1000 * t), 0.0)[None].astype(np.float32)
    eq = DynamicEQ(detector="sidechain", b1_freq_hz=1000.0, b1_threshold_db=-40.0, b1_ratio=50.0,
                   b1_range_db=-6.0, b2_on="off")
    y = run(eq, music, vocal)
    quiet = slice(0, SR // 2)
    assert np.array_equal(y[:, quiet], music[:, quiet])  # no vocal: bit-transparent
    sung = slice(int(0.6 * SR), n)
    # at the band centre the bell cuts by exactly the range: measure a narrow band around 1 kHz
    drop = band_db(y[0, sung], 950, 1050) - band_db(music[0, sung], 950, 1050)
    assert -6.5 < drop < -5.0
    assert abs(band_db(y[0, sung], 100, 200) - band_db(music[0, sung], 100, 200)) < 0.2


def test_deesser_cuts_a_sibilant_burst_by_the_set_amount_and_leaves_1k() -> None:
    n = SR
    t = np.arange(n) / SR
    rng = np.random.default_rng(3)
    burst = sosfilt(butter(8, (5000, 9000), "bandpass", fs=SR, output="sos"), rng.standard_normal(n))
    burst *= 0.25 / np.sqrt(np.mean(burst**2)) * ((t >= 0.4) & (t < 0.8))
    tone = 0.1 * np.sin(2 * np.pi * 1000 * t)
    x = (tone + burst)[None].astype(np.float32)
    y = run(DeEsser(b1_range_db=-6.0, b1_threshold_db=-40.0, b1_ratio=50.0), x)
    seg = slice(int(0.45 * SR), int(0.8 * SR))  # inside the burst, after the 1 ms attack
    sib = band_db(y[0, seg], 5000, 9000) - band_db(x[0, seg], 5000, 9000)
    one_k = band_db(y[0, seg], 990, 1010) - band_db(x[0, seg], 990, 1010)
    # the bell is exact at its 6.7 kHz centre and shallower at 5 and 9 kHz: the band's energy drops 5.2 dB
    assert abs(sib - (-6.0)) < 1.0
    assert abs(one_k) < 0.2
    # a tone at the centre is cut by the set amount itself
    centre = (0.2 * np.sin(2 * np.pi * 6708 * t))[None].astype(np.float32)
    yc = run(DeEsser(b1_range_db=-6.0, b1_threshold_db=-40.0, b1_ratio=50.0), centre)
    got = 20 * np.log10(np.sqrt(np.mean(yc[0, SR // 2 :] ** 2)) / np.sqrt(np.mean(centre[0, SR // 2 :] ** 2)))
    assert abs(got + 6.0) < 0.2
