"""Auto-tune to a scale: offline (tracked pitch + PSOLA) and real time (numba YIN + PSOLA).

Both quantise the slowly varying centre of the sung pitch to the nearest note of
the scale and glide the correction with the retune time, so vibrato and small
natural deviations ride on top (``humanize``). Auto-tune is off by default
(``EnhancementSettings.enable_auto_tune``); nothing here runs unless asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit

from core.errors import ParameterError
from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor
from core.smoothing import smooth_params
from plugins.psola import UNVOICED_PERIOD_S, cubic_at, psola_contour

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}
SCALES: dict[str, tuple[int, ...]] = {
    "chromatic": tuple(range(12)),
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
    "major pentatonic": (0, 2, 4, 7, 9),
    "minor pentatonic": (0, 3, 5, 7, 10),
}
RT_SCALES = ("chromatic", "major", "minor")


def note_class(name: str) -> int:
    """Pitch class 0..11 of a note name ("C", "F#", "Bb"); ParameterError otherwise."""
    n = name.strip()
    n = _FLATS.get(n, n)
    if n[:1].islower():
        n = n[0].upper() + n[1:]
    if n not in NOTE_NAMES:
        raise ParameterError(f"unknown note {name!r} (use C, C#/Db, D, ... B)")
    return NOTE_NAMES.index(n)


def parse_scale(key: str | Sequence[str]) -> np.ndarray:
    """Allowed pitch classes as a 12-element bool mask.

    ``key`` is "chromatic", "<root> <scale>" ("C major", "A minor", "F# harmonic
    minor"), a comma-separated note set ("C, D, E, G, A") or a list of note names.

    Examples
    --------
    >>> np.flatnonzero(parse_scale("A minor")).tolist()
    [0, 2, 4, 5, 7, 9, 11]
    """
    mask = np.zeros(12, dtype=bool)
    if not isinstance(key, str):
        for n in key:
            mask[note_class(n)] = True
    elif "," in key:
        for n in key.split(","):
            mask[note_class(n)] = True
    elif key.strip().lower() == "chromatic":
        mask[:] = True
    else:
        root, _, scale = key.strip().partition(" ")
        scale = " ".join(scale.lower().split()) or "major"
        if scale not in SCALES:
            raise ParameterError(f"unknown scale {scale!r} in key {key!r} (scales: {', '.join(SCALES)})")
        r = note_class(root)
        for step in SCALES[scale]:
            mask[(r + step) % 12] = True
    if not mask.any():
        raise ParameterError(f"key {key!r} allows no notes")
    return mask


def hz_to_midi(f: np.ndarray) -> np.ndarray:
    return 69.0 + 12.0 * np.log2(np.maximum(f, 1e-6) / 440.0)


def nearest_note(midi: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The nearest allowed MIDI note (integer-valued float) for each value in ``midi``."""
    base = np.round(midi)
    best = np.full(midi.shape, np.nan)
    dist = np.full(midi.shape, np.inf)
    for off in range(-6, 7):
        cand = base + off
        ok = mask[cand.astype(np.int64) % 12]
        d = np.abs(cand - midi)
        take = ok & (d < dist)
        best[take] = cand[take]
        dist[take] = d[take]
    return best


def smooth_midi(midi: np.ndarray, voiced: np.ndarray, hop_s: float, cutoff_hz: float = 3.0) -> np.ndarray:
    """Zero-phase low-pass of a MIDI pitch contour inside each voiced run (frames at ``hop_s``)."""
    from scipy.signal import butter, sosfiltfilt

    out = midi.copy()
    fs = 1.0 / hop_s
    if cutoff_hz >= fs / 2:
        return out
    sos = butter(2, cutoff_hz / (fs / 2), output="sos")
    edges = np.flatnonzero(np.diff(np.r_[0, voiced.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        seg = midi[a:b]
        if seg.size > 15:
            out[a:b] = sosfiltfilt(sos, seg, padlen=min(seg.size - 1, 3 * 6))
        else:
            out[a:b] = np.median(seg)
    return out


def correction_contour(
    times: np.ndarray,
    f0: np.ndarray,
    confidence: np.ndarray,
    key: str | Sequence[str] = "chromatic",
    retune_ms: float = 50.0,
    humanize: float = 0.0,
    voicing_threshold: float = 0.5,
) -> np.ndarray:
    """Per-frame pitch correction in semitones (0 where unvoiced).

    The target is the nearest scale note to the pitch centre; ``humanize`` (0..1)
    keeps that share of the deviation from the centre (vibrato, scoops); the
    correction glides toward its target with time constant ``retune_ms`` and
    starts from zero at every voiced onset.
    """
    if not 0.0 <= humanize <= 1.0:
        raise ParameterError(f"humanize: {humanize} is outside [0, 1]")
    if retune_ms < 0:
        raise ParameterError(f"retune_ms: {retune_ms} must be >= 0")
    mask = parse_scale(key)
    hop_s = float(times[1] - times[0]) if times.size > 1 else 0.01
    voiced = confidence >= voicing_threshold
    midi = hz_to_midi(f0)
    centre = smooth_midi(midi, voiced, hop_s)
    target = nearest_note(centre, mask)
    desired = np.where(voiced, target - midi + humanize * (midi - centre), 0.0)
    a = 1.0 if retune_ms == 0 else 1.0 - math.exp(-hop_s / (retune_ms * 1e-3))
    corr = np.zeros_like(desired)
    prev = 0.0
    for k in range(desired.size):
        prev = prev + a * (desired[k] - prev) if voiced[k] else 0.0
        corr[k] = prev
    return corr


def shift_by_contour(
    audio: np.ndarray,
    sample_rate: int,
    times: np.ndarray,
    f0: np.ndarray,
    confidence: np.ndarray,
    semitones: np.ndarray,
    voicing_threshold: float = 0.5,
) -> np.ndarray:
    """Formant-preserving PSOLA shift of ``audio`` by a per-frame semitone contour."""
    voiced = confidence >= voicing_threshold
    period = np.where(voiced, 1.0 / np.maximum(f0, 20.0), UNVOICED_PERIOD_S)
    return psola_contour(audio, sample_rate, times, period, semitones, voiced)


def autotune(
    audio: np.ndarray,
    sample_rate: int,
    key: str | Sequence[str] = "chromatic",
    retune_ms: float = 50.0,
    humanize: float = 0.0,
    method: str = "crepe",
    model: str = "tiny",
    pitch: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Tune a monophonic vocal to a scale offline (same length, formants kept).

    Parameters
    ----------
    audio : float32 array, shape (frames,) or (channels, frames)
    sample_rate : int
        Hz.
    key : str or list of str
        See :func:`parse_scale`.
    retune_ms : float
        Glide time constant of the correction (0 = hard tune).
    humanize : float
        0..1 share of vibrato and small deviations kept.
    method, model : str
        Pitch tracker (see :func:`plugins.pitch.track_pitch`).
    pitch : (times, f0, confidence), optional
        A contour already tracked (skips tracking).

    Returns
    -------
    audio : float32 array, same shape
    report : dict
        Key, tracker, mean absolute correction in cents, voiced share.

    Examples
    --------
    >>> sr = 16000; t = np.arange(sr) / sr
    >>> x = np.sin(2 * np.pi * 449.0 * t).astype(np.float32)
    >>> y, rep = autotune(x, sr, key="A major", retune_ms=0, method="pyin")  # doctest: +SKIP
    """
    from plugins.pitch import track_pitch

    parse_scale(key)  # validate before the expensive tracking
    if pitch is None:
        pitch = track_pitch(audio, sample_rate, method=method, model=model)
    times, f0, conf = pitch
    corr = correction_contour(times, f0, conf, key, retune_ms, humanize)
    out = shift_by_contour(audio, sample_rate, times, f0, conf, corr)
    voiced = conf >= 0.5
    report = {
        "stage": "autotune",
        "key": key if isinstance(key, str) else ",".join(key),
        "retune_ms": retune_ms,
        "humanize": humanize,
        "tracker": f"{method}:{model}" if method == "crepe" else method,
        "voiced_share": float(voiced.mean()) if voiced.size else 0.0,
        "mean_abs_correction_cents": float(np.abs(corr[voiced]).mean() * 100) if voiced.any() else 0.0,
    }
    return out, report


# ---------------------------------------------------------------- real time
# cfg slots (float64 state): constants set in after_reset
SR, LATENCY, MAXP, MINP, HOP, MASK, DECIM = range(7)
YIN_RATE = 16000.0  # the detector runs decimated to about this rate: 9x less work at 48 kHz
# run slots: counters and the tracker's latest estimate
N_IN, DELTA, TS, PERIOD, CORR, HOPCNT, N_DEC, ACC = range(8)
KEY, SCALE, RETUNE_MS, AMOUNT = range(4)
FMIN_HZ, FMAX_HZ, YIN_THRESHOLD = 80.0, 1000.0, 0.15


@njit(cache=True, nogil=True, error_model="numpy")
def _yin(buf: np.ndarray, mask: int, end: int, maxp: int, minp: int, d: np.ndarray) -> float:
    """YIN period (samples, fractional) of the ``2 * maxp`` samples before ``end``.

    Returns 0 when no dip falls below the threshold (unvoiced).
    """
    start = end - 2 * maxp
    d[0] = 1.0
    running = 0.0
    for tau in range(1, maxp + 1):
        acc = 0.0
        for j in range(maxp):
            diff = buf[(start + j) & mask] - buf[(start + j + tau) & mask]
            acc += diff * diff
        running += acc
        d[tau] = acc * tau / running if running > 0.0 else 1.0
    tau = minp
    while tau < maxp:
        if d[tau] < YIN_THRESHOLD:
            while tau + 1 < maxp and d[tau + 1] < d[tau]:
                tau += 1
            a, b, c = d[tau - 1], d[tau], d[tau + 1]
            den = a - 2.0 * b + c
            shift = 0.5 * (a - c) / den if den > 0.0 else 0.0
            return tau + shift
        tau += 1
    return 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def autotune_kernel(audio, sidechain, targets, current, coefs, cfg, run, scales, inbuf, mono, outbuf, wsum, yin):  # type: ignore[no-untyped-def]
    """Per-sample ring buffers: YIN every hop, PSOLA grains as soon as their input exists."""
    channels, frames = audio.shape
    sr = cfg[SR]
    lat = int(cfg[LATENCY])
    dec = int(cfg[DECIM])
    maxp = int(cfg[MAXP]) // dec + 1
    minp = max(2, int(cfg[MINP]) // dec)
    hop = int(cfg[HOP])
    m = int(cfg[MASK])
    unv = UNVOICED_PERIOD_S * sr
    for i in range(frames):
        smooth_params(current, targets, coefs)
        n = int(run[N_IN])
        s = 0.0
        for c in range(channels):
            inbuf[c, n & m] = audio[c, i]
            s += audio[c, i]
        # box-car average then keep every dec-th: a cheap anti-alias for the detector only
        run[ACC] += s / channels
        n += 1
        run[N_IN] = n
        if n % dec == 0:
            nd = int(run[N_DEC])
            mono[nd & m] = run[ACC] / dec
            run[N_DEC] = nd + 1
            run[ACC] = 0.0
        run[HOPCNT] += 1.0
        if run[HOPCNT] >= hop and run[N_DEC] >= 2 * maxp:
            run[HOPCNT] = 0.0
            p = _yin(mono, m, int(run[N_DEC]), maxp, minp, yin) * dec
            desired = 0.0
            if p > 0.0:
                midi = 69.0 + 12.0 * math.log2(sr / p / 440.0)
                root = int(current[KEY] + 0.5)
                row = int(current[SCALE] + 0.5)
                base = math.floor(midi + 0.5)
                best = 1e9
                for off in range(-6, 7):
                    cand = base + off
                    if scales[row, (int(cand) - root) % 12] > 0.0 and abs(cand - midi) < abs(best - midi):
                        best = cand
                desired = (best - midi) * current[AMOUNT]
                run[PERIOD] = p
            else:
                run[PERIOD] = unv
            tau = current[RETUNE_MS] * 1e-3 * sr
            a = 1.0 if tau <= 0.0 else 1.0 - math.exp(-hop / tau)
            run[CORR] += a * (desired - run[CORR])
        per = run[PERIOD]
        ratio = 2.0 ** (run[CORR] / 12.0)
        while run[TS] + 1.5 * per + 2.0 < n:
            ts = run[TS]
            delta = run[DELTA] - per * math.floor(run[DELTA] / per + 0.5)
            ta = ts + delta
            for d in range(int(math.ceil(ts - per)), int(ts + per) + 1):
                u = d - ts
                if d < 0 or ta + u < 1.0 or abs(u) >= per:
                    continue
                w = 0.5 + 0.5 * math.cos(math.pi * u / per)
                for c in range(channels):
                    outbuf[c, d & m] += w * cubic_at(inbuf[c], ta + u, m)
                wsum[d & m] += w
            step = per / ratio
            run[TS] = ts + step
            run[DELTA] = delta + per - step
        o = n - 1 - lat
        if o < 0:
            for c in range(channels):
                audio[c, i] = 0.0
        else:
            k = o & m
            g = 1.0 / wsum[k] if wsum[k] > 1e-3 else 0.0
            for c in range(channels):
                audio[c, i] = outbuf[c, k] * g
                outbuf[c, k] = 0.0
            wsum[k] = 0.0


class AutoTune(Processor):
    """Real-time auto-tune: numba YIN pitch detection and PSOLA correction to a scale.

    The detector runs every 5 ms on a copy decimated to about 16 kHz; the
    correction uses fractional-sample PSOLA grains at the full rate.

    Latency is fixed by the lowest pitch it follows (80 Hz): about 31 ms at
    48 kHz, reported by :attr:`latency`. Output does not depend on block size.

    Examples
    --------
    >>> at = AutoTune(key="A", scale="major", retune_ms=20.0); at.prepare(48000, 256, 1)
    >>> at.latency
    1502
    """

    name = "autotune"
    params = (
        Param("key", 0.0, 0, 11, scale="choice", choices=NOTE_NAMES, doc="Root of the scale"),
        Param("scale", 1.0, 0, 2, scale="choice", choices=RT_SCALES, doc="Scale the notes snap to"),
        Param(
            "retune_ms",
            20.0,
            0.0,
            1000.0,
            unit="ms",
            smoothing_ms=0.0,
            doc="Correction glide time (0 = hard tune)",
        ),
        Param("amount", 1.0, 0.0, 1.0, smoothing_ms=50.0, doc="Share of the correction applied"),
    )
    kernel = autotune_kernel

    def _sizes(self) -> tuple[int, int, int, int]:
        maxp = int(math.ceil(self.sample_rate / FMIN_HZ))
        minp = max(2, int(self.sample_rate / FMAX_HZ))
        lat = int(2.5 * maxp) + 2
        size = 1 << int(math.ceil(math.log2(lat + 4 * maxp + 16)))
        return maxp, minp, lat, size

    @property
    def latency(self) -> int:
        return self._sizes()[2] if self.sample_rate else 0

    def allocate(self) -> tuple[np.ndarray, ...]:
        maxp, _minp, _lat, size = self._sizes()
        return (
            np.zeros(7),  # cfg
            np.zeros(8),  # run
            np.zeros((len(RT_SCALES), 12)),
            np.zeros((self.channels, size), np.float32),
            np.zeros(size, np.float32),
            np.zeros((self.channels, size)),
            np.zeros(size),
            np.zeros(maxp + 2),
        )

    def after_reset(self) -> None:
        maxp, minp, lat, size = self._sizes()
        cfg, run, scales = self.state[0], self.state[1], self.state[2]
        cfg[:] = (
            self.sample_rate,
            lat,
            maxp,
            minp,
            max(1, int(self.sample_rate * 0.005)),
            size - 1,
            max(1, int(self.sample_rate // YIN_RATE)),
        )
        run[PERIOD] = UNVOICED_PERIOD_S * self.sample_rate
        for r, nm in enumerate(RT_SCALES):
            scales[r, list(SCALES[nm])] = 1.0


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [AutoTune]
