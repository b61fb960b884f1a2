"""Pitch tracking: torchcrepe (Viterbi decoding, periodicity as confidence) or librosa's pyin.

torch and torchcrepe are imported inside the functions so that loading the plugin
host stays fast.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from numba import njit

from core.errors import ModelUnavailableError, ParameterError

log = logging.getLogger(__name__)

METHODS = ("crepe", "pyin", "yin")
YIN_RATE = 16000  # YIN runs decimated; the refinement restores full precision
MODELS = ("tiny", "full")


def _mono(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 2:
        a = a.mean(axis=0)
    if a.ndim != 1 or a.size == 0:
        raise ParameterError(f"track_pitch: expected (frames,) or (channels, frames) audio, got {a.shape}")
    return np.ascontiguousarray(a)


def torch_threads() -> int:
    """Threads torch may use: MIXBRIDGE_TORCH_THREADS, else 2 (the machine is shared)."""
    return int(os.environ.get("MIXBRIDGE_TORCH_THREADS", "2"))


def torch_device() -> str:
    """'cuda' when torch sees a GPU, else 'cpu' (torch threads set as configured)."""
    import torch

    torch.set_num_threads(torch_threads())
    return "cuda" if torch.cuda.is_available() else "cpu"


def _viterbi_weighted(logits):  # type: ignore[no-untyped-def]
    """Viterbi path through the 360 pitch bins, then the probability-weighted mean of the
    nine bins around it: the path's robustness with sub-bin (< 20 cent) resolution."""
    import torch
    import torchcrepe

    bins, _ = torchcrepe.decode.viterbi(logits)
    idx = torch.arange(logits.size(1), device=logits.device)
    near = (idx[None, :, None] - bins[:, None, :]).abs() <= 4
    probs = torch.sigmoid(logits) * near
    cents = torchcrepe.convert.bins_to_cents(idx).to(logits.dtype)[None, :, None]
    mean = (cents * probs).sum(dim=1) / probs.sum(dim=1).clamp_min(1e-12)
    return bins, torchcrepe.convert.cents_to_frequency(mean)


def _crepe(x: np.ndarray, sr: int, hop: int, fmin: float, fmax: float, model: str):
    try:
        import torch
        import torchcrepe
    except ImportError as e:  # the voice extra is not installed
        raise ModelUnavailableError(f"torchcrepe unavailable ({e})") from None
    device = torch_device()
    with torch.inference_mode():
        f0, per = torchcrepe.predict(
            torch.from_numpy(x)[None],
            sr,
            hop,
            fmin,
            fmax,
            model,
            decoder=_viterbi_weighted,
            return_periodicity=True,
            batch_size=64,  # as fast as 512 on CPU, and crepe full's activations stay near 0.1 GB, not 1 GB
            device=device,
            pad=True,
        )
    return f0[0].cpu().numpy().astype(np.float64), per[0].cpu().numpy().astype(np.float64)


@njit(cache=True, nogil=True, error_model="numpy")
def _yin_frames(
    x: np.ndarray,
    hop: int,
    minp: int,
    maxp: int,
    thr: float,
    f0: np.ndarray,
    conf: np.ndarray,
    sr: float,
) -> None:
    """YIN per frame (centred, window ``2 * maxp``): period by the first CMND dip under ``thr``."""
    n = x.shape[0]
    d = np.empty(maxp + 2)
    for k in range(f0.shape[0]):
        start = min(max(k * hop - maxp, 0), max(n - 2 * maxp - 2, 0))
        if start + 2 * maxp + 2 > n:
            f0[k] = 0.0
            conf[k] = 0.0
            continue
        d[0] = 1.0
        running = 0.0
        for tau in range(1, maxp + 2):
            acc = 0.0
            for j in range(maxp):
                e = x[start + j] - x[start + j + tau]
                acc += e * e
            running += acc
            d[tau] = acc * tau / running if running > 0.0 else 1.0
        best = -1
        for tau in range(minp, maxp):
            if d[tau] < thr:
                while tau + 1 < maxp and d[tau + 1] < d[tau]:
                    tau += 1
                best = tau
                break
        if best < 0:  # unvoiced: report the global minimum, with its low confidence
            best = minp
            for tau in range(minp, maxp):
                if d[tau] < d[best]:
                    best = tau
        a, b, c = d[best - 1], d[best], d[best + 1]
        den = a - 2.0 * b + c
        shift = 0.5 * (a - c) / den if den > 0.0 else 0.0
        f0[k] = sr / (best + shift)
        conf[k] = max(0.0, 1.0 - b)


def _yin(x: np.ndarray, sr: int, hop: int, fmin: float, fmax: float):
    import soxr

    xd = soxr.resample(x.astype(np.float64), sr, YIN_RATE, quality="HQ") if sr != YIN_RATE else x
    hop_d = hop * YIN_RATE / sr
    frames = int(np.ceil(x.size / hop)) + 1
    f0 = np.zeros(frames)
    conf = np.zeros(frames)
    # frame k sits at k * hop input samples: decimated hop may be fractional, so run per frame
    step = max(1, int(round(hop_d)))
    _yin_frames(
        np.ascontiguousarray(xd, dtype=np.float64),
        step,
        max(2, int(YIN_RATE / fmax)),
        int(np.ceil(YIN_RATE / fmin)),
        0.15,
        f0,
        conf,
        float(YIN_RATE),
    )
    voiced = conf >= 0.5
    if voiced.any():  # carry the contour through unvoiced frames, as the other trackers do
        idx = np.arange(frames)
        f0 = np.interp(idx, idx[voiced], f0[voiced])
    return f0, conf


def _pyin(x: np.ndarray, sr: int, hop: int, fmin: float, fmax: float):
    import librosa

    frame = 2 ** int(np.ceil(np.log2(4 * sr / fmin)))  # pyin needs about four periods of fmin
    f0, _voiced, prob = librosa.pyin(x, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame, hop_length=hop, center=True)
    f0 = np.asarray(f0, np.float64)
    good = np.isfinite(f0)
    if good.any():  # carry the contour through unvoiced frames; confidence says where it is real
        idx = np.arange(f0.size)
        f0 = np.interp(idx, idx[good], f0[good])
    else:
        f0 = np.full(f0.size, fmin)
    return f0, np.nan_to_num(np.asarray(prob, np.float64))


@njit(cache=True, nogil=True, error_model="numpy")
def _refine_kernel(
    x: np.ndarray,
    sr: float,
    hop: int,
    f0: np.ndarray,
    conf: np.ndarray,
    thr: float,
    out: np.ndarray,
) -> None:
    """Sharpen each voiced frame's f0: difference-function minimum within +-3 % (half a semitone) of its period."""
    n = x.shape[0]
    for k in range(f0.shape[0]):
        out[k] = f0[k]
        if conf[k] < thr or f0[k] <= 0.0:
            continue
        p = sr / f0[k]
        lo = max(2, int(p * 0.97))
        hi = int(p * 1.03) + 2
        w = int(1.5 * p)
        start = k * hop - (w + hi) // 2
        start = min(max(start, 0), n - w - hi - 1)
        if start < 0:
            continue
        best = -1
        dprev = 0.0
        dbest = 1e300
        dl = 0.0
        dr = 0.0
        for tau in range(lo - 1, hi + 1):
            acc = 0.0
            for j in range(w):
                e = x[start + j] - x[start + j + tau]
                acc += e * e
            if tau > lo - 1 and acc < dbest and tau < hi:
                dbest = acc
                best = tau
                dl = dprev
            if tau == best + 1:
                dr = acc
            dprev = acc
        if best <= lo - 1 or best >= hi:
            continue
        den = dl - 2.0 * dbest + dr
        shift = 0.5 * (dl - dr) / den if den > 0.0 else 0.0
        out[k] = sr / (best + shift)


def track_pitch(
    audio: np.ndarray,
    sample_rate: int,
    method: str = "crepe",
    model: str = "tiny",
    hop_ms: float = 10.0,
    fmin_hz: float = 50.0,
    fmax_hz: float = 1100.0,
    refine: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fundamental frequency of a monophonic voice.

    Parameters
    ----------
    audio : float array, shape (frames,) or (channels, frames)
        Channels are averaged.
    sample_rate : int
        Hz.
    method : {"crepe", "pyin", "yin"}
        torchcrepe (Viterbi decoding refined by a weighted mean around the path,
        periodicity as confidence) falls back to pyin, with a warning, when torch
        is missing. "yin" is a numba YIN (confidence 1 - aperiodicity), many
        times faster than either, for the default voice stage.
    model : {"tiny", "full"}
        torchcrepe capacity (weights ship inside the torchcrepe package).
    hop_ms : float
        Frame hop in milliseconds.
    fmin_hz, fmax_hz : float
        Search range.
    refine : bool
        Sharpen voiced frames to a fraction of a cent (both trackers quantise:
        pyin to 10 cents, Viterbi-decoded crepe to 20) by the minimum of the
        waveform's difference function near the tracked period.

    Returns
    -------
    times : float64 array, shape (n,)
        Frame centres in seconds.
    f0 : float64 array, shape (n,)
        Hz; continuous (carried through unvoiced frames).
    confidence : float64 array, shape (n,)
        Voicing confidence 0..1 (crepe periodicity or pyin voiced probability).

    Examples
    --------
    >>> sr = 16000; t = np.arange(sr) / sr
    >>> times, f0, conf = track_pitch(np.sin(2 * np.pi * 220 * t), sr, method="pyin")
    >>> abs(np.median(f0) - 220) < 2
    True
    """
    if method not in METHODS:
        raise ParameterError(f"track_pitch: method {method!r} is not one of {', '.join(METHODS)}")
    if model not in MODELS:
        raise ParameterError(f"track_pitch: model {model!r} is not one of {', '.join(MODELS)}")
    if not 0 < fmin_hz < fmax_hz < sample_rate / 2:
        raise ParameterError(f"track_pitch: need 0 < fmin_hz < fmax_hz < {sample_rate / 2} Hz")
    x = _mono(audio)
    hop = max(1, int(round(hop_ms * 1e-3 * sample_rate)))
    if method == "crepe":
        try:
            f0, conf = _crepe(x, sample_rate, hop, fmin_hz, fmax_hz, model)
        except ModelUnavailableError as e:
            log.warning("%s; falling back to pyin", e)
            f0, conf = _pyin(x, sample_rate, hop, fmin_hz, fmax_hz)
    elif method == "yin":
        f0, conf = _yin(x, sample_rate, hop, fmin_hz, fmax_hz)
    else:
        f0, conf = _pyin(x, sample_rate, hop, fmin_hz, fmax_hz)
    n = min(f0.size, conf.size)
    f0, conf = f0[:n], np.nan_to_num(conf[:n])
    good = np.isfinite(f0) & (f0 > 0)
    if not good.all():  # silent frames can come back NaN: carry the contour, mark unvoiced
        conf[~good] = 0.0
        idx = np.arange(n)
        f0 = np.interp(idx, idx[good], f0[good]) if good.any() else np.full(n, fmin_hz)
    if refine and (conf >= 0.5).any():
        # parabolic interpolation is biased by ~1/period^2: refine short periods upsampled
        shortest = sample_rate / float(f0[conf >= 0.5].max())
        up = int(np.clip(np.ceil(96.0 / shortest), 1, 8))
        xr = x.astype(np.float64)
        if up > 1:
            import soxr

            xr = soxr.resample(xr, sample_rate, sample_rate * up, quality="HQ")
        fine = np.empty_like(f0)
        _refine_kernel(xr, float(sample_rate * up), hop * up, f0, conf, 0.5, fine)
        f0 = fine
    times = np.arange(n) * hop / sample_rate
    return times, f0, conf
