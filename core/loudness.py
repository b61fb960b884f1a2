"""Loudness and true peak (ITU-R BS.1770-4, EBU Tech 3341/3342) and the mastering stage.

Integrated loudness comes from pyloudnorm; loudness range and true peak are
computed here (vectorised numpy/scipy, and a numba polyphase kernel for the 4x
interpolation) because pyloudnorm's per-block Python
loop is too slow for 3 s windows at 10 Hz. ``master`` normalises a mix to a
loudness target and runs the host's ``limiter`` processor over it block by block,
exactly as a live chain would.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from core.errors import AudioFileError

if TYPE_CHECKING:
    from core.host import PluginHost

OVERSAMPLE = 4
TAPS_PER_PHASE = 24
# Channel weights of BS.1770-4 (L, R, C, Ls, Rs).
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)
SILENCE_DB = -200.0


def true_peak_fir(taps_per_phase: int = TAPS_PER_PHASE) -> np.ndarray:
    """The 4x interpolator for true-peak detection, float64 shape (4 * taps_per_phase + 1,).

    An odd-length Kaiser-windowed sinc (beta 6) with its cutoff at the original
    Nyquist frequency and a gain of 4. Its polyphase rows ``h[k::4]`` give the
    points between samples as BS.1770-4 Annex 2 describes; row 0 is a pure delay
    of ``taps_per_phase // 2`` samples (the original samples themselves), so only
    rows 1..3 need computing. With 24 taps per phase the response is flat within
    0.01 dB to 20 kHz at 48 kHz (BS.1770-4's 12-tap example droops by more than
    1 dB there) and steady sines read within 0.02 dB of their true peak.

    Examples
    --------
    >>> h = true_peak_fir()
    >>> h.shape, float(h[48])
    ((97,), 1.0)
    """
    from scipy.signal import firwin

    n = OVERSAMPLE * taps_per_phase + 1
    h = np.asarray(firwin(n, 0.5, window=("kaiser", 6.0), fs=OVERSAMPLE), dtype=np.float64)
    out: np.ndarray = h / h[n // 2]  # phase 0 reproduces the samples exactly
    return out


def _as_channels(audio: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[np.newaxis, :]
    if a.ndim != 2 or a.shape[1] == 0:
        raise AudioFileError(f"{what}: expected audio shaped (channels, frames), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise AudioFileError(f"{what}: audio holds non-finite samples")
    return a


def true_peak_dbtp(audio: np.ndarray, sr: float) -> float:
    """Maximum true-peak level in dBTP over all channels (4x oversampled, BS.1770-4).

    Parameters
    ----------
    audio : float array, shape (channels, frames) or (frames,)
    sr : float
        Sample rate in Hz (the 4x interpolator is used at every rate).

    Returns
    -------
    float
        ``20 log10`` of the largest absolute sample or interpolated value; -200.0
        for digital silence.

    Examples
    --------
    >>> x = 0.5 * np.sin(2 * np.pi * 1000 / 48000 * np.arange(4800))
    >>> round(true_peak_dbtp(x, 48000), 1)
    -6.0
    """
    a = _as_channels(audio, "true_peak_dbtp")
    h = true_peak_fir()
    # rows 1..3 of the polyphase matrix, reversed so each output is a forward dot product
    phases = np.ascontiguousarray(np.stack([h[k::OVERSAMPLE][:TAPS_PER_PHASE][::-1] for k in (1, 2, 3)]))
    peak = float(np.max(np.abs(a)))
    for ch in a:
        peak = max(peak, _interpolated_peak(np.ascontiguousarray(ch, dtype=np.float64), phases))
    return 20.0 * math.log10(peak) if peak > 0 else SILENCE_DB


@njit(cache=True, nogil=True, error_model="numpy", fastmath=True)
def _peak_kernel(xp: np.ndarray, phases: np.ndarray) -> float:
    taps = phases.shape[1]
    best = 0.0
    for n in range(xp.shape[0] - taps + 1):
        for k in range(phases.shape[0]):
            acc = 0.0
            for j in range(taps):
                acc += phases[k, j] * xp[n + j]
            best = max(best, abs(acc))
    return best


def _interpolated_peak(x: np.ndarray, phases: np.ndarray) -> float:
    """Largest |value| of the three interpolated phases (phase 0 is the samples themselves)."""
    pad = phases.shape[1]
    return float(_peak_kernel(np.pad(x, (pad, pad)), phases))


def integrated_lufs(audio: np.ndarray, sr: float) -> float:
    """Gated integrated loudness in LUFS (BS.1770-4, via pyloudnorm).

    Parameters
    ----------
    audio : float array, shape (channels, frames) or (frames,); up to 5 channels
    sr : float
        Sample rate in Hz.

    Returns
    -------
    float
        LUFS; ``-inf`` when every block is below the -70 LUFS absolute gate.

    Examples
    --------
    >>> t = np.arange(48000 * 5) / 48000
    >>> x = np.tile(10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t), (2, 1))
    >>> round(integrated_lufs(x, 48000), 1)
    -23.0
    """
    import pyloudnorm

    a = _as_channels(audio, "integrated_lufs")
    if a.shape[1] < int(0.4 * sr):
        raise AudioFileError(
            f"integrated_lufs: need at least 0.4 s of audio, got {a.shape[1]} frames"
        )
    return float(pyloudnorm.Meter(sr).integrated_loudness(a.T.astype(np.float64)))


def _k_weighted(a: np.ndarray, sr: float) -> np.ndarray:
    """K-weighting of BS.1770-4 (pyloudnorm's filter design) along the last axis."""
    from pyloudnorm.iirfilter import IIRfilter
    from scipy.signal import lfilter

    stages = (
        IIRfilter(4.0, 1 / math.sqrt(2), 1500.0, sr, "high_shelf"),
        IIRfilter(0.0, 0.5, 38.0, sr, "high_pass"),
    )
    y = a.astype(np.float64)
    for f in stages:
        b, den = f.generate_coefficients()
        y = lfilter(b, den, y, axis=-1)
    return y


def short_term_loudness(audio: np.ndarray, sr: float, hop_s: float = 0.1) -> np.ndarray:
    """Short-term loudness (3 s sliding window) in LUFS every ``hop_s`` seconds.

    Returns
    -------
    float64 array, shape (windows,)
        One value per window that fits entirely in the audio (empty when shorter than 3 s).
    """
    a = _as_channels(audio, "short_term_loudness")
    if a.shape[0] > len(CHANNEL_WEIGHTS):
        raise AudioFileError(f"short_term_loudness: at most 5 channels, got {a.shape[0]}")
    y = _k_weighted(a, sr)
    win = int(round(3.0 * sr))
    hop = int(round(hop_s * sr))
    if y.shape[1] < win:
        return np.empty(0)
    y *= y
    if win % hop == 0:  # the usual case: sum each hop once, then slide over hop sums (8x less work)
        per_win, n = win // hop, (y.shape[1] - win) // hop + 1
        hops = y[:, : (n + per_win - 1) * hop].reshape(y.shape[0], -1, hop).sum(axis=2)
        csum = np.concatenate([np.zeros((y.shape[0], 1)), np.cumsum(hops, axis=1)], axis=1)
        ms = (csum[:, per_win : per_win + n] - csum[:, :n]) / win
    else:
        csum = np.zeros((y.shape[0], y.shape[1] + 1))
        np.cumsum(y, axis=1, out=csum[:, 1:])
        starts = np.arange(0, y.shape[1] - win + 1, hop)
        ms = (csum[:, starts + win] - csum[:, starts]) / win
    power = np.asarray(CHANNEL_WEIGHTS[: a.shape[0]]) @ ms
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(power)


def loudness_range(audio: np.ndarray, sr: float) -> float:
    """Loudness range in LU (EBU Tech 3342).

    Short-term loudness (3 s windows every 100 ms), absolute gate -70 LUFS,
    relative gate 20 LU below the power mean of the remaining windows, then the
    spread between the 10th and 95th percentiles.

    Returns
    -------
    float
        LU; 0.0 when nothing passes the gates or the audio is shorter than 3 s.

    Examples
    --------
    >>> t = np.arange(48000 * 40) / 48000
    >>> level = np.where(t < 20, 10 ** (-20 / 20), 10 ** (-30 / 20))
    >>> x = np.tile(level * np.sin(2 * np.pi * 1000 * t), (2, 1))
    >>> round(loudness_range(x, 48000))
    10
    """
    st = short_term_loudness(audio, sr)
    st = st[st >= -70.0]
    if st.size == 0:
        return 0.0
    rel = 10.0 * math.log10(float(np.mean(10.0 ** (st / 10.0)))) - 20.0
    st = st[st >= rel]
    if st.size == 0:
        return 0.0
    lo, hi = np.percentile(st, [10.0, 95.0])
    return float(hi - lo)


def _run_limiter(audio: np.ndarray, sr: float, host: PluginHost, ceiling_dbtp: float,
                 block: int) -> np.ndarray:
    """The host's ``limiter`` over ``audio`` block by block, latency compensated."""
    lim = host.create("limiter", ceiling_dbtp=ceiling_dbtp)
    channels, frames = audio.shape
    lim.prepare(sr, block, channels)
    delay = lim.latency
    padded = np.zeros((channels, frames + delay), dtype=np.float32)
    padded[:, :frames] = audio
    for start in range(0, padded.shape[1], block):
        lim.process(padded[:, start : start + block])
    return padded[:, delay:]


def master(
    audio: np.ndarray,
    sr: float,
    host: PluginHost,
    target_lufs: float = -14.0,
    ceiling_dbtp: float = -1.0,
    block: int = 1024,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Normalise ``audio`` to ``target_lufs`` and true-peak limit it to ``ceiling_dbtp``.

    The gain is set from the integrated loudness, then the host's ``limiter``
    processor runs block by block (its latency compensated and its lookahead
    flushed, so the output lines up with the input sample for sample). If the
    limiter pulled the loudness down by more than 0.05 LU, the gain is raised by
    the shortfall and the limiter runs once more.

    Parameters
    ----------
    audio : float32 array, shape (channels, frames)
    sr : float
        Sample rate in Hz.
    host : PluginHost
        Provides the ``limiter`` processor.
    target_lufs : float
        Integrated loudness target in LUFS.
    ceiling_dbtp : float
        True-peak ceiling in dBTP.
    block : int
        Block size in frames for the limiter.

    Returns
    -------
    audio : float32 array, shape (channels, frames)
    report : dict
        ``lufs_before``, ``lufs_after``, ``lra_before``, ``lra_after`` (LU),
        ``true_peak_before``, ``true_peak_after`` (dBTP), ``gain_db`` applied,
        ``target_lufs``, ``ceiling_dbtp``, ``passes`` and ``warnings``.

    Examples
    --------
    >>> out, report = master(mix, 48000, host)    # doctest: +SKIP
    >>> round(report["lufs_after"], 1)            # doctest: +SKIP
    -14.0
    """
    a = _as_channels(audio, "master").astype(np.float32)
    warnings: list[str] = []
    before = integrated_lufs(a, sr)
    report: dict[str, Any] = {
        "target_lufs": target_lufs,
        "ceiling_dbtp": ceiling_dbtp,
        "lufs_before": before,
        "lra_before": loudness_range(a, sr),
        "true_peak_before": true_peak_dbtp(a, sr),
    }
    if not math.isfinite(before):
        warnings.append("master: audio is silent (below the -70 LUFS gate); no gain applied")
        gain_db = 0.0
        out = _run_limiter(a, sr, host, ceiling_dbtp, block)
        after = integrated_lufs(out, sr)
        passes = 1
    else:
        gain_db = target_lufs - before
        passes = 0
        for _ in range(2):
            gain = np.float32(10.0 ** (gain_db / 20.0))
            out = _run_limiter(a * gain, sr, host, ceiling_dbtp, block)
            passes += 1
            after = integrated_lufs(out, sr)
            shortfall = target_lufs - after
            if shortfall <= 0.05:
                break
            gain_db += shortfall
        if shortfall > 0.1:
            warnings.append(
                f"master: limiter held loudness {shortfall:.2f} LU below the target "
                f"{target_lufs:g} LUFS at a {ceiling_dbtp:g} dBTP ceiling"
            )
    report.update(
        gain_db=gain_db,
        passes=passes,
        lufs_after=after,
        lra_after=loudness_range(out, sr),
        true_peak_after=true_peak_dbtp(out, sr),
        warnings=warnings,
    )
    return out, report
