"""Pictures of what a command did: spectra, loudness over time, gain change per stage, pitch.

The measuring functions return plain arrays; each ``*_figure`` function draws
them on a matplotlib ``Figure`` (its own Agg canvas: no pyplot, no global state),
whose lines a test or a report can read back before :func:`png` renders it.
matplotlib is imported here only, and this module only when a picture is asked
for, so ``import core`` and ``mixbridge --help`` stay light.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from core import loudness

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Curve = tuple[np.ndarray, np.ndarray]  # x, y
LEVEL_HOP_S = 0.1
FLOOR_DB = -120.0
OUTSIDE = {"fontsize": 9, "loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}  # legends right of the axes
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


# ------------------------------------------------------------------ measures
def spectrum(audio: np.ndarray, sr: int, points: int = 240, octave: float = 1 / 6) -> Curve:
    """Power spectrum (Welch, 8192-point Hann), smoothed over ``octave``-wide bands, in dBFS/Hz.

    Channels are averaged as power. Returns ``points`` log-spaced frequencies from
    20 Hz to 20 kHz (or just below Nyquist) and the mean power density in each band.
    """
    from scipy.signal import welch

    a = np.atleast_2d(audio)
    f, p = welch(a, sr, nperseg=min(8192, a.shape[1]), axis=-1)
    p = np.mean(p, axis=0, dtype=np.float64)
    df = f[1] - f[0]
    edges = np.concatenate([[0.0], f + df / 2])  # bin k spans [f_k - df/2, f_k + df/2]
    integral = np.concatenate([[0.0], np.cumsum(p * df)])
    fc = np.geomspace(20.0, min(20000.0, 0.49 * sr), points)
    lo, hi = fc * 2 ** (-octave / 2), np.minimum(fc * 2 ** (octave / 2), edges[-1])
    mean = (np.interp(hi, edges, integral) - np.interp(lo, edges, integral)) / (hi - lo)
    return fc, 10.0 * np.log10(np.maximum(mean, 10 ** (FLOOR_DB / 10)))


def true_peak_track(audio: np.ndarray, sr: int, hop_s: float = LEVEL_HOP_S) -> Curve:
    """True peak (dBTP, the meter's own 4x interpolator) of each ``hop_s`` block, at the block centres."""
    from scipy.signal import upfirdn

    a = np.atleast_2d(audio)
    h = loudness.true_peak_fir()
    delay, margin = (h.size - 1) // 2, h.size // loudness.OVERSAMPLE
    hop = max(1, int(round(hop_s * sr)))
    frames = a.shape[1]
    peaks = np.zeros(-(-frames // hop))
    chunk = hop * 100
    for ch in a:
        for start in range(0, frames, chunk):  # 4x oversampling in chunks: bounded memory for a song
            stop = min(frames, start + chunk)
            lo, hi = max(0, start - margin), min(frames, stop + margin)
            y = np.abs(upfirdn(h, ch[lo:hi], up=loudness.OVERSAMPLE))
            y = y[delay + 4 * (start - lo) : delay + 4 * (stop - lo)]
            blocks = -(-(stop - start) // hop)
            y = np.pad(y, (0, blocks * 4 * hop - y.size))
            part = slice(start // hop, start // hop + blocks)
            peaks[part] = np.maximum(peaks[part], y.reshape(blocks, -1).max(axis=1))
    t = (np.arange(peaks.size) + 0.5) * hop / sr
    return t, 20.0 * np.log10(np.maximum(peaks, 10 ** (FLOOR_DB / 20)))


def level_tracks(audio: np.ndarray, sr: int, hop_s: float = LEVEL_HOP_S) -> dict[str, Curve]:
    """Momentary and short-term loudness (LUFS, at each window's end) and true peak (dBTP) over time."""
    momentary, short = loudness.loudness_over_time(audio, sr, hop_s)
    return {
        "momentary": (0.4 + hop_s * np.arange(momentary.size), momentary),
        "short_term": (3.0 + hop_s * np.arange(short.size), short),
        "true_peak": true_peak_track(audio, sr, hop_s),
    }


def envelope_db(audio: np.ndarray, sr: int, window_s: float = 0.05, hop_s: float = 0.01) -> Curve:
    """RMS level (dBFS, channels averaged as power) in ``window_s`` windows every ``hop_s``, at window centres."""
    a = np.atleast_2d(audio)
    power = np.zeros(a.shape[1] + 1)
    for ch in a:  # one float64 row at a time
        power[1:] += np.cumsum(np.square(ch, dtype=np.float64))
    win, hop = max(1, int(window_s * sr)), max(1, int(hop_s * sr))
    starts = np.arange(0, max(a.shape[1] - win, 0) + 1, hop)
    ms = (power[starts + min(win, a.shape[1])] - power[starts]) / (min(win, a.shape[1]) * a.shape[0])
    return (starts + win / 2) / sr, 10.0 * np.log10(np.maximum(ms, 10 ** (FLOOR_DB / 10)))


def gain_change(before: Curve, after: Curve, below_peak_db: float = 30.0) -> Curve:
    """What a stage did to the level over time: output minus input envelope (dB).

    Where the input is more than ``below_peak_db`` under its loudest point (gaps,
    fades, the tail) the ratio says nothing about the processor and is left out (NaN).
    """
    t, a = before
    n = min(a.size, after[1].size)
    g = after[1][:n] - a[:n]
    g[a[:n] < a.max() - below_peak_db] = np.nan
    return t[:n], g


class StageTaps:
    """A render observer: each stage's input and output envelope, and spectra of what ``spectra`` names.

    Pass it as ``observe=`` to ``core.render.render``; it keeps only small arrays.
    Stages named in ``levels`` also get their loudness and true-peak tracks.
    """

    def __init__(self, sr: int, levels: tuple[str, ...] = ("loudness",)) -> None:
        self.sr = sr
        self.levels_of = levels
        self.envelopes: dict[tuple[str, str], Curve] = {}
        self.spectra: dict[tuple[str, str], Curve] = {}
        self.levels: dict[tuple[str, str], dict[str, Curve]] = {}

    def __call__(self, stage: str, side: str, audio: np.ndarray) -> None:
        self.envelopes[stage, side] = envelope_db(audio, self.sr)
        self.spectra[stage, side] = spectrum(audio, self.sr)
        if stage in self.levels_of and audio.shape[1] >= 0.4 * self.sr:
            self.levels[stage, side] = level_tracks(audio, self.sr)

    def gains(self) -> dict[str, Curve]:
        """Each observed stage's gain change over time (output/input envelope)."""
        return {stage: gain_change(self.envelopes[stage, "in"], self.envelopes[stage, "out"])
                for stage, side in self.envelopes if side == "in" and (stage, "out") in self.envelopes}


# ------------------------------------------------------------------ figures
def _figure(rows: int = 1, height: float = 4.2) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, height * rows), dpi=110, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    for ax in axes:
        ax.grid(True, which="both", alpha=0.25)
        ax.tick_params(labelsize=10)
    return fig, axes


def spectrum_figure(before: dict[str, Curve], after: dict[str, Curve], title: str) -> Figure:
    """Smoothed spectra on a log frequency axis: ``before`` curves dashed, ``after`` solid."""
    fig, (ax,) = _figure()
    for label, (f, db) in before.items():
        ax.semilogx(f, db, "--", lw=1.4, label=label)
    for label, (f, db) in after.items():
        ax.semilogx(f, db, "-", lw=2.0, label=label)
    ys = np.concatenate([db for _, db in [*before.values(), *after.values()]])
    ax.set_ylim(max(ys.max() - 90.0, ys.min()) - 3, ys.max() + 6)
    ax.set_xlim(20, max(f[-1] for f, _ in [*before.values(), *after.values()]))
    ax.set_xlabel("frequency (Hz)", fontsize=11)
    ax.set_ylabel("power density (dBFS/Hz, 1/6-octave smoothed)", fontsize=11)
    ax.set_title(title, fontsize=12)
    ax.legend(fontsize=10, loc="lower left")
    return fig


def loudness_figure(tracks: dict[str, dict[str, Curve]], target_lufs: float | None,
                    ceiling_dbtp: float | None, title: str) -> Figure:
    """Loudness over time (short-term bold, momentary faint) above true peak per 100 ms, with target and ceiling."""
    fig, (top, bottom) = _figure(2, 3.0)
    lows: list[float] = []
    highs: list[float] = []
    for i, (label, lv) in enumerate(tracks.items()):
        color = f"C{i}"
        top.plot(*_finite(lv["momentary"]), lw=0.8, alpha=0.45, color=color, label=f"{label}: momentary (400 ms)")
        top.plot(*_finite(lv["short_term"]), lw=2.0, color=color, label=f"{label}: short-term (3 s)")
        bottom.plot(*lv["true_peak"], lw=1.0, color=color, label=f"{label}: true peak per 100 ms")
        finite = np.concatenate([v[np.isfinite(v)] for v in (lv["momentary"][1], lv["short_term"][1])])
        if finite.size:
            lows.append(float(np.percentile(finite, 5)))
            highs.append(float(finite.max()))
    if target_lufs is not None:
        top.axhline(target_lufs, color="red", ls="--", lw=1.5, label=f"target {target_lufs:g} LUFS")
        lows.append(target_lufs)
        highs.append(target_lufs)
    if lows:
        top.set_ylim(max(min(lows) - 6, -70.0), max(highs) + 3)
    if ceiling_dbtp is not None:
        bottom.axhline(ceiling_dbtp, color="red", ls="--", lw=1.5, label=f"ceiling {ceiling_dbtp:g} dBTP")
    peaks = np.concatenate([lv["true_peak"][1] for lv in tracks.values()])
    bottom.set_ylim(max(float(np.percentile(peaks, 5)) - 6, -60.0), max(float(peaks.max()), ceiling_dbtp or -60.0) + 2)
    top.set_ylabel("loudness (LUFS)", fontsize=11)
    bottom.set_ylabel("true peak (dBTP)", fontsize=11)
    bottom.set_xlabel("time (s)", fontsize=11)
    top.set_title(title, fontsize=12)
    top.legend(**OUTSIDE)
    bottom.legend(**OUTSIDE)
    return fig


def gain_figure(gains: dict[str, Curve], title: str) -> Figure:
    """Gain change of each stage over time (dB; below 0 = reduction); gaps where the input was near silent."""
    fig, (ax,) = _figure()
    for label, (t, g) in gains.items():
        ax.plot(t, g, lw=1.2, label=label)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel("time (s)", fontsize=11)
    ax.set_ylabel("gain change, output / input (dB)", fontsize=11)
    ax.set_title(title, fontsize=12)
    ax.legend(**OUTSIDE)
    return fig


def pitch_figure(before: tuple[np.ndarray, ...], after: tuple[np.ndarray, ...] | None,
                 scale: np.ndarray | None, title: str, labels: tuple[str, str] = ("before", "after")) -> Figure:
    """Sung pitch over time (voiced frames, in notes) before and after, over the scale's note lines.

    ``before``/``after`` are ``(times, f0_hz, confidence)``; ``scale`` a 12-element
    bool mask of allowed pitch classes (C = 0), or None for no note lines.
    """
    fig, (ax,) = _figure()
    sung = []
    for (label, contour), style in zip(((labels[0], before), (labels[1], after)), ("--", "-"), strict=True):
        if contour is None:
            continue
        t, midi = voiced_midi(*contour)
        sung.append(midi[np.isfinite(midi)])
        ax.plot(t, midi, style, lw=1.3 if style == "--" else 1.8, label=label)
    notes = np.concatenate(sung) if sung else np.array([])
    if notes.size:  # the range actually sung: a tracker's stray octave jump must not squash the notes
        lo, hi = math.floor(np.percentile(notes, 2)) - 2, math.ceil(np.percentile(notes, 98)) + 2
    else:
        lo, hi = 57, 69
    ticks = [m for m in range(lo, hi + 1) if scale is None or scale[m % 12]]
    if scale is not None:
        for m in ticks:
            ax.axhline(m, color="grey", lw=0.6, alpha=0.6)
    ax.set_yticks(ticks if len(ticks) <= 24 else ticks[:: math.ceil(len(ticks) / 24)])
    ax.set_yticklabels([note_name(m) for m in ax.get_yticks()], fontsize=9)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("time (s)", fontsize=11)
    ax.set_ylabel("pitch (note; lines: the scale)" if scale is not None else "pitch (note)", fontsize=11)
    ax.set_title(title, fontsize=12)
    ax.legend(fontsize=10, loc="upper right")
    return fig


def voiced_midi(times: np.ndarray, f0: np.ndarray, confidence: np.ndarray, threshold: float = 0.5) -> Curve:
    """The pitch in MIDI note numbers where the frame is voiced, NaN elsewhere (so a plot shows gaps)."""
    midi = 69.0 + 12.0 * np.log2(np.maximum(f0, 1e-6) / 440.0)
    return times, np.where(confidence >= threshold, midi, np.nan)


def note_name(midi: float) -> str:
    m = int(round(midi))
    return f"{NOTE_NAMES[m % 12]}{m // 12 - 1}"


def _finite(curve: Curve) -> Curve:
    """-inf (silence) drawn as a gap, not as a plunge off the axes."""
    return curve[0], np.where(np.isfinite(curve[1]), curve[1], np.nan)


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
