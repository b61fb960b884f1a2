"""Keys, scales, chords and pitch conversions shared by the singer and the instrumental.

A key string such as ``"A minor"``, ``"C# major"``, ``"Bb dorian"``, ``"F#m"`` or
``"E♭ mixolydian"`` parses to a :class:`Key`; anything else raises a
:class:`~core.errors.ParameterError` that says what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from core.errors import ParameterError

PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")

# Semitone steps of each mode from its tonic.
MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic minor": (0, 2, 3, 5, 7, 9, 11),
}
MODE_ALIASES = {
    "": "major",
    "maj": "major",
    "ionian": "major",
    "m": "minor",
    "min": "minor",
    "aeolian": "minor",
    "natural minor": "minor",
}
# Modes whose third is minor: they take the minor-key progressions and profiles.
MINOR_MODES = frozenset({"minor", "dorian", "phrygian", "locrian", "harmonic minor", "melodic minor"})

_KEY_RE = re.compile(r"^\s*([A-Ga-g])\s*([#♯b♭]?)\s*(.*?)\s*$")

# Krumhansl-Kessler probe-tone profiles (major, minor), tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Equal-tempered frequency in Hz of a MIDI note number (A4 = 69 = 440 Hz).

    Examples
    --------
    >>> midi_to_hz(69)
    440.0
    """
    hz = 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)
    return float(hz) if hz.ndim == 0 else hz


def hz_to_midi(hz: float | np.ndarray) -> float | np.ndarray:
    """MIDI note number (fractional) of a frequency in Hz; inverse of :func:`midi_to_hz`.

    Examples
    --------
    >>> round(hz_to_midi(261.6255653005986), 6)
    60.0
    """
    midi = 69.0 + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / 440.0)
    return float(midi) if midi.ndim == 0 else midi


def note_to_midi(name: str) -> int:
    """MIDI number of a note name with octave, e.g. ``"A4"`` -> 69, ``"Bb3"`` -> 58.

    Examples
    --------
    >>> note_to_midi("C4"), note_to_midi("F#2")
    (60, 42)
    """
    m = re.fullmatch(r"\s*([A-Ga-g])([#♯b♭]?)(-?\d)\s*", name)
    if not m:
        raise ParameterError(f"note {name!r}: expected a letter A-G, optional # or b, and an octave")
    return _pitch_class(m.group(1), m.group(2)) + 12 * (int(m.group(3)) + 1)


def _pitch_class(letter: str, accidental: str) -> int:
    pc = PITCH_CLASSES[letter.upper()]
    if accidental in ("#", "♯"):
        pc += 1
    elif accidental in ("b", "♭"):
        pc -= 1
    return pc % 12


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C) and a mode name from :data:`MODES`.

    Examples
    --------
    >>> k = parse_key("A minor"); k.tonic, k.mode, k.is_minor
    (9, 'minor', True)
    >>> k.chord(0, octave=3)
    [57, 60, 64]
    """

    tonic: int
    mode: str

    @property
    def is_minor(self) -> bool:
        return self.mode in MINOR_MODES

    @property
    def name(self) -> str:
        names = FLAT_NAMES if self.tonic in (1, 3, 5, 8, 10) and not self.is_minor else SHARP_NAMES
        return f"{names[self.tonic]} {self.mode}"

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        """The scale's pitch classes, tonic first."""
        return tuple((self.tonic + s) % 12 for s in MODES[self.mode])

    def degree(self, degree: int, octave: int = 4) -> int:
        """MIDI note of a scale degree (0 = tonic; negative or >= 7 wrap into octaves)."""
        steps = MODES[self.mode]
        octs, d = divmod(degree, len(steps))
        return 12 * (octave + 1 + octs) + self.tonic + steps[d]

    def chord(self, degree: int, octave: int = 3, size: int = 3) -> list[int]:
        """Diatonic chord stacked in thirds on ``degree``: triad (size 3) or seventh (4)."""
        return [self.degree(degree + 2 * i, octave) for i in range(size)]

    def snap(self, midi: float) -> int:
        """The nearest MIDI note that lies in the scale."""
        base = int(round(midi))
        for off in (0, -1, 1, -2, 2):
            if (base + off) % 12 in self.pitch_classes:
                return base + off
        raise AssertionError("a seven-note scale leaves no gap wider than two semitones")


def parse_key(text: str) -> Key:
    """Parse a key such as ``"A minor"``, ``"C# major"``, ``"Bb dorian"``, ``"F#m"``.

    Parameters
    ----------
    text : str
        Tonic letter A-G (any case), optional ``#``/``b`` (or ``♯``/``♭``), then a mode
        from :data:`MODES` or an alias (``maj``, ``min``, ``m``, ``ionian``, ``aeolian``);
        no mode means major.

    Raises
    ------
    ParameterError
        Naming the string and what a key looks like.

    Examples
    --------
    >>> parse_key("Bb dorian")
    Key(tonic=10, mode='dorian')
    >>> parse_key("f#m").name
    'F# minor'
    """
    if not isinstance(text, str):
        raise ParameterError(f"key {text!r}: expected a string such as 'A minor'")
    m = _KEY_RE.match(text)
    if not m:
        raise ParameterError(
            f"key {text!r}: expected a tonic A-G with optional # or b and a mode, e.g. 'A minor', "
            "'C# major', 'Bb dorian'"
        )
    mode = " ".join(m.group(3).lower().split())
    mode = MODE_ALIASES.get(mode, mode)
    if mode not in MODES:
        raise ParameterError(
            f"key {text!r}: unknown mode {m.group(3)!r}; known modes: {', '.join(MODES)} (or maj, min, m)"
        )
    return Key(_pitch_class(m.group(1), m.group(2)), mode)


def estimate_key(chroma: np.ndarray) -> tuple[Key, float]:
    """The major or minor key whose Krumhansl-Kessler profile best correlates with ``chroma``.

    Parameters
    ----------
    chroma : array, shape (12,) or (12, frames)
        Pitch-class energy, C first (as librosa's chroma features); frames are averaged.

    Returns
    -------
    key : Key
        Mode ``"major"`` or ``"minor"``.
    r : float
        Pearson correlation of the winning profile.

    Examples
    --------
    >>> estimate_key(np.roll(KK_MINOR, 9))[0].name
    'A minor'
    """
    c = np.asarray(chroma, dtype=np.float64)
    if c.ndim == 2:
        c = c.mean(axis=1)
    if c.shape != (12,):
        raise ParameterError(f"chroma: expected 12 pitch classes, got shape {c.shape}")
    best = (Key(0, "major"), -2.0)
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(c, np.roll(profile, tonic))[0, 1])
            if r > best[1]:
                best = (Key(tonic, mode), r)
    return best


def relative(key: Key) -> Key:
    """The relative major of a minor key or the relative minor of a major key."""
    if key.is_minor:
        return Key((key.tonic + 3) % 12, "major")
    return Key((key.tonic + 9) % 12, "minor")
