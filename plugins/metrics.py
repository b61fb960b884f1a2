"""Speech quality metrics: PESQ, STOI, DNSMOS and one overall score.

PESQ and STOI compare against a reference; DNSMOS (the ONNX models that ship
inside the speechmos package) needs none. Everything resamples as each metric
requires and mixes to mono.
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Any

import numpy as np

from core.audio_io import resample
from core.errors import AudioFileError, ParameterError
from core.hookspecs import hookimpl

PESQ_MAX = {"wb": 4.644, "nb": 4.549}  # the top of each mode's MOS-LQO mapping
MIN_SECONDS = 0.25
# The pesq package's C code crashes (segfault) somewhere past ~100 s of audio, so
# longer signals are scored in 30 s segments and averaged by length.
PESQ_MAX_SECONDS = 60.0
PESQ_SEGMENT_SECONDS = 30.0
SILENCE_RMS = 1e-5
DNSMOS_WINDOW_S = 9.01  # the DNSMOS models' input length
DNSMOS_SR = 16000
# DNSMOS P.835's published polynomials from the raw model outputs to MOS (not personalised), highest power first
P835_FIT = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}


def _mono(audio: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 2:
        a = a.mean(axis=0)
    if a.ndim != 1:
        raise ParameterError(f"{what}: expected (frames,) or (channels, frames), got {a.shape}")
    if not np.isfinite(a).all():
        raise AudioFileError(f"{what}: holds non-finite samples")
    return a


def _checked(audio: np.ndarray, sr: int, what: str) -> np.ndarray:
    a = _mono(audio, what)
    if a.size < MIN_SECONDS * sr:
        raise AudioFileError(f"{what}: {a.size / sr:.3f} s is too short (at least {MIN_SECONDS} s needed)")
    if np.sqrt(np.mean(np.square(a, dtype=np.float64))) < SILENCE_RMS:
        raise AudioFileError(f"{what}: the signal is silent")
    return a


def _at(audio: np.ndarray, sr: int, rate: int) -> np.ndarray:
    return audio if sr == rate else resample(audio[None], sr, rate)[0]


def _pair(reference: np.ndarray, degraded: np.ndarray, sr: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    ref = _at(_checked(reference, sr, "reference"), sr, rate)
    deg = _at(_checked(degraded, sr, "degraded"), sr, rate)
    n = min(ref.size, deg.size)
    return ref[:n].astype(np.float64), deg[:n].astype(np.float64)


def pesq_score(reference: np.ndarray, degraded: np.ndarray, sample_rate: int, mode: str = "wb") -> float:
    """PESQ MOS-LQO of ``degraded`` against ``reference``.

    Parameters
    ----------
    reference, degraded : float array, shape (frames,) or (channels, frames)
    sample_rate : int
        Hz; resampled to 16 kHz (``mode="wb"``) or 8 kHz (``"nb"``).
    mode : {"wb", "nb"}

    Returns
    -------
    float
        About 1.0 (bad) to 4.64 (wb) or 4.55 (nb). Signals over 60 s are scored
        in 30 s segments (the pesq library crashes on very long input) and the
        scores averaged by length.

    Raises
    ------
    AudioFileError
        Silent, too short (< 0.25 s) or non-finite input.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal(16000) * 0.1  # doctest: +SKIP
    >>> round(pesq_score(x, x, 16000), 2)                            # doctest: +SKIP
    4.64
    """
    from pesq import pesq

    if mode not in PESQ_MAX:
        raise ParameterError(f"pesq mode {mode!r}: use 'wb' (16 kHz) or 'nb' (8 kHz)")
    rate = 16000 if mode == "wb" else 8000
    ref, deg = _pair(reference, degraded, sample_rate, rate)
    if ref.size <= PESQ_MAX_SECONDS * rate:
        bounds = [(0, ref.size)]
    else:
        seg = int(PESQ_SEGMENT_SECONDS * rate)
        cuts = list(range(0, ref.size - seg // 2, seg))[1:]  # a short tail joins the last segment
        bounds = list(zip([0, *cuts], [*cuts, ref.size], strict=True))
    scores, weights = [], []
    for a, b in bounds:
        if np.sqrt(np.mean(ref[a:b] ** 2)) < SILENCE_RMS:
            continue  # a silent stretch has no utterance to score
        try:
            scores.append(float(pesq(rate, ref[a:b], deg[a:b], mode)))
        except Exception as e:  # noqa: BLE001 - pesq raises its own NoUtterancesError etc.
            raise AudioFileError(f"PESQ failed on {a / rate:.1f}-{b / rate:.1f} s: {e}") from None
        weights.append(b - a)
    return float(np.average(scores, weights=weights))


def stoi_score(reference: np.ndarray, degraded: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    """Short-time objective intelligibility (0..1, 1 = identical); ``extended`` gives ESTOI.

    Examples
    --------
    >>> round(stoi_score(x, x, 16000), 3)  # doctest: +SKIP
    1.0
    """
    from pystoi import stoi

    ref, deg = _pair(reference, degraded, sample_rate, 10000)  # STOI's own rate
    return float(stoi(ref, deg, 10000, extended=extended))


@functools.lru_cache(maxsize=1)
def _dnsmos_sessions() -> tuple[Any, Any]:
    """The P.835 and P.808 models that ship inside speechmos, in sessions of our own.

    Without a memory arena: a window's activations (~200 MB) are given back after
    each run instead of staying with the process (speechmos's own sessions keep them).
    """
    import onnxruntime as ort

    from core.settings import package_file
    from plugins.pitch import torch_threads

    paths = [package_file("speechmos", "dnsmos_models", name, what="DNSMOS models (the voice extra)")
             for name in ("sig_bak_ovr.onnx", "model_v8.onnx")]
    so = ort.SessionOptions()
    so.enable_cpu_mem_arena = False
    so.intra_op_num_threads = torch_threads()
    primary, p808 = (ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"]) for p in paths)
    return primary, p808


def _dnsmos_window(w: np.ndarray) -> dict[str, float]:
    """DNSMOS of one 9.01 s window at 16 kHz: P.835 from the samples, P.808 from their log-mel."""
    import librosa

    primary, p808 = _dnsmos_sessions()
    raw = primary.run(None, {"input_1": w[None]})[0][0]
    mel = librosa.feature.melspectrogram(y=w[:-160], sr=DNSMOS_SR, n_fft=321, hop_length=160, n_mels=120)
    mel = ((librosa.power_to_db(mel, ref=np.max) + 40) / 40).T.astype(np.float32)
    out = {k: float(np.polyval(P835_FIT[k], raw[i])) for i, k in enumerate(("sig", "bak", "ovrl"))}
    out["p808"] = float(p808.run(None, {"input_1": mel[None]})[0][0][0])
    return out


def dnsmos(audio: np.ndarray, sample_rate: int, spread: bool = False) -> dict[str, float]:
    """DNSMOS P.835 (SIG, BAK, OVRL) and P.808 MOS, 1..5, from the models speechmos ships.

    The models score 9.01 s windows. By default they move by 1 s as in the
    reference implementation (every second is scored about nine times; shorter
    input is doubled until it fills a window) and the scores are averaged.
    ``spread=True`` scores ceil(duration / 9.01 s) windows spread evenly from the
    start to the end, every second about once: about 9x cheaper on long audio
    (the voice stage's quality gate uses it); shorter input is repeated to one window.

    Examples
    --------
    >>> dnsmos(voice, 16000)["ovrl"]  # doctest: +SKIP
    3.1
    """
    x = _at(_checked(audio, sample_rate, "audio"), sample_rate, DNSMOS_SR)
    peak = float(np.max(np.abs(x)))
    if peak > 1.0:  # the models were trained on samples in [-1, 1]
        x = x / peak
    x = x.astype(np.float32)
    win = int(DNSMOS_WINDOW_S * DNSMOS_SR)
    if spread:
        if x.size < win:
            x = np.resize(x, win)
        starts = np.linspace(0, x.size - win, math.ceil(x.size / win)).astype(int)
    else:
        while x.size < win:
            x = np.concatenate([x, x])
        starts = np.arange(int(x.size // DNSMOS_SR - DNSMOS_WINDOW_S) + 1) * DNSMOS_SR
    rs = [_dnsmos_window(x[s : s + win]) for s in starts]
    return {k: float(np.mean([r[k] for r in rs])) for k in ("sig", "bak", "ovrl", "p808")}


def overall_score(metrics: dict[str, Any]) -> float:
    """One 1..5 figure: the mean of whatever applies, each mapped onto a MOS-like scale.

    PESQ (wb) maps 1..4.64 to 1..5, STOI 0..1 to 1..5, DNSMOS OVRL is used as is.
    """
    parts = []
    if "pesq_wb" in metrics:
        parts.append(1.0 + 4.0 * (metrics["pesq_wb"] - 1.0) / (PESQ_MAX["wb"] - 1.0))
    if "stoi" in metrics:
        parts.append(1.0 + 4.0 * metrics["stoi"])
    if "dnsmos" in metrics:
        parts.append(metrics["dnsmos"]["ovrl"])
    if not parts:
        raise ParameterError("overall_score: no metric to combine")
    return float(np.clip(np.mean(parts), 1.0, 5.0))


def calculate_all_metrics(audio: np.ndarray, sample_rate: int, reference: np.ndarray | None = None,
                          spread: bool = False) -> dict[str, Any]:
    """Every metric that applies: DNSMOS always, PESQ wb/nb, STOI and ESTOI with a reference.

    Parameters
    ----------
    audio : float array, shape (frames,) or (channels, frames)
    sample_rate : int
        Hz (both signals).
    reference : float array, optional
        The clean or original signal, same rate.
    spread : bool
        DNSMOS scores every second about once instead of nine times (see :func:`dnsmos`).

    Returns
    -------
    dict
        ``dnsmos`` (sig, bak, ovrl, p808), ``pesq_wb``, ``pesq_nb``, ``stoi``,
        ``estoi`` where they apply, and ``overall``.

    Examples
    --------
    >>> m = calculate_all_metrics(enhanced, 48000, reference=original)  # doctest: +SKIP
    >>> sorted(m)                                                        # doctest: +SKIP
    ['dnsmos', 'estoi', 'overall', 'pesq_nb', 'pesq_wb', 'stoi']
    """
    out: dict[str, Any] = {"dnsmos": dnsmos(audio, sample_rate, spread)}
    if reference is not None:
        out["pesq_wb"] = pesq_score(reference, audio, sample_rate, "wb")
        out["pesq_nb"] = pesq_score(reference, audio, sample_rate, "nb")
        out["stoi"] = stoi_score(reference, audio, sample_rate)
        out["estoi"] = stoi_score(reference, audio, sample_rate, extended=True)
    out["overall"] = overall_score(out)
    return out


@hookimpl
def mixbridge_service(name: str) -> object:
    """This module is the 'metrics' service."""
    return sys.modules[__name__] if name == "metrics" else None
