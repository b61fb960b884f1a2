"""A procedural instrumental: drums, bass and chords in a key and tempo, styled by genre.

Every sound is synthesised with vectorised numpy: drums from swept sines and filtered
noise, basses and chord instruments additively (band-limited saws, plucked partials
with per-partial decay, two-operator FM keys). Each note is rendered once per distinct
(pitch, length) and added wherever it plays, so a three-minute song takes about a
second. A :class:`Style` per genre sets the 16-step patterns, swing, instruments,
chord progression and stereo placement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import signal

from core.errors import ParameterError, UnknownGenreError
from core.genres import resolve
from plugins.generators.music_theory import Key, midi_to_hz, parse_key

PEAK = 10 ** (-6 / 20)  # output peak, -6 dBFS: headroom for the mix and master stages


@dataclass(frozen=True)
class Style:
    """How a genre plays. Patterns are 16 steps per 4/4 bar; a letter is a hit, '.' a rest.

    ``kick``/``snare``/``hat`` letters: ``x`` hit, ``o`` open hat or accent, ``g`` ghost.
    ``bass`` letters: ``R`` root, ``5`` fifth, ``8`` octave, ``W`` a walking-bass beat.
    ``comp``: when the chord instrument strikes (``x``); ``"hold"`` sustains each bar.
    """

    kick: str
    snare: str
    hat: str
    bass: str
    comp: str
    kit: str  # "acoustic", "electronic", "jazz", "soft" or "none"
    bass_sound: str  # "sub", "saw", "pluck", "upright", "pick"
    chord_sound: str  # "pad", "ep", "piano", "power", "strum", "strings"
    major: tuple[int, ...]  # progression, scale degrees (0 = tonic), one chord per bar
    minor: tuple[int, ...]
    swing8: float = 0.0  # delay of off-beat eighths, share of a beat (1/6 = triplet swing)
    swing16: float = 0.0  # delay of off-beat sixteenths, share of a sixteenth
    sevenths: bool = False
    arp: str = ""  # an extra arpeggio line (piano), pattern of chord-tone indices or '.'
    chord_gain: float = 1.0  # chord level relative to LEVEL["chord"]
    dominant: bool = False  # in minor keys, V takes the raised leading tone (harmonic minor)


STYLES: dict[str, Style] = {
    "pop": Style(
        "x.......x.x.....",
        "....x.......x...",
        "x.x.x.x.x.x.x.x.",
        "R.....R.R...5...",
        "x.......x.......",
        "acoustic",
        "pick",
        "piano",
        (0, 4, 5, 3),
        (0, 5, 2, 6),
    ),
    "rock": Style(
        "x.....x.x.......",
        "....x.......x...",
        "x.x.x.x.x.x.x.x.",
        "R.R.R.R.R.R.R.R.",
        "x.x.x.x.x.x.x.x.",
        "acoustic",
        "pick",
        "power",
        (0, 3, 4, 3),
        (0, 5, 6, 0),
    ),
    "hip-hop": Style(
        "x.........x.....",
        "....x.......x...",
        "x.x.x.x.x.x.x.x.",
        "R.........R.....",
        "hold",
        "electronic",
        "sub",
        "ep",
        (0, 5, 3, 4),
        (0, 0, 5, 6),
        swing16=0.25,
        sevenths=True,
    ),
    "electronic": Style(
        "x...x...x...x...",
        "....x.......x...",
        "..o...o...o...o.",
        "..R...R...R...R.",
        "hold",
        "electronic",
        "saw",
        "pad",
        (5, 3, 0, 4),
        (0, 0, 5, 6),
        chord_gain=2.0,
    ),
    "jazz": Style(
        "x.......x.......",
        "............g...",
        "x...x.x.x...x.x.",
        "W...W...W...W...",
        "...x.....x......",
        "jazz",
        "upright",
        "ep",
        (0, 5, 1, 4),
        (1, 4, 0, 0),
        swing8=1 / 6,
        sevenths=True,
        dominant=True,
    ),
    "classical": Style(
        "",
        "",
        "",
        "R.......5.......",
        "hold",
        "none",
        "pluck",
        "strings",
        (0, 3, 4, 0),
        (0, 3, 4, 0),
        arp="0.2.1.2.0.2.1.2.",
        dominant=True,
    ),
    "r&b": Style(
        "x......x..x.....",
        "....x.......x...",
        "xxxxxxxxxxxxxxxx",
        "R.......R..5....",
        "hold",
        "electronic",
        "sub",
        "ep",
        (0, 5, 1, 4),
        (0, 3, 6, 2),
        swing16=0.2,
        sevenths=True,
    ),
    "country": Style(
        "x.......x.......",
        "....x.......x...",
        "x.x.x.x.x.x.x.x.",
        "R...5...R...5...",
        "..x...x...x...x.",
        "acoustic",
        "pick",
        "strum",
        (0, 3, 0, 4),
        (0, 3, 0, 4),
        dominant=True,
    ),
    "acoustic": Style(
        "x.........x.....",
        "....x.......x...",
        "xxxxxxxxxxxxxxxx",
        "R.......R.......",
        "x..x..x.x.x.x.x.",
        "soft",
        "pluck",
        "strum",
        (0, 5, 3, 4),
        (0, 5, 6, 4),
    ),
}
# Constant-power pan positions, -1 left .. 1 right.
PAN = {"kick": 0.0, "snare": 0.08, "hat": 0.35, "ride": -0.35, "bass": 0.0, "arp": 0.3}
LEVEL = {
    "kick": 0.9,
    "snare": 0.6,
    "hat": 0.18,
    "ride": 0.16,
    "bass": 0.55,
    "chord": 0.22,
    "arp": 0.16,
}


def style_for(genre: str) -> tuple[str, Style]:
    """The canonical genre name (core.genres) and its :class:`Style`.

    Examples
    --------
    >>> style_for("Hip Hop")[0]
    'hip-hop'
    """
    g = resolve(genre)
    if g not in STYLES:
        raise UnknownGenreError(f"genre {g!r} has no instrumental style (styles: {', '.join(STYLES)})")
    return g, STYLES[g]


def progression(genre: str, key: str | Key) -> tuple[int, ...]:
    """The genre's chord progression in ``key``: scale degrees (0 = tonic), one per bar.

    Pass it to :func:`plugins.generators.singer.sing` so the melody lands on the chords
    the instrumental plays.

    Examples
    --------
    >>> progression("pop", "A minor"), progression("pop", "C major")
    ((0, 5, 2, 6), (0, 4, 5, 3))
    """
    k = key if isinstance(key, Key) else parse_key(key)
    style = style_for(genre)[1]
    return style.minor if k.is_minor else style.major


# -- drum sounds --------------------------------------------------------------------------
def _t(seconds: float, sr: int) -> np.ndarray:
    return np.arange(int(seconds * sr)) / sr


def _hp_noise(n: int, cutoff: float, sr: int, rng: np.random.Generator, order: int = 4) -> np.ndarray:
    """High-passed white noise; the cutoff stays below 0.4 sr at low sample rates."""
    sos = signal.butter(order, min(cutoff, 0.4 * sr), btype="highpass", fs=sr, output="sos")
    return signal.sosfilt(sos, rng.standard_normal(n))


def _bp_noise(n: int, lo: float, hi: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Band-passed white noise; a band above 0.45 sr slides down under it."""
    hi = min(hi, 0.45 * sr)
    sos = signal.butter(2, (min(lo, 0.5 * hi), hi), btype="bandpass", fs=sr, output="sos")
    return signal.sosfilt(sos, rng.standard_normal(n))


def drum_kit(kit: str, sr: int, rng: np.random.Generator, tonic_hz: float = 55.0) -> dict[str, np.ndarray]:
    """One-shot drum samples for a kit, each a float64 mono array peaking near 1.

    The kick's pitch falls to ``tonic_hz`` (the key's tonic in octave 1), as producers
    tune kicks and 808s to the song: an untuned kick would sound as a stray bass note.
    """
    electronic = kit == "electronic"
    t = _t(0.5 if electronic else 0.35, sr)
    f = tonic_hz + (130 if electronic else 100) * np.exp(-t / (0.04 if electronic else 0.025))
    kick = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / (0.25 if electronic else 0.14))
    kick[: int(0.003 * sr)] += 0.4 * rng.standard_normal(int(0.003 * sr))
    t = _t(0.3, sr)
    if electronic:  # clap: three quick noise bursts and a short tail
        env = sum(np.exp(-np.clip(t - d, 0, None) / 0.008) * (t >= d) for d in (0, 0.011, 0.022))
        env = env + 0.5 * np.exp(-np.clip(t - 0.022, 0, None) / 0.08) * (t >= 0.022)
        snare = _bp_noise(t.size, 900, 2500, sr, rng) * env * 3.0
    elif kit == "jazz":  # brushed: soft, long, dark noise
        snare = _bp_noise(t.size, 400, 4000, sr, rng) * np.exp(-t / 0.12) * np.minimum(1, t / 0.01)
    else:
        snare = 0.6 * np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.05) + _hp_noise(t.size, 1500, sr, rng) * np.exp(
            -t / (0.09 if kit == "soft" else 0.12)
        )
    t = _t(0.08, sr)
    if kit == "soft":  # shaker
        hat = _bp_noise(t.size, 4000, 10000, sr, rng) * np.sin(np.pi * t / t[-1]) ** 2
    else:
        hat = _hp_noise(t.size, 7000, sr, rng) * np.exp(-t / 0.018)
    t = _t(0.45, sr)
    open_hat = _hp_noise(t.size, 6500, sr, rng) * np.exp(-t / 0.12)
    t = _t(1.2, sr)
    partials = np.array([1.0, 1.483, 1.932, 2.546, 2.63, 3.897]) * 430
    ride = (np.sin(2 * np.pi * partials[:, None] * t).sum(0) * 0.08 + _hp_noise(t.size, 5000, sr, rng)) * np.exp(
        -t / 0.5
    )
    t = _t(2.0, sr)
    crash = (_hp_noise(t.size, 4000, sr, rng) + 0.3 * _bp_noise(t.size, 2500, 6000, sr, rng)) * np.exp(-t / 0.7)
    kit_samples = {"kick": kick, "snare": snare, "hat": hat, "open": open_hat, "ride": ride, "crash": crash}
    return {k: v / np.max(np.abs(v)) for k, v in kit_samples.items()}


# -- tonal sounds -------------------------------------------------------------------------
def _envelope(n: int, sr: int, attack: float, release: float, decay: float | None = None) -> np.ndarray:
    """Attack ramp, optional exponential decay (time constant, s), raised-cosine release."""
    t = np.arange(n) / sr
    env = np.minimum(1.0, t / attack) if attack > 0 else np.ones(n)
    if decay is not None:
        env = env * np.exp(-t / decay)
    r = min(n, int(release * sr))
    if r > 0:
        env[n - r :] *= np.cos(0.5 * np.pi * np.arange(r) / r) ** 2
    return env


def _additive(
    hz: float,
    n: int,
    sr: int,
    amps: np.ndarray,
    decays: np.ndarray | None = None,
    stretch: float = 0.0,
) -> np.ndarray:
    """Sum of harmonics k = 1..K (amplitudes ``amps``), dropped above 0.45 sr."""
    k = np.arange(1, amps.size + 1)
    freqs = hz * k * np.sqrt(1 + stretch * k * k)
    keep = freqs < 0.45 * sr
    t = np.arange(n) / sr
    parts = np.sin(2 * np.pi * freqs[keep, None] * t) * amps[keep, None]
    if decays is not None:
        parts *= np.exp(-t / decays[keep, None])
    return parts.sum(0)


def _saw_amps(hz: float, cutoff: float, count: int = 40) -> np.ndarray:
    """Saw harmonics through a 4th-order low-pass response at ``cutoff`` Hz."""
    k = np.arange(1, count + 1)
    return (1 / k) / np.sqrt(1 + (k * hz / cutoff) ** 8)


def tone(sound: str, midi: float, dur: float, sr: int) -> np.ndarray:
    """One note of a tonal instrument, float64 mono, ``dur`` seconds plus its release.

    Examples
    --------
    >>> tone("piano", 60, 0.5, 8000).shape
    (5200,)
    """
    hz = float(midi_to_hz(midi))
    tail = {"pad": 0.4, "strings": 0.5, "ep": 0.25, "piano": 0.15}.get(sound, 0.05)
    n = int((dur + tail) * sr)
    t = np.arange(n) / sr
    k = np.arange(1, 25)
    if sound == "sub":
        x = np.sin(2 * np.pi * hz * t) + 0.25 * np.sin(4 * np.pi * hz * t)
        return x * _envelope(n, sr, 0.005, tail + 0.02)
    if sound == "saw":
        x = _additive(hz, n, sr, _saw_amps(hz, 900.0, 30))
        return x * _envelope(n, sr, 0.004, tail + 0.02, decay=0.4)
    if sound in ("pluck", "pick", "upright", "strum"):
        bright = {"pluck": 1.0, "pick": 2.0, "upright": 0.5, "strum": 3.0}[sound]
        amps = 1 / k ** (1.6 - 0.2 * bright)
        decays = (1.2 if sound == "upright" else 0.9) / (1 + 0.5 * k / bright)
        x = _additive(hz, n, sr, amps, decays)
        return x * _envelope(n, sr, 0.003, tail + 0.02)
    if sound == "piano":
        amps = 1 / k**1.5
        decays = 1.6 / (1 + 0.35 * k) * (261.6 / hz) ** 0.3
        x = _additive(hz, n, sr, amps[:16], decays[:16], stretch=1e-4)
        return x * _envelope(n, sr, 0.002, tail)
    if sound == "ep":  # two-operator FM with a decaying index: a tine electric piano
        index = 0.3 + 1.5 * np.exp(-t / 0.15)
        x = np.sin(2 * np.pi * hz * t + index * np.sin(2 * np.pi * hz * t))
        return x * _envelope(n, sr, 0.003, tail, decay=1.5)
    if sound in ("pad", "strings"):
        vib = 0.003 * np.sin(2 * np.pi * 5.0 * t) if sound == "strings" else 0.0
        x = np.zeros(n)
        cutoff = 2000.0 if sound == "pad" else 3000.0
        for detune in (-0.006, 0.0, 0.006):
            f = hz * (1 + detune + vib) * np.ones(n)
            phase = 2 * np.pi * np.cumsum(f) / sr
            amps = _saw_amps(hz, cutoff, 24)
            kk = np.arange(1, amps.size + 1)
            keep = (kk * hz < 0.45 * sr) & (amps > 1e-3)  # inaudible partials cost time
            x += (np.sin(kk[keep, None] * phase) * amps[keep, None]).sum(0)
        return x / 3 * _envelope(n, sr, 0.25 if sound == "pad" else 0.35, tail)
    if sound == "power":  # overdriven saw, palm-muted decay
        x = np.tanh(4 * _additive(hz, n, sr, _saw_amps(hz, 3000.0, 30)))
        return x * _envelope(n, sr, 0.002, tail, decay=0.25)
    raise ParameterError(f"sound {sound!r}: unknown instrument")


# -- arrangement --------------------------------------------------------------------------
class _Mixer:
    """Adds mono sounds into a stereo bus at sample offsets with constant-power pan (float32:
    a 3-minute bus is 70 MB, not 140)."""

    def __init__(self, frames: int) -> None:
        self.out = np.zeros((2, frames), dtype=np.float32)

    def add(self, x: np.ndarray, at: float, sr: int, gain: float, pan: float) -> None:
        a = int(round(at * sr))
        if a >= self.out.shape[1] or a + x.size <= 0:
            return
        if a < 0:
            x, a = x[-a:], 0
        n = min(x.size, self.out.shape[1] - a)
        theta = (pan + 1) * np.pi / 4
        self.out[0, a : a + n] += gain * np.cos(theta) * x[:n]
        self.out[1, a : a + n] += gain * np.sin(theta) * x[:n]


ARRANGE_MIN_BARS = 16  # shorter pieces play the groove throughout


def _bar_role(b: int, n_bars: int) -> str:
    """What bar ``b`` does in the arrangement: intro, groove, fill, crash (a new section), end.

    Pieces of at least :data:`ARRANGE_MIN_BARS` bars open with a bar of chords alone,
    mark every eight bars with a fill and a crash, and end on one struck chord.
    """
    if n_bars < ARRANGE_MIN_BARS:
        return "groove"
    if b == 0:
        return "intro"
    if b == n_bars - 1:
        return "end"
    if b % 8 == 7:
        return "fill"
    return "crash" if b % 8 == 0 else "groove"


def _drum_bar(
    mix: _Mixer,
    kit: dict[str, np.ndarray],
    style: Style,
    role: str,
    t0: float,
    beat: float,
    sr: int,
    jitter: Callable[[], float],
    vel: Callable[[float], float],
) -> None:
    """One bar of the style's drum patterns, shaped by the bar's arrangement ``role``."""
    if role == "intro":
        return
    if role in ("crash", "end"):
        mix.add(kit["crash"], t0, sr, LEVEL["hat"] * 1.6, -PAN["hat"])
    if role == "end":
        mix.add(kit["kick"], t0, sr, LEVEL["kick"], PAN["kick"])
        return
    for step in range(16):
        ts = _step_time(t0, step, beat, style)
        if role == "fill" and step >= 12 and style.snare:  # a snare run into the next section
            mix.add(kit["snare"], ts + jitter(), sr, LEVEL["snare"] * (0.7 + 0.15 * (step - 12)), 0.0)
            continue
        for part, pattern in (("kick", style.kick), ("snare", style.snare), ("hat", style.hat)):
            hit = pattern[step] if pattern else "."
            if hit == ".":
                continue
            sample, pan, level = kit[part], PAN[part], LEVEL[part]
            if part == "hat" and hit == "o":  # open hats ping-pong across the image
                sample, pan = kit["open"], 0.6 if (step // 4) % 2 else -0.6
            if part == "hat" and style.kit == "jazz":
                sample, pan, level = kit["ride"], PAN["ride"], LEVEL["ride"]
            if part == "kick" and style.kit == "jazz":
                level *= 0.35
            if hit == "g":
                level *= 0.4
            if part == "hat" and step % 4 != 0:
                level *= 0.7  # accent the beat
            mix.add(sample, ts + jitter(), sr, vel(level), pan)
    if style.kit == "jazz":  # hi-hat foot on 2 and 4
        for beat_i in (1, 3):
            mix.add(kit["hat"], t0 + beat_i * beat, sr, LEVEL["hat"] * 0.6, PAN["hat"])


def _widen(bus: np.ndarray, sr: int, amount: float = 0.5) -> np.ndarray:
    """Feed each side a short delayed copy of the other (13 and 19 ms): a wider image."""
    out = bus.copy()
    for dst, src, ms in ((0, 1, 13.0), (1, 0, 19.0)):
        d = int(ms * sr / 1000)
        out[dst, d:] += amount * bus[src, :-d] - amount * 0.5 * bus[dst, :-d]
    return out


def _step_time(bar_start: float, step: int, beat: float, style: Style) -> float:
    """Onset of 16th ``step`` in a bar, with eighth and sixteenth swing applied."""
    t = bar_start + step * beat / 4
    if step % 4 == 2:
        t += style.swing8 * beat
    if step % 2 == 1:
        t += style.swing16 * beat / 4
    return t


def _voice(notes: list[int], lo: int, hi: int) -> list[int]:
    """Fold chord tones into [lo, hi) so chords move smoothly bar to bar."""
    out = []
    for m in notes:
        while m < lo:
            m += 12
        while m >= hi:
            m -= 12
        out.append(m)
    return sorted(out)


def _walk(key: Key, root: int, next_root: int, rng: np.random.Generator) -> list[int]:
    """Four walking-bass notes: root, two chord or scale tones, a chromatic approach."""
    third = key.snap(root + 3.5)
    fifth = key.snap(root + 7)
    middle = [third, fifth] if rng.random() < 0.5 else [key.snap(root + 2), third]
    return [root, *middle, next_root + (1 if rng.random() < 0.5 else -1)]


def generate(
    genre: str, key: str | Key, bpm: float, duration: float, sample_rate: int = 48000, seed: int = 0
) -> np.ndarray:
    """A procedural instrumental in ``key`` at ``bpm``, styled by ``genre``.

    Parameters
    ----------
    genre : str
        One of :data:`STYLES` (pop, rock, hip-hop, electronic, jazz, classical, r&b,
        country, acoustic) or any alias core.genres knows (``"rap"``, ``"soul"``).
    key : str or Key
        E.g. ``"A minor"``; see :func:`~plugins.generators.music_theory.parse_key`.
    bpm : float
        Tempo in beats per minute, 20-300.
    duration : float
        Seconds; the output has exactly ``round(duration * sample_rate)`` frames.
    sample_rate : int
        Hz.
    seed : int
        Seeds the drum noise, humanised timing and velocities, and the walking bass.

    Returns
    -------
    float32 array, shape (2, frames)
        Stereo, peak-normalised to -6 dBFS.

    Examples
    --------
    >>> generate("jazz", "Bb major", 140, 2.0, 16000).shape
    (2, 32000)
    """
    name, style = style_for(genre)
    k = key if isinstance(key, Key) else parse_key(key)
    if not 20 <= bpm <= 300:
        raise ParameterError(f"bpm = {bpm:g}: must lie in [20, 300]")
    if duration <= 0:
        raise ParameterError(f"duration = {duration:g} s: must be > 0")
    if sample_rate < 8000:
        raise ParameterError(f"sample_rate = {sample_rate}: the instrumental needs >= 8000 Hz")
    sr = int(sample_rate)
    frames = int(round(duration * sr))
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    bar = 4 * beat
    mix = _Mixer(frames)
    chords_bus = _Mixer(frames)
    tonic_hz = float(midi_to_hz(24 + (k.tonic - 5) % 12 + 5))  # F1..E2, 44-82 Hz
    kit = drum_kit(style.kit, sr, rng, tonic_hz) if style.kit != "none" else {}
    chords = progression(name, k)
    size = 4 if style.sevenths else 3
    cache: dict[tuple[str, int, int], np.ndarray] = {}

    def note(sound: str, midi: int, dur: float) -> np.ndarray:
        ck = (sound, midi, int(dur * 1000))
        if ck not in cache:
            cache[ck] = tone(sound, midi, dur, sr)
        return cache[ck]

    def jitter() -> float:
        return float(rng.normal(0, 0.003))

    def vel(base: float = 1.0) -> float:
        return base * float(rng.uniform(0.85, 1.0))

    n_bars = int(np.ceil(duration / bar))
    for b in range(n_bars):
        t0 = b * bar
        role = _bar_role(b, n_bars)
        deg = 0 if role == "end" else chords[b % len(chords)]  # end home, on the tonic
        next_deg = 0 if b + 2 >= n_bars and n_bars >= ARRANGE_MIN_BARS else chords[(b + 1) % len(chords)]
        chord = k.chord(deg, 3, size)
        if style.dominant and k.is_minor and deg == 4:
            chord = Key(k.tonic, "harmonic minor").chord(deg, 3, size)
        root = _voice([chord[0]], 36, 48)[0]
        next_root = _voice([k.chord(next_deg, 3)[0]], 36, 48)[0]
        if kit:
            _drum_bar(mix, kit, style, role, t0, beat, sr, jitter, vel)
        # bass
        walk = _walk(k, root, next_root, rng) if "W" in style.bass else []
        hits = [i for i, c in enumerate(style.bass) if c != "."]
        hits = {"intro": [], "end": [0]}.get(role, hits)
        for j, step in enumerate(hits):
            nxt = hits[j + 1] if j + 1 < len(hits) else 16
            dur = (nxt - step) * beat / 4 * 0.9
            c = style.bass[step]
            midi = {"R": root, "5": root + 7, "8": root + 12}.get(c, root)
            if c == "W":
                midi = walk[step // 4]
            x = note(style.bass_sound, midi, dur)
            mix.add(x, _step_time(t0, step, beat, style) + jitter(), sr, vel(LEVEL["bass"]), 0.0)
        # chords
        voiced = _voice(chord, 55, 72)
        if style.comp == "hold" or role == "end":
            strikes = [(0, 16)]
        else:
            hits = [i for i, c in enumerate(style.comp) if c != "."]
            strikes = [(s, (hits[j + 1] if j + 1 < len(hits) else 16)) for j, s in enumerate(hits)]
        for s, e in strikes:
            dur = (e - s) * beat / 4 * (0.95 if style.chord_sound != "power" else 0.6)
            ts = _step_time(t0, s, beat, style)
            tones = voiced if style.chord_sound != "power" else [voiced[0] - 12, voiced[0] - 5]
            for i, m in enumerate(tones):
                strum = 0.012 * i if style.chord_sound == "strum" else 0.0
                spread = 0.8 * (2 * i / max(1, len(tones) - 1) - 1)
                x = note(style.chord_sound, m, dur)
                chords_bus.add(x, ts + strum + jitter(), sr, vel(LEVEL["chord"] * style.chord_gain), spread)
        # arpeggio
        for step, c in enumerate(style.arp if role != "end" else ""):
            if c == ".":
                continue
            m = voiced[int(c) % len(voiced)] + 12
            x = note("piano", m, beat / 2)
            mix.add(x, _step_time(t0, step, beat, style), sr, vel(LEVEL["arp"]), PAN["arp"])
    out = mix.out
    out += _widen(chords_bus.out, sr)
    del chords_bus
    peak = float(np.max(np.abs(out)))
    if peak > 0:
        out *= np.float32(PEAK / peak)
    return out
