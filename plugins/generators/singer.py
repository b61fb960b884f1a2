"""A synthetic singer: lyrics to syllables to a melody in the key, sung by a formant synthesiser.

The voice is a source-filter model. A Rosenberg glottal pulse (its time derivative,
which folds in the lip radiation) plus pulse-gated aspiration noise excites a cascade
of five two-pole formant resonators (F1-F5) chosen by each syllable's vowel; nasal and
liquid onsets start on a low murmur formant, plosives and fricatives are shaped noise
bursts before the vowel, phrases begin with an audible breath. Pitch is not perfect:
a slow drift of up to ``drift_cents``, a scoop into phrase starts, glides between
legato notes and a delayed vibrato give an auto-tuner something to correct.

Everything random comes from one ``numpy.random.Generator`` seeded by ``seed``, so a
given input and seed always sing the same take.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from core.errors import ParameterError
from plugins.generators.music_theory import Key, midi_to_hz, parse_key

# Tenor formants (Hz) F1..F5 and bandwidths (Hz), after the classic Csound formant table.
VOWELS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "a": ((650, 1080, 2650, 2900, 3250), (80, 90, 120, 130, 140)),
    "e": ((400, 1700, 2600, 3200, 3580), (70, 80, 100, 120, 120)),
    "i": ((290, 1870, 2800, 3250, 3540), (40, 90, 100, 120, 120)),
    "o": ((400, 800, 2600, 2800, 3000), (40, 80, 100, 120, 120)),
    "u": ((350, 600, 2700, 2900, 3300), (40, 60, 100, 120, 120)),
}
# Nasal/liquid murmur: one low formant, the upper ones weak and wide.
MURMUR = ((250, 1200, 2500, 3300, 3800), (60, 300, 400, 400, 400))

VOICED_ONSETS = set("mnlrwyj")
# Unvoiced (and voiced-plosive) onsets: (centre Hz, bandwidth Hz, burst seconds, level, voiced).
NOISE_ONSETS: dict[str, tuple[float, float, float, float, bool]] = {
    "p": (900, 1200, 0.015, 0.35, False),
    "t": (4200, 3000, 0.020, 0.45, False),
    "k": (2200, 1600, 0.025, 0.45, False),
    "b": (700, 900, 0.010, 0.25, True),
    "d": (3500, 2500, 0.012, 0.30, True),
    "g": (1900, 1400, 0.015, 0.30, True),
    "c": (2200, 1600, 0.025, 0.45, False),
    "q": (2200, 1600, 0.025, 0.45, False),
    "s": (6500, 4000, 0.090, 0.35, False),
    "z": (5500, 3500, 0.070, 0.25, True),
    "x": (6000, 4000, 0.080, 0.35, False),
    "f": (4500, 7000, 0.080, 0.15, False),
    "v": (3500, 5000, 0.060, 0.12, True),
    "h": (1500, 2500, 0.070, 0.20, False),
}
DIGRAPH_ONSETS = {
    "sh": (3000, 2200, 0.100, 0.40, False),
    "ch": (3200, 2400, 0.070, 0.45, False),
    "th": (5000, 6000, 0.070, 0.15, False),
}
VOWEL_GROUPS = {
    "ee": "i",
    "ea": "i",
    "ie": "i",
    "ey": "e",
    "ei": "e",
    "ai": "e",
    "ay": "e",
    "oo": "u",
    "ou": "u",
    "ew": "u",
    "ue": "u",
    "oa": "o",
    "oe": "o",
    "ow": "o",
    "au": "o",
    "aw": "o",
    "y": "i",
}
# Diphthongs: (vowel sung first, vowel glided to), by spelling.
DIPHTHONGS = {
    "ay": ("e", "i"),
    "ai": ("e", "i"),
    "ey": ("e", "i"),
    "ei": ("e", "i"),
    "oy": ("o", "i"),
    "oi": ("o", "i"),
    "ou": ("a", "u"),
}
PURE_OU = frozenset({"you", "your", "yours", "youth", "through", "soup", "group", "could", "would", "should"})
MAGIC_E = {"i": ("a", "i"), "a": ("e", "i"), "o": ("o", "u"), "y": ("a", "i")}
SHORT_BEFORE_E = frozenset(
    {
        "are",
        "were",
        "come",
        "some",
        "done",
        "gone",
        "love",
        "give",
        "have",
        "live",
        "one",
        "none",
        "where",
        "there",
        "here",
        "whose",
        "move",
        "lose",
    }
)
FILLER = ("la", "na", "oh", "ah", "doo", "mm", "ee", "yeah")


@dataclass(frozen=True)
class Syllable:
    """One sung syllable: spelling, onset consonants, vowel (a, e, i, o or u), coda.

    ``glide`` is the vowel a diphthong moves to ("" for a pure vowel).
    """

    text: str
    onset: str
    vowel: str
    coda: str = ""
    glide: str = ""


@dataclass(frozen=True)
class Note:
    """A sung note: MIDI pitch, start and duration (s), vowel, onset and coda consonants.

    ``glide`` names a second vowel the note moves to over its second half (a diphthong).
    """

    midi: float
    start_s: float
    dur_s: float
    vowel: str = "a"
    onset: str = ""
    velocity: float = 1.0
    coda: str = ""
    glide: str = ""


@dataclass
class SungLine:
    """A rendered vocal take.

    Attributes
    ----------
    audio : float32 array, shape (1, frames)
    f0_hz : float32 array, shape (frames,)
        The pitch actually sung at each sample (drift, scoops and vibrato included);
        0 where the voice is silent or unvoiced.
    notes : list of Note
        The intended notes (what an auto-tuner should land on).
    sample_rate : int
    """

    audio: np.ndarray
    f0_hz: np.ndarray
    notes: list[Note] = field(default_factory=list)
    sample_rate: int = 48000


# -- lyrics -------------------------------------------------------------------------------
def syllabify(lyrics: str) -> list[list[Syllable]]:
    """Split lyrics into phrases (one per non-empty line) of syllables, by spelling.

    A syllable is a vowel group with the consonants before it; a word-final silent
    ``e`` joins the previous group and a word-initial ``y`` is a consonant.

    Examples
    --------
    >>> [(s.onset, s.vowel, s.coda) for s in syllabify("Shine on me")[0]]
    [('sh', 'a', 'n'), ('', 'o', 'n'), ('m', 'e', '')]
    """
    phrases = []
    plain = unicodedata.normalize("NFKD", lyrics).encode("ascii", "ignore").decode().lower()
    for line in re.split(r"[\n;]+|(?<=[.!?,])\s+", plain):
        sylls = [s for word in re.findall(r"[a-z']+", line) for s in _word_syllables(word)]
        if sylls:
            phrases.append(sylls)
    return phrases


def _word_syllables(word: str) -> list[Syllable]:
    word = word.replace("'", "")
    parts = re.findall(r"(^y|[^aeiouy]*)([aeiouy]+|$)", word)
    parts = [p for p in parts if p != ("", "")]
    groups = [(c, v) for c, v in parts if v]
    coda = parts[-1][0] if parts and not parts[-1][1] else ""
    magic = ""
    if len(groups) > 1 and word.endswith("e") and groups[-1][0] not in ("", "l") and groups[-1][1] == "e":
        coda = groups.pop()[0]  # silent final e: "shine", "home", "are"
        magic = "" if word in SHORT_BEFORE_E else groups[-1][1]
    if not groups:
        return []
    out = []
    for i, (onset, vgroup) in enumerate(groups):
        vowel = VOWEL_GROUPS.get(vgroup[:2]) or VOWEL_GROUPS.get(vgroup[0]) or vgroup[0]
        last = i == len(groups) - 1
        end = coda if last else ""
        glide = ("", "") if word in PURE_OU else DIPHTHONGS.get(vgroup[:2], ("", ""))
        if last and magic in MAGIC_E:  # "shine" sings a-i, "home" o-u, "day" e-i
            glide = MAGIC_E[magic]
        elif vgroup == "i" and (end.startswith("gh") or (not last and groups[i + 1][0] == "gh")):
            glide = ("a", "i")  # "light", "night"
        if glide[0]:
            vowel = glide[0]
        out.append(Syllable(onset + vgroup + end, onset, vowel, end, glide[1]))
    return out


# -- composition --------------------------------------------------------------------------
def compose(
    phrases: Sequence[Sequence[Syllable]],
    key: Key,
    bpm: float,
    duration: float,
    rng: np.random.Generator,
    progression: Sequence[int] | None = None,
) -> list[Note]:
    """A melody for the phrases: one note per syllable, phrase by phrase, looping the lyrics.

    Each phrase takes two bars (four when long) of 4/4; syllables are eighth notes with
    some lengthened, the last held; a rest of at least a beat closes each phrase. Pitches
    walk the scale around the tonic and land on the bar's chord tones on the beat.
    """
    beat = 60.0 / bpm
    bar = 4 * beat
    prog = list(progression or ((0, 5, 2, 6) if key.is_minor else (0, 4, 5, 3)))
    tonic = 48 + key.tonic if key.tonic >= 4 else 60 + key.tonic  # tonic in E3..D#4
    lo, hi = tonic - 8, tonic + 9
    t = bar if duration >= 8 * bar else 0.0
    notes: list[Note] = []
    deg = 2 * int(rng.integers(0, 2))
    i = 0
    while phrases:
        sylls = phrases[i % len(phrases)]
        n = len(sylls)
        bars = 2 if n <= 12 else 4
        unit = 0.5 * beat if n <= bars * 8 - 2 else 0.25 * beat
        slots = int(round((bars * bar - beat) / unit))
        if n > slots:
            sylls, n = sylls[:slots], slots
        units = np.ones(n, dtype=int)
        extra = min(slots - n, 2 * n)
        units[-1] += min(extra, 3)
        extra -= units[-1] - 1
        if extra > 0 and n > 1:
            units[rng.choice(n - 1, size=min(extra, n - 1), replace=False)] += 1
        ends = t + np.cumsum(units) * unit
        fits = int(np.sum(ends <= duration - 0.05))
        if fits == 0:
            break
        sylls, units, n = sylls[:fits], units[:fits], fits
        pos = 0
        for j, (s, u) in enumerate(zip(sylls, units, strict=True)):
            start = t + pos * unit
            chord_deg = prog[int(start // bar) % len(prog)]
            deg += int(rng.choice((-2, -1, -1, 0, 1, 1, 2)))
            on_beat = (pos * unit) % beat < 1e-9
            if on_beat or j == n - 1:
                # nearest chord tone (root, third or fifth of the bar's chord)
                cands = [chord_deg + k + 7 * o for k in (0, 2, 4) for o in (-2, -1, 0, 1)]
                deg = min(cands, key=lambda c: abs(c - deg))
            midi = tonic + key.degree(deg, 0) - key.degree(0, 0)
            while midi > hi:
                deg -= 7
                midi -= 12
            while midi < lo:
                deg += 7
                midi += 12
            vel = 0.85 + 0.15 * float(on_beat) - 0.1 * float(rng.random())
            notes.append(Note(midi, start, u * unit * 0.97, s.vowel, s.onset, vel, s.coda, s.glide))
            pos += u
        t += bars * bar + (bar if i % 4 == 3 else 0.0)
        i += 1
    return notes


# -- synthesis ----------------------------------------------------------------------------
def _resonator_sos(freqs: Iterable[float], bws: Iterable[float], sr: int) -> np.ndarray:
    """Cascade of two-pole resonators, each with unity gain at DC (Klatt's cascade)."""
    sos = []
    for f, bw in zip(freqs, bws, strict=True):
        if f >= 0.45 * sr:
            continue
        r = np.exp(-np.pi * bw / sr)
        a1, a2 = -2 * r * np.cos(2 * np.pi * f / sr), r * r
        sos.append([1 + a1 + a2, 0.0, 0.0, 1.0, a1, a2])
    return np.asarray(sos)


def _rosenberg_derivative(phase: np.ndarray, open_q: float = 0.4, close_q: float = 0.16) -> np.ndarray:
    """Time derivative (per unit phase) of the Rosenberg glottal pulse at phases in [0, 1)."""
    p = phase % 1.0
    d = np.zeros_like(p)
    rise = p < open_q
    fall = (p >= open_q) & (p < open_q + close_q)
    d[rise] = 0.5 * np.pi / open_q * np.sin(np.pi * p[rise] / open_q)
    d[fall] = -0.5 * np.pi / close_q * np.sin(0.5 * np.pi * (p[fall] - open_q) / close_q)
    return d


def _pitch_track(
    notes: Sequence[Note],
    frames: int,
    sr: int,
    rng: np.random.Generator,
    drift_cents: float,
    vibrato_cents: float,
) -> np.ndarray:
    """Sung pitch in MIDI units per sample (NaN between notes)."""
    midi = np.full(frames, np.nan)
    # slow drift (low-passed noise, ~1 Hz) plus a per-note offset, together within drift_cents
    hop = max(1, sr // 50)
    coarse = signal.sosfiltfilt(signal.butter(2, 1.0, fs=50, output="sos"), rng.standard_normal(frames // hop + 64))[
        32:
    ]
    coarse /= np.std(coarse) or 1.0
    drift = np.interp(np.arange(frames) / hop, np.arange(coarse.size), coarse) * drift_cents / 2
    # flutter: the fast, small (2 cents rms, less for small drifts) irregularity of real folds
    fast = signal.sosfilt(signal.butter(2, 12.0, fs=sr / 16, output="sos"), rng.standard_normal(frames // 16 + 2))
    fast *= min(2.0, drift_cents / 5) / (np.std(fast) or 1.0)
    flutter = np.interp(np.arange(frames) / 16, np.arange(fast.size), fast)
    prev_end, prev_midi = -1.0, float("nan")
    for nt in notes:
        a = int(round(nt.start_s * sr))
        b = min(frames, a + int(round(nt.dur_s * sr)))
        if b <= a:
            continue
        t = np.arange(b - a) / sr
        legato = nt.start_s - prev_end < 0.08
        start_off = (prev_midi - nt.midi) if legato else -0.35 - 0.3 * rng.random()
        glide = start_off * np.exp(-t / (0.025 if legato else 0.04))
        depth = vibrato_cents / 100.0 * np.clip((t - 0.2) / 0.3, 0.0, 1.0)
        rate = 5.2 + 0.8 * rng.random()
        vib = depth * np.sin(2 * np.pi * rate * t + rng.random() * 2 * np.pi)
        offset = np.clip(drift[a:b] + drift_cents * (rng.random() - 0.5), -drift_cents, drift_cents)
        midi[a:b] = nt.midi + glide + vib + (offset + flutter[a:b]) / 100.0
        prev_end, prev_midi = nt.start_s + nt.dur_s, nt.midi
    return midi


def _band_noise(n: int, centre: float, bw: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Band-passed white noise; a band above 0.45 sr slides down under it."""
    hi = min(0.45 * sr, centre + bw / 2)
    lo = min(max(50.0, centre - bw / 2), 0.5 * hi)
    sos = signal.butter(2, (lo, hi), btype="bandpass", fs=sr, output="sos")
    return signal.sosfilt(sos, rng.standard_normal(n))


def render_notes(
    notes: Sequence[Note | tuple[float, float, float, str]],
    sample_rate: int = 48000,
    duration: float | None = None,
    seed: int = 0,
    drift_cents: float = 15.0,
    vibrato_cents: float = 20.0,
    breath: bool = True,
) -> SungLine:
    """Sing given notes with the formant voice.

    Parameters
    ----------
    notes : sequence of Note or (midi_note, start_s, dur_s, vowel)
        Vowels are ``a e i o u``; ``midi_note`` may be fractional (cents off on purpose).
    sample_rate : int
        Hz.
    duration : float, optional
        Output length in seconds (default: the last note's end plus 0.3 s).
    seed : int
        Seeds every random choice (drift, scoops, vibrato phase, noise).
    drift_cents, vibrato_cents : float
        Peak slow pitch drift (per-note offset plus wander; a 2-cent rms flutter rides on
        it) and peak vibrato depth, cents; 0 and 0 sing exactly in tune
        (the short scoop into each phrase and the legato glides remain).
    breath : bool
        Add an inhalation before each phrase and aspiration noise to the voice.

    Returns
    -------
    SungLine
        ``audio`` float32 (1, frames) peaking at -6 dBFS, and the sung ``f0_hz`` per sample.

    Examples
    --------
    >>> line = render_notes([(57, 0.1, 0.5, "a"), (60, 0.6, 0.5, "o")], 16000, duration=1.2, seed=1)
    >>> line.audio.shape
    (1, 19200)
    """
    if sample_rate < 8000:
        raise ParameterError(f"sample_rate = {sample_rate}: the singer needs at least 8000 Hz")
    parsed = [n if isinstance(n, Note) else Note(float(n[0]), float(n[1]), float(n[2]), str(n[3])) for n in notes]
    for nt in parsed:
        if nt.vowel not in VOWELS or (nt.glide and nt.glide not in VOWELS):
            raise ParameterError(f"vowel {nt.vowel!r}/{nt.glide!r}: the singer knows {', '.join(VOWELS)}")
        if nt.dur_s <= 0 or nt.start_s < 0:
            raise ParameterError(f"note {nt}: start must be >= 0 s and duration > 0 s")
    parsed.sort(key=lambda nt: nt.start_s)
    if duration is None:
        duration = max((nt.start_s + nt.dur_s for nt in parsed), default=0.0) + 0.3
    sr = int(sample_rate)
    frames = int(round(duration * sr))
    rng = np.random.default_rng(seed)
    midi = _pitch_track(parsed, frames, sr, rng, drift_cents, vibrato_cents)
    out = np.zeros(frames)
    f0 = np.zeros(frames, dtype=np.float32)
    release = int(0.06 * sr)
    prev_end = -1.0
    vowel_sos = {v: _resonator_sos(f, bw, sr) for v, (f, bw) in VOWELS.items()}
    murmur_sos = _resonator_sos(*MURMUR, sr)
    for nt in parsed:
        a = int(round(nt.start_s * sr))
        n_on = min(frames, a + int(round(nt.dur_s * sr))) - a
        if n_on <= 0:
            continue
        n = min(frames - a, n_on + release)
        m = midi[a : a + n_on]
        hz = np.asarray(midi_to_hz(np.concatenate([m, np.full(n - n_on, m[-1])])))
        f0[a : a + n_on] = hz[:n_on]
        phase = np.cumsum(hz / sr) + rng.random()
        src = _rosenberg_derivative(phase) * hz / sr  # per-sample flow difference
        if breath:
            # aspiration: white noise differenced (tilted up, as turbulence is), loudest
            # while the glottis is open, ~25 dB under the pulse's peak
            open_gate = 0.3 + 0.7 * ((phase % 1.0) < 0.56)
            noise = np.diff(rng.standard_normal(n + 1)) * open_gate
            src += 0.35 * hz / sr * noise
        voice = signal.sosfilt(vowel_sos[nt.vowel], src)
        if nt.glide:  # diphthong: cross to the second vowel's formants over the note's 2nd half
            w = np.clip((np.arange(n) / n_on - 0.45) / 0.35, 0.0, 1.0)
            w = w * w * (3 - 2 * w)
            voice = (1 - w) * voice + w * signal.sosfilt(vowel_sos[nt.glide], src)
        spec = _noise_spec(nt.onset)
        if nt.onset[:1] in VOICED_ONSETS or (spec is not None and spec[4]):  # voice bar
            k = min(n, int(0.1 * sr))
            w = np.clip((np.arange(k) / sr - 0.05) / 0.04, 0.0, 1.0)
            mur = 0.5 * signal.sosfilt(murmur_sos, src[:k])
            voice[:k] = w * voice[:k] + (1 - w) * mur
        env = np.ones(n)
        att = min(n, int(0.03 * sr))
        env[:att] = np.sin(0.5 * np.pi * np.arange(att) / att) ** 2
        env *= np.linspace(1.0, 0.85, n)
        tail = n - n_on
        if tail > 0:
            env[n_on:] *= np.cos(0.5 * np.pi * np.arange(tail) / tail) ** 2
        out[a : a + n] += nt.velocity * env * voice
        _consonant(out, nt.onset, a, sr, rng, vowel_sos[nt.vowel])
        if nt.coda:
            _consonant(out, nt.coda, a + n_on, sr, rng, vowel_sos[nt.vowel], coda=True)
        if breath and nt.start_s - prev_end > 0.45:
            _inhale(out, nt.start_s, sr, rng)
        prev_end = nt.start_s + nt.dur_s
    peak = np.max(np.abs(out))
    if peak > 0:
        out *= 0.5 / peak
    return SungLine(out.astype(np.float32)[None, :], f0, parsed, sr)


def _noise_spec(letters: str) -> tuple[float, float, float, float, bool] | None:
    """The noise consonant among ``letters`` (a digraph first, else the nearest letter)."""
    return DIGRAPH_ONSETS.get(letters[:2]) or NOISE_ONSETS.get(letters[-1:] or " ")


def _consonant(
    out: np.ndarray,
    letters: str,
    at: int,
    sr: int,
    rng: np.random.Generator,
    vowel_sos: np.ndarray,
    coda: bool = False,
) -> None:
    """Add a noise consonant ending at sample ``at`` (an onset) or starting there (a coda)."""
    spec = _noise_spec(letters[-2:] if coda else letters)
    if spec is None:
        return
    centre, bw, dur, level, _ = spec
    n = int(dur * sr)
    a = at if coda else at - n + int(0.005 * sr)
    if a < 0:
        n += a
        a = 0
    n = min(n, out.size - a)
    if n <= 8:
        return
    noise = _band_noise(n, centre, bw, sr, rng)
    if letters[-1:] == "h" and not coda:  # aspiration is shaped by the coming vowel's formants
        noise = signal.sosfilt(vowel_sos, rng.standard_normal(n)) * 0.3
    if dur > 0.03:  # fricative: swells and fades
        env = np.hanning(2 * n)[n // 3 : n // 3 + n]
    else:  # plosive burst: sharp attack, fast decay
        env = np.exp(-np.arange(n) / (0.3 * n))
    scale = level * 0.05 / (np.std(noise) + 1e-12)
    out[a : a + n] += scale * env * noise


def _inhale(out: np.ndarray, start_s: float, sr: int, rng: np.random.Generator) -> None:
    """A soft breath in, 0.3 s long, ending 50 ms before a phrase."""
    n = int(0.3 * sr)
    a = int(round((start_s - 0.35) * sr))
    if a < 0:
        return
    noise = _band_noise(n, 1500.0, 2400.0, sr, rng)
    out[a : a + n] += 0.004 * np.hanning(n) * noise / (np.std(noise) + 1e-12)


def sing(
    lyrics: str,
    key: str | Key,
    bpm: float,
    duration: float,
    sample_rate: int = 48000,
    seed: int = 0,
    drift_cents: float = 15.0,
    vibrato_cents: float = 20.0,
    progression: Sequence[int] | None = None,
) -> SungLine:
    """Compose a melody for ``lyrics`` in ``key`` at ``bpm`` and sing it.

    Parameters
    ----------
    lyrics : str
        One phrase per line; empty means a generated line of filler syllables.
    key : str or Key
        E.g. ``"A minor"``; see :func:`~plugins.generators.music_theory.parse_key`.
    bpm : float
        Tempo, 20-300 beats per minute.
    duration : float
        Output length in seconds (exact to the sample).
    sample_rate : int
        Hz.
    seed : int
        Seeds the melody, the rhythm and every performance detail.
    drift_cents, vibrato_cents : float
        See :func:`render_notes`.
    progression : sequence of int, optional
        Scale degrees (0 = tonic) of the chord under each bar; the melody lands on their
        tones on the beat. Default i-VI-III-VII in minor keys, I-V-vi-IV in major keys.

    Returns
    -------
    SungLine

    Examples
    --------
    >>> take = sing("Hold on\\nwe are home", "A minor", 100, 6.0, 16000, seed=3)
    >>> take.audio.shape, len(take.notes) > 0
    ((1, 96000), True)
    """
    k = key if isinstance(key, Key) else parse_key(key)
    if not 20 <= bpm <= 300:
        raise ParameterError(f"bpm = {bpm:g}: must lie in [20, 300]")
    if duration <= 0:
        raise ParameterError(f"duration = {duration:g} s: must be > 0")
    rng = np.random.default_rng(seed)
    phrases = syllabify(lyrics or "")
    if not phrases:
        phrases = [[_filler(rng) for _ in range(int(rng.integers(5, 10)))] for _ in range(4)]
    notes = compose(phrases, k, bpm, duration, rng, progression)
    return render_notes(notes, sample_rate, duration, seed + 1, drift_cents, vibrato_cents)


def _filler(rng: np.random.Generator) -> Syllable:
    word = FILLER[int(rng.integers(len(FILLER)))]
    return _word_syllables(word)[0] if word != "mm" else Syllable("mm", "m", "u")
