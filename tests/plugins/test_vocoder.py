"""Vocoder enhancement: Vocos with a random model of the real architecture, fallbacks, DSP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugins import vocoder as V
from plugins.voice_dsp import compress, enhance_dsp, equalize, reduce_noise


@pytest.fixture(scope="module")
def vocos_dir(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("yaml")
    return V.random_vocos_dir(tmp_path_factory.mktemp("vocos"))


def voiced(sr: int, seconds: float, f0: float = 220.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
    x = x * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.2 * x + 0.003 * np.random.default_rng(seed).standard_normal(t.size)).astype(
        np.float32
    )


@pytest.mark.torch
def test_vocos_loads_real_architecture_from_directory(vocos_dir):
    model = V.load_vocos(str(vocos_dir))
    assert sum(p.numel() for p in model.parameters()) == 13_531_650  # mel-24khz's size
    found, _ = V.find_vocos_weights(vocos_dir)
    assert found == vocos_dir


@pytest.mark.torch
def test_vocos_shapes_and_level(vocos_dir):
    model = V.load_vocos(str(vocos_dir))
    x = np.stack([voiced(48000, 1.3), voiced(48000, 1.3, 330.0, 1)])
    y = V.vocos_resynthesize(x, 48000, model)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    for c in range(2):  # level matched to the input within 0.1 dB
        ratio = np.sqrt(np.mean(y[c] ** 2) / np.mean(x[c] ** 2))
        assert abs(20 * np.log10(ratio)) < 0.1


@pytest.mark.torch
def test_vocos_chunked_equals_unchunked_without_clicks(vocos_dir):
    model = V.load_vocos(str(vocos_dir))
    fn = V._vocos_fn(model)
    x = voiced(24000, 3.0)
    whole = fn(x).astype(np.float64)
    parts = V.chunked(fn, x, chunk=24000, align=256)
    assert np.max(np.abs(parts - whole)) < 1e-4 * np.max(np.abs(whole))
    # no step at the chunk borders: the sample-to-sample jump there is no larger than elsewhere
    jump = np.abs(np.diff(parts))
    for b in (24000, 48000):
        assert jump[b - 600 : b + 600].max() <= 1.05 * np.percentile(jump, 99.9)


@pytest.mark.parametrize("n", [50_000, 7000 * 3 + 1, 7000 * 3 + 255, 7000 * 3 + 256, 7000 * 3 + 511, 7000])
def test_chunked_crossfades_sum_to_unity(n: int) -> None:
    """Any length, including a last chunk shorter than the crossfade (a 20 s song once hit one)."""
    x = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    y = V.chunked(lambda s: s, x, chunk=7000, margin=300, crossfade=512)
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_active_spans_skip_silence_but_not_a_noise_floor():
    sr, hop = 22050, 256
    x = np.zeros(10 * sr, np.float32)
    x[sr : 3 * sr] = voiced(sr, 2.0)  # sound, 4 s of silence, sound, a 0.5 s gap, sound
    x[7 * sr : 8 * sr] = voiced(sr, 1.0, 330.0)
    x[int(8.5 * sr) : 9 * sr] = voiced(sr, 0.5)
    spans = V.active_spans(x, sr, hop)
    pad = (int(V.SPAN_PAD_S * sr / hop) + 1) * hop
    assert len(spans) == 2  # the 0.5 s gap is bridged, the 4 s one is not
    (a0, b0), (a1, b1) = spans
    assert a0 % hop == 0 and a1 % hop == 0
    assert sr - pad - hop <= a0 <= sr - pad and 3 * sr + pad - hop <= b0 <= 3 * sr + pad + hop
    assert 7 * sr - pad - hop <= a1 <= 7 * sr - pad and 9 * sr + pad - hop <= b1 <= 9 * sr + pad + hop
    noisy = x + 1e-3 * np.random.default_rng(0).standard_normal(x.size).astype(np.float32)  # -50 dB below
    assert V.active_spans(noisy, sr, hop) == [(0, x.size)]
    assert V.active_spans(np.zeros(sr, np.float32), sr, hop) == []


def test_resynthesis_leaves_silence_alone_and_does_not_decode_it():
    """Only the spans that hold sound go through the model; silence comes out as it went in."""
    sr = 22050
    x = np.zeros(12 * sr, np.float32)
    x[sr : 4 * sr] = voiced(sr, 3.0)
    x[9 * sr : 11 * sr] = voiced(sr, 2.0, 330.0)
    decoded = []

    def flip(seg: np.ndarray) -> np.ndarray:  # a "model" whose work is visible: the sign
        decoded.append(seg.size)
        return -seg

    y = V.resynthesize(x, sr, flip, sr, sr / 2, chunk_s=2.0, margin=1024)
    spans = V.active_spans(x, sr, 256)
    assert sum(decoded) < 0.75 * x.size  # 5 s of sound in 12 s, with context and margins
    inside = np.zeros(x.size, bool)
    for a, b in spans:
        inside[a:b] = True
        core = slice(a + V.CROSSFADE, b - V.CROSSFADE)
        np.testing.assert_allclose(y[core], -x[core], atol=1e-6)
    np.testing.assert_array_equal(y[~inside], x[~inside])


def test_merge_bands_in_blocks_equals_filtering_the_whole_signal():
    from scipy.signal import butter, sosfiltfilt

    sr = 48000
    rng = np.random.default_rng(3)
    n = 2 * V.FILTER_BLOCK + 12345
    orig, neural = rng.standard_normal(n), rng.standard_normal(n)
    whole = orig + sosfiltfilt(butter(8, 7500.0 / (sr / 2), output="sos"), neural - orig)
    y = V.merge_bands(orig, neural.copy(), sr, 7500.0)
    assert np.max(np.abs(y - whole)) < 1e-9


def test_resampling_round_trip_is_transparent_in_band():
    sr = 48000
    t = np.arange(sr) / sr
    x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 9000 * t)).astype(np.float32)
    back = V.resample(V.resample(x, sr, 24000), 24000, sr)
    assert back.shape == x.shape
    err = back[1000:-1000] - x[1000:-1000]
    assert 20 * np.log10(np.sqrt(np.mean(err**2)) / np.sqrt(np.mean(x**2))) < -100


def test_merge_bands_keeps_original_above_cutoff():
    from scipy.signal import welch

    sr = 48000
    rng = np.random.default_rng(2)
    orig = rng.standard_normal(sr)
    neural = np.zeros(sr)  # a "model" that lost everything
    y = V.merge_bands(orig, neural, sr, 7500.0)
    f, p_y = welch(y, sr, nperseg=2048)
    _, p_o = welch(orig, sr, nperseg=2048)
    hi, lo = f > 10000, f < 5000
    assert abs(10 * np.log10(p_y[hi].sum() / p_o[hi].sum())) < 0.2
    assert 10 * np.log10(p_y[lo].sum() / p_o[lo].sum()) < -40


@pytest.mark.torch
@pytest.mark.slow  # exports HiFi-GAN to ONNX when this session has not yet
def test_fallback_without_vocos_weights_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv(V.VOCOS_ENV, str(tmp_path))  # empty: no weights there
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    x = voiced(22050, 1.0)
    y, rep = V.enhance_vocoder(x, 22050, backend="auto")
    assert rep["vocoder"] == "hifigan"
    assert "no Vocos weights" in rep["reason"] and str(tmp_path) in rep["reason"]
    assert y.shape == x.shape and np.isfinite(y).all()


def test_dsp_backend_runs_without_torch():
    x = voiced(16000, 1.0)
    y, rep = V.enhance_vocoder(x, 16000, backend="dsp")
    assert rep["vocoder"] == "dsp" and rep["reason"] == "first choice"
    assert y.shape == x.shape


def test_vocoder_processor_is_offline_and_in_place():
    p = V.VocoderEnhance(backend="dsp")
    p.prepare(16000, 16000, 1)
    x = voiced(16000, 1.0)[None].copy()
    before = x.copy()
    p.process(x)
    assert p.realtime is False and x.shape == before.shape
    assert p.last_report["vocoder"] == "dsp" and not np.allclose(x, before)


# ---------------------------------------------------------------- DSP path
def test_eq_matches_its_design():
    sr = 48000
    imp = np.zeros(1 << 15)
    imp[0] = 1.0
    h = np.fft.rfft(equalize(imp, sr))
    f = np.fft.rfftfreq(imp.size, 1 / sr)

    def db_at(hz: float) -> float:
        return 20 * np.log10(abs(h[np.argmin(abs(f - hz))]))

    assert db_at(20) < -10  # high-pass at 80 Hz, 12 dB/oct
    assert -3.6 < db_at(300) < -2.4  # de-mud
    assert 2.4 < db_at(3500) < 3.6  # presence
    assert abs(db_at(1200)) < 1.0


def test_compressor_static_curve():
    sr = 16000
    for level_db, expect_db in ((-30.0, -30.0), (-10.0, -15.0), (0.0, -10.0)):
        x = np.full((1, sr), 10 ** (level_db / 20), dtype=np.float64)
        y = compress(x, sr, threshold_db=-20.0, ratio=2.0)
        assert abs(20 * np.log10(y[0, -1]) - expect_db) < 0.05


def test_noise_reduction_improves_snr():
    sr = 16000
    clean = voiced(sr, 2.0, seed=3).astype(np.float64)
    clean[: sr // 2] = 0.0  # a pause where only noise is heard
    noise = 0.02 * np.random.default_rng(4).standard_normal(clean.size)
    out = reduce_noise(clean + noise, sr)

    def snr(y: np.ndarray) -> float:
        return 10 * np.log10(np.sum(clean**2) / np.sum((y - clean) ** 2))

    assert snr(out) > snr(clean + noise) + 3.0
    pause = slice(2000, sr // 2 - 2000)  # noise alone: down by most of the 12 dB floor
    assert 10 * np.log10(np.mean(out[pause] ** 2) / np.mean(noise[pause] ** 2)) < -10.0


def test_noise_reduction_does_not_depend_on_its_chunking():
    """The 5-frame smoothing sees two frames of context across every chunk border."""
    sr = 16000
    x = voiced(sr, 1.5, seed=5) + 0.02 * np.random.default_rng(6).standard_normal(int(1.5 * sr))
    whole = reduce_noise(x, sr, chunk_frames=100_000)
    np.testing.assert_allclose(reduce_noise(x, sr, chunk_frames=7), whole, atol=1e-6)
    assert whole.shape == x.shape and np.all(np.isfinite(whole))


def test_dsp_enhancement_keeps_length_and_level():
    x = voiced(16000, 1.0)
    y, rep = enhance_dsp(x, 16000)
    assert y.shape == x.shape
    assert abs(10 * np.log10(np.mean(y**2) / np.mean(x**2))) < 0.01
    assert rep["highpass_hz"] == 80.0


# ---------------------------------------------------------------- ONNX runtime
def residual_db(y: np.ndarray, ref: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean((y - ref) ** 2)) / np.sqrt(np.mean(ref**2))))


def test_istft_inverts_a_centred_stft():
    """The numpy ISTFT after the Vocos graph: perfect reconstruction of a centred Hann STFT."""
    from numpy.lib.stride_tricks import sliding_window_view

    from plugins.vocoder_onnx import istft

    n_fft, hop = 1024, 256
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)  # periodic Hann
    x = voiced(24000, 0.7)
    x = x[: x.size // hop * hop]
    frames = sliding_window_view(np.pad(x, n_fft // 2, mode="reflect"), n_fft)[::hop] * win
    z = np.fft.rfft(frames, axis=-1).T
    y = istft(z.real, z.imag, win, hop)
    assert y.size == x.size
    assert np.max(np.abs(y - x)) < 1e-5


@pytest.mark.torch
def test_onnx_vocos_matches_torch_and_is_cached(vocos_dir):
    """Random weights of the real mel-24khz architecture: exported once, then reused, same output."""
    from plugins import vocoder_onnx as O

    fn, voc, detail = O.onnx_fn("vocos", vocos_dir)
    assert voc.sample_rate == 24000 and voc.spectrum
    again = O.ensure_export("vocos", vocos_dir)
    assert again == (Path(detail["onnx"]).parent, False)
    assert Path(detail["onnx"]).parent.name == "vocos-" + O.weights_hash(
        vocos_dir / "config.yaml", vocos_dir / "pytorch_model.bin"
    )
    assert not [p for p in Path(detail["onnx"]).parent.parent.iterdir() if p.name.startswith(".")]  # no temp left
    ref = V._vocos_fn(V.load_vocos(str(vocos_dir)))
    for n in (24000 * 2, 24000 * 2 - 100):  # whole hops and not
        x = voiced(24000, n / 24000)
        a, b = ref(x), fn(x)
        assert b.shape == a.shape == (n,)
        assert residual_db(b, a) < -60


@pytest.mark.torch
@pytest.mark.slow
def test_onnx_hifigan_matches_torch():
    from plugins import vocoder_onnx as O

    fn, voc, _ = O.onnx_fn("hifigan")
    x = voiced(22050, 1.5)
    a = V._hifigan_fn(V.load_hifigan("cpu"))(x)
    b = fn(x)
    assert b.shape == a.shape == x.shape
    assert residual_db(b, a) < -60
    assert np.max(np.abs(b - a)) < 1e-3


@pytest.mark.torch
def test_enhance_vocoder_reports_onnx_and_falls_back_to_torch(vocos_dir, tmp_path):
    x = voiced(48000, 1.0)
    y, rep = V.enhance_vocoder(x, 48000, "vocos", vocos_dir, runtime="onnx")
    assert rep["vocoder"] == "vocos" and rep["detail"]["runtime"] == "onnxruntime" and not rep["warnings"]
    y_t, rep_t = V.enhance_vocoder(x, 48000, "vocos", vocos_dir, runtime="torch")
    assert rep_t["detail"]["runtime"] == "torch"
    assert residual_db(y, y_t) < -60  # the whole path: resampling, chunks, band merge, level
    # a non-regular file where the export should be: refused, torch runs, the warning says why
    from plugins import vocoder_onnx as O

    other = tmp_path
    for f in ("config.yaml", "pytorch_model.bin"):
        (other / f).write_bytes((vocos_dir / f).read_bytes())
    (other / "pytorch_model.bin").open("ab").write(b"\0")  # other bytes, other hash
    target = O.export_dir("vocos", (other / "config.yaml", other / "pytorch_model.bin"))
    (target / "model.onnx").mkdir(parents=True)
    (target / "features.npz").write_bytes(b"")
    y2, rep2 = V.enhance_vocoder(x, 48000, "vocos", other, runtime="onnx")
    assert rep2["detail"]["runtime"] == "torch"
    assert any("ONNX runtime unavailable" in w and "not a regular file" in w for w in rep2["warnings"])


@pytest.mark.torch
def test_onnx_path_runs_without_importing_torch(vocos_dir):
    """Once exported, a fresh process vocodes through onnxruntime with torch never imported."""
    import os
    import subprocess
    import sys

    V.enhance_vocoder(voiced(48000, 0.5), 48000, "vocos", vocos_dir, runtime="onnx")  # exported here
    code = (
        "import sys, numpy as np\n"
        "from plugins.vocoder import enhance_vocoder\n"
        "x = (0.1 * np.sin(np.arange(48000) * 0.05)).astype(np.float32)\n"
        f"y, rep = enhance_vocoder(x, 48000, 'vocos', {str(vocos_dir)!r}, runtime='onnx')\n"
        "assert rep['detail']['runtime'] == 'onnxruntime', rep\n"
        "print('torch' in sys.modules, float(np.sqrt(np.mean(y ** 2))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2], env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-2000:]
    torch_loaded, rms = out.stdout.split()
    assert torch_loaded == "False"
    assert abs(float(rms) - 0.1 / np.sqrt(2)) < 0.01  # level matched to the input
