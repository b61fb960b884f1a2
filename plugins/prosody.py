"""Prosody: smooth jittery TTS pitch, vibrato on sustained notes, phrase-end dynamics,
and rule-based per-syllable targets from lyrics.

All pitch changes are one PSOLA pass over a semitone contour (see
:func:`plugins.autotune.shift_by_contour`), so they combine with auto-tune.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from core.errors import ParameterError
from plugins.autotune import hz_to_midi, shift_by_contour, smooth_midi

VOICED = 0.5


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def prosody_contour(
    times: np.ndarray,
    f0: np.ndarray,
    confidence: np.ndarray,
    smooth_hz: float = 6.0,
    vibrato_cents: float = 20.0,
    vibrato_hz: float = 5.5,
    sustain_ms: float = 350.0,
    vibrato_delay_ms: float = 150.0,
) -> tuple[np.ndarray, int]:
    """Semitone correction per frame: jitter removed, vibrato added on sustained notes.

    Returns the contour and how many notes got vibrato.
    """
    voiced = confidence >= VOICED
    hop_s = float(times[1] - times[0]) if times.size > 1 else 0.01
    midi = hz_to_midi(f0)
    corr = np.zeros_like(midi)
    if smooth_hz > 0:
        corr = np.where(voiced, smooth_midi(midi, voiced, hop_s, smooth_hz) - midi, 0.0)
    notes = 0
    if vibrato_cents > 0:
        steady = smooth_midi(midi, voiced, hop_s, 2.0)
        min_frames = int(sustain_ms * 1e-3 / hop_s)
        delay = int(vibrato_delay_ms * 1e-3 / hop_s)
        for a, b in _runs(voiced):
            # a sustained note: long enough and within half a semitone of its own median
            if b - a < min_frames or np.ptp(steady[a + 2 : b - 2]) > 0.5:
                continue
            k = np.arange(b - a - delay)
            if k.size < 4:
                continue
            fade = np.minimum(1.0, np.minimum(k, k[::-1]) / max(1, delay))
            corr[a + delay : b] += (
                vibrato_cents / 100 * fade * np.sin(2 * np.pi * vibrato_hz * k * hop_s)
            )
            notes += 1
    return corr, notes


def phrase_end_gain(
    audio: np.ndarray,
    sample_rate: int,
    end_db: float = -3.0,
    taper_ms: float = 250.0,
    gap_ms: float = 200.0,
    floor_db: float = -40.0,
) -> tuple[np.ndarray, int]:
    """Per-sample gain that eases each phrase's last ``taper_ms`` down to ``end_db``.

    A phrase ends where the level stays ``floor_db`` below the peak for ``gap_ms``.
    """
    x = np.atleast_2d(audio).mean(axis=0, dtype=np.float32)
    hop = max(1, int(0.01 * sample_rate))
    frames = x[: x.size // hop * hop].reshape(-1, hop)
    lvl = 10 * np.log10(np.square(frames).mean(axis=1, dtype=np.float64) + 1e-12)
    quiet = lvl < lvl.max() + floor_db
    gain = np.ones(x.size, dtype=np.float32)
    taper = int(taper_ms * 1e-3 * sample_rate)
    ends = 0
    min_gap = int(gap_ms / 10)
    runs = [(a, b) for a, b in _runs(quiet) if b - a >= min_gap or b == quiet.size]
    for a, _b in runs:
        end = a * hop  # the phrase ends where the gap starts
        if a == 0 or end < taper:
            continue
        ramp = np.linspace(0.0, 1.0, taper)
        gain[end - taper : end] = 10 ** (end_db * ramp / 20)
        ends += 1
    return gain, ends


def enhance_prosody(
    audio: np.ndarray,
    sample_rate: int,
    smooth_hz: float = 6.0,
    vibrato_cents: float = 20.0,
    vibrato_hz: float = 5.5,
    phrase_end_db: float = -3.0,
    pitch: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    extra_semitones: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Prosody enhancement of a monophonic vocal, same length.

    Parameters
    ----------
    audio : float32 array, shape (frames,) or (channels, frames)
    sample_rate : int
        Hz.
    smooth_hz : float
        Pitch contour low-pass; jitter above it is removed (0 = off).
    vibrato_cents, vibrato_hz : float
        Vibrato added on sustained notes (depth 0 = off).
    phrase_end_db : float
        Level reached at the end of each phrase (0 = off).
    pitch : (times, f0, confidence), optional
        Tracked pitch; tracked with torchcrepe tiny (or pyin) when absent.
    extra_semitones : float array, shape like f0, optional
        Another correction to apply in the same PSOLA pass (auto-tune's).

    Returns
    -------
    audio : float32 array, same shape
    report : dict

    Examples
    --------
    >>> y, rep = enhance_prosody(tts_vocal, 24000)   # doctest: +SKIP
    >>> rep["vibrato_notes"]                          # doctest: +SKIP
    3
    """
    from plugins.pitch import track_pitch

    if smooth_hz < 0 or vibrato_cents < 0 or vibrato_hz <= 0:
        raise ParameterError("prosody: smooth_hz and vibrato_cents must be >= 0, vibrato_hz > 0")
    if pitch is None:
        pitch = track_pitch(audio, sample_rate)
    times, f0, conf = pitch
    corr, notes = prosody_contour(times, f0, conf, smooth_hz, vibrato_cents, vibrato_hz)
    if extra_semitones is not None:
        corr = corr + extra_semitones
    y = shift_by_contour(audio, sample_rate, times, f0, conf, corr)
    ends = 0
    if phrase_end_db != 0:
        gain, ends = phrase_end_gain(y, sample_rate, phrase_end_db)
        y *= gain
    voiced = conf >= VOICED
    report = {
        "stage": "prosody",
        "smooth_hz": smooth_hz,
        "jitter_removed_cents": float(np.std(corr[voiced]) * 100) if voiced.any() else 0.0,
        "vibrato_notes": notes,
        "vibrato": {"cents": vibrato_cents, "hz": vibrato_hz},
        "phrase_ends": ends,
        "phrase_end_db": phrase_end_db,
    }
    return y, report


# ---------------------------------------------------------------- from text
FUNCTION_WORDS = frozenset(
    "a an the and or but of to in on at by for with from as is am are was were be been "
    "it its i you he she we they me him her us them my your his our their this that "
    "do does did so if than then not no".split()
)
_VOWELS = re.compile(r"[aeiouy]+", re.IGNORECASE)


def syllables(word: str) -> list[str]:
    """Split a word at vowel groups (a silent final e joins the previous group)."""
    w = word.lower()
    groups = [m.span() for m in _VOWELS.finditer(w)]
    if len(groups) > 1 and w.endswith("e") and groups[-1] == (len(w) - 1, len(w)):
        groups = groups[:-1]
    if len(groups) <= 1:
        return [word]
    cuts = [0]
    for (_, e1), (s2, _) in zip(groups[:-1], groups[1:], strict=True):
        cons = s2 - e1  # consonants between: one goes right, more split
        cuts.append(e1 + (cons // 2 if cons > 1 else 0))
    cuts.append(len(word))
    return [word[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def rule_prosody(lyrics: str) -> list[dict[str, Any]]:
    """Per-syllable stress, duration and pitch target by rule.

    Content words stress their first syllable (2), function words none (0);
    durations grow with stress and at phrase ends (final lengthening);
    pitch declines across a phrase, rises on stress, falls at a statement's
    end and rises at a question's.
    """
    out: list[dict[str, Any]] = []
    for phrase in re.findall(r"[^.!?\n]+[.!?]?", lyrics):
        words = re.findall(r"[A-Za-z']+", phrase)
        if not words:
            continue
        question = phrase.strip().endswith("?")
        sylls = [(w, s, i) for w in words for i, s in enumerate(syllables(w))]
        n = len(sylls)
        for k, (word, syl, i) in enumerate(sylls):
            content = word.lower() not in FUNCTION_WORDS
            stress = 2 if content and i == 0 else (1 if content else 0)
            last = k == n - 1
            duration = 0.22 * (1.0, 1.15, 1.35)[stress] * (1.6 if last else 1.0)
            pitch = -2.0 * k / max(1, n - 1) + (1.5 if stress == 2 else 0.0)
            if last:
                pitch += 3.0 if question else -1.5
            out.append(
                {
                    "syllable": syl,
                    "word": word,
                    "stress": stress,
                    "duration_s": round(duration, 3),
                    "pitch_semitones": round(pitch, 2),
                    "phrase_end": last,
                }
            )
    return out


def predict_prosody(lyrics: str, host: Any = None) -> list[dict[str, Any]]:
    """Per-syllable prosody targets for ``lyrics``.

    A plugin implementing ``mixbridge_predict_prosody`` (an LLM-backed one, say)
    answers first when ``host`` is given; the rules of :func:`rule_prosody` answer
    otherwise.

    Examples
    --------
    >>> [s["stress"] for s in predict_prosody("Hold the light")]
    [2, 0, 2]
    """
    if host is not None:
        found = host.pm.hook.mixbridge_predict_prosody(lyrics=lyrics)
        if found is not None:
            return list(found)
    return rule_prosody(lyrics)
