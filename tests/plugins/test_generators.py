"""The synthetic singer and the procedural instrumental, measured: pitch, formants, tempo, key."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from scipy import signal

from core.errors import ParameterError, UnknownGenreError
from core.host import PluginHost, PluginsConfig
from plugins.generators.instrumental import STYLES, generate, progression, style_for, tone
from plugins.generators.music_theory import (
    KK_MINOR,
    Key,
    estimate_key,
    hz_to_midi,
    midi_to_hz,
    note_to_midi,
    parse_key,
    relative,
)
from plugins.generators.singer import VOWELS, Note, render_notes, sing, syllabify

SR = 16000


# -- music theory -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "tonic", "mode"),
    [
        ("A minor", 9, "minor"),
        ("C# major", 1, "major"),
        ("Bb dorian", 10, "dorian"),
        ("f#m", 6, "minor"),
        ("E♭ Mixolydian", 3, "mixolydian"),
        ("G", 7, "major"),
        ("D harmonic minor", 2, "harmonic minor"),
        ("Cb aeolian", 11, "minor"),
    ],
)
def test_parse_key(text: str, tonic: int, mode: str) -> None:
    assert parse_key(text) == Key(tonic, mode)


@pytest.mark.parametrize(
    ("text", "why"),
    [("H major", "tonic A-G"), ("A blues", "unknown mode"), ("", "tonic A-G"), ("#A", "tonic A-G")],
)
def test_bad_key_names_the_problem(text: str, why: str) -> None:
    with pytest.raises(ParameterError, match=why) as e:
        parse_key(text)
    assert repr(text) in str(e.value)


def test_scales_chords_and_pitch() -> None:
    assert parse_key("A minor").chord(0, 3) == [57, 60, 64]
    assert parse_key("G major").chord(4, 3, size=4) == [62, 66, 69, 72]  # D7
    assert parse_key("D dorian").pitch_classes == (2, 4, 5, 7, 9, 11, 0)
    assert midi_to_hz(69) == 440.0
    assert hz_to_midi(midi_to_hz(61.37)) == pytest.approx(61.37, abs=1e-9)
    assert note_to_midi("Bb3") == 58
    assert estimate_key(np.roll(KK_MINOR, 4))[0] == Key(4, "minor")
    assert relative(Key(9, "minor")) == Key(0, "major")


# -- the singer ---------------------------------------------------------------------------
def _pyin_cents(audio: np.ndarray, notes: list[Note], truth: np.ndarray | None = None):
    """Per voiced frame: cents from the intended note (and from the sung truth if given)."""
    hop = 128
    f0, voiced, _ = librosa.pyin(audio, fmin=70, fmax=500, sr=SR, frame_length=1024, hop_length=hop)
    times = librosa.times_like(f0, sr=SR, hop_length=hop)
    intended = np.full(f0.size, np.nan)
    for n in notes:  # skip the onset scoop (first 80 ms) and the release
        inside = (times >= n.start_s + 0.08) & (times < n.start_s + n.dur_s - 0.03)
        intended[inside] = n.midi
    ok = voiced & ~np.isnan(intended)
    err = 100 * (hz_to_midi(f0[ok]) - intended[ok])
    if truth is None:
        return err, ok
    sung = truth[np.minimum((times[ok] * SR).astype(int), truth.size - 1)]
    return err, 100 * (hz_to_midi(f0[ok]) - hz_to_midi(sung))


def test_render_notes_sings_the_given_pitches() -> None:
    notes = [Note(57, 0.1, 0.6, "a"), Note(62, 0.8, 0.6, "o"), Note(64.5, 1.5, 0.6, "e")]
    line = render_notes(notes, SR, duration=2.3, seed=4, drift_cents=15, vibrato_cents=20)
    assert line.audio.shape == (1, int(2.3 * SR)) and line.audio.dtype == np.float32
    err, vs_truth = _pyin_cents(line.audio[0], line.notes, line.f0_hz)
    assert err.size > 150  # of 184 frames inside the notes
    assert np.median(np.abs(err)) < 35  # within the designed drift + vibrato
    assert np.median(np.abs(vs_truth)) < 10  # pyin agrees with what was sung
    # the quarter-tone note (64.5) is sung as written, not snapped
    third = line.f0_hz[int(1.7 * SR) : int(2.0 * SR)]
    assert np.median(hz_to_midi(third[third > 0])) == pytest.approx(64.5, abs=0.3)


def test_render_notes_in_tune_without_drift_or_vibrato() -> None:
    line = render_notes([(60, 0.0, 1.0, "a")], SR, seed=0, drift_cents=0, vibrato_cents=0)
    settled = line.f0_hz[int(0.3 * SR) : int(0.95 * SR)]
    assert np.max(np.abs(100 * (hz_to_midi(settled) - 60))) < 0.5
    err, _ = _pyin_cents(line.audio[0], line.notes)
    assert np.median(np.abs(err)) < 5


def test_drift_gives_autotune_something_to_correct() -> None:
    line = render_notes([(55, 0.0, 2.0, "o")], SR, seed=2, drift_cents=25, vibrato_cents=0)
    held = line.f0_hz[int(0.3 * SR) : int(1.95 * SR)]
    dev = np.abs(100 * (hz_to_midi(held) - 55))
    assert 5 < np.max(dev) <= 25.5


@pytest.mark.parametrize("vowel", sorted(VOWELS))
def test_vowel_formants(vowel: str) -> None:
    """LPC spectral-envelope peaks of a sustained vowel sit on its F1 and F2."""
    sr = 22050
    line = render_notes([(50, 0.0, 1.0, vowel)], sr, seed=1, drift_cents=0, vibrato_cents=0, breath=False)
    seg = line.audio[0, int(0.3 * sr) : int(0.9 * sr)].astype(np.float64)
    a = librosa.lpc(seg * np.hanning(seg.size), order=12)
    roots = np.roots(a)
    peaks = np.sort(np.angle(roots[np.imag(roots) > 0]) * sr / (2 * np.pi))
    f1, f2 = VOWELS[vowel][0][:2]
    assert min(abs(peaks - f1)) / f1 < 0.15
    assert min(abs(peaks - f2)) / f2 < 0.10


def test_diphthong_glides_between_formants() -> None:
    """A note sung "a" gliding to "i": F2 starts near 1080 Hz and ends near 1870 Hz."""
    sr = 22050
    line = render_notes([Note(50, 0.0, 1.2, "a", glide="i")], sr, seed=1, drift_cents=0, vibrato_cents=0, breath=False)

    def f2(t0: float, t1: float) -> float:
        seg = line.audio[0, int(t0 * sr) : int(t1 * sr)].astype(np.float64)
        roots = np.roots(librosa.lpc(seg * np.hanning(seg.size), order=12))
        peaks = np.sort(np.angle(roots[np.imag(roots) > 0]) * sr / (2 * np.pi))
        return float(peaks[(peaks > 800) & (peaks < 2400)][0])

    assert f2(0.1, 0.45) == pytest.approx(1080, rel=0.1)
    assert f2(0.95, 1.2) == pytest.approx(1870, rel=0.1)


def test_sing_follows_lyrics_in_key() -> None:
    lyrics = "Hold on to the night\nshine on me"
    take = sing(lyrics, "D minor", 110, 7.0, SR, seed=5)
    assert take.audio.shape == (1, 7 * SR)
    sylls = [s for p in syllabify(lyrics) for s in p]
    assert len(take.notes) >= 5
    assert [n.vowel for n in take.notes] == [s.vowel for s in sylls][: len(take.notes)]
    scale = parse_key("D minor").pitch_classes
    assert all(int(n.midi) % 12 in scale for n in take.notes)
    err, ok = _pyin_cents(take.audio[0], take.notes)
    assert ok.sum() > 150
    assert np.median(np.abs(err)) < 35
    assert np.isfinite(take.audio).all() and np.max(np.abs(take.audio)) <= 0.5 + 1e-6


@pytest.mark.parametrize(("genre", "key"), [("jazz", "F major"), ("rock", "B minor")])
def test_melody_lands_on_the_instrumentals_chords(genre: str, key: str) -> None:
    """On the beat, every sung note is a tone of the chord the instrumental plays."""
    bpm, k = 120.0, parse_key(key)
    chords = progression(genre, k)
    take = sing(
        "one two three four five six\nseven eight nine ten",
        k,
        bpm,
        30.0,
        SR,
        seed=3,
        progression=chords,
    )
    bar, on_beat = 4 * 60 / bpm, 0
    for n in take.notes:
        if (n.start_s / (60 / bpm)) % 1 < 1e-6:
            triad = {m % 12 for m in k.chord(chords[int(n.start_s // bar) % len(chords)])}
            assert int(n.midi) % 12 in triad, n
            on_beat += 1
    assert on_beat >= 10


def test_sing_is_deterministic_per_seed() -> None:
    a = sing("", "E major", 120, 3.0, SR, seed=7).audio
    b = sing("", "E major", 120, 3.0, SR, seed=7).audio
    c = sing("", "E major", 120, 3.0, SR, seed=8).audio
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.abs(a).max() > 0.4  # a generated line when there are no lyrics


def test_syllabify() -> None:
    phrases = syllabify("Shine on me\nwe are home tonight")
    # silent final e: "shine" is one syllable, sung a gliding to i, ending on n
    assert [(s.onset, s.vowel, s.coda) for s in phrases[0]] == [
        ("sh", "a", "n"),
        ("", "o", "n"),
        ("m", "e", ""),
    ]
    assert [s.coda for s in phrases[1]] == ["", "r", "m", "", "ght"]
    assert [(s.vowel, s.glide) for s in phrases[1]] == [
        ("e", ""),
        ("a", ""),
        ("o", "u"),
        ("o", ""),
        ("a", "i"),  # home o-u, tonight a-i
    ]
    assert [s.text for s in syllabify("water")[0]] == ["wa", "ter"]  # no silent e there
    assert [(s.vowel, s.glide) for s in syllabify("day you")[0]] == [("e", "i"), ("u", "")]
    assert phrases[1][0].onset == "w"


def test_singer_rejects_bad_input() -> None:
    with pytest.raises(ParameterError, match="vowel"):
        render_notes([(60, 0.0, 0.5, "x")], SR)
    with pytest.raises(ParameterError, match="bpm"):
        sing("la", "A minor", 0, 2.0, SR)
    with pytest.raises(ParameterError, match="'Q minor'"):
        sing("la", "Q minor", 100, 2.0, SR)


# -- the instrumental ---------------------------------------------------------------------
def _tempo(mono: np.ndarray, sr: int, bpm: float) -> float:
    """Tempo from librosa's beat tracker: the mean inter-beat interval of its beats."""
    hop = 128  # fine hop: the tempo estimate is quantised to whole frames
    env = librosa.onset.onset_strength(y=mono, sr=sr, hop_length=hop)
    _, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=hop, units="time")
    return 60.0 / float(np.median(np.diff(beats)))  # median: the tracker's ends may wander


DRUM_GENRES = [
    ("pop", 100),
    ("rock", 132),
    ("hip-hop", 90),
    ("electronic", 126),
    ("jazz", 150),
    ("r&b", 84),
    ("country", 112),
    ("acoustic", 96),
]


@pytest.mark.parametrize(("genre", "bpm"), DRUM_GENRES)
def test_instrumental_tempo(genre: str, bpm: float) -> None:
    sr = 22050
    x = generate(genre, "C major", bpm, 10.0, sr, seed=1)
    assert _tempo(x.mean(0), sr, bpm) == pytest.approx(bpm, rel=0.02)


@pytest.mark.parametrize(
    ("genre", "key"),
    [
        ("pop", "A minor"),
        ("rock", "E major"),
        ("hip-hop", "F# minor"),
        ("electronic", "G minor"),
        ("jazz", "Bb major"),
        ("classical", "D major"),
        ("r&b", "Eb major"),
        ("country", "G major"),
        ("acoustic", "A major"),
    ],
)
def test_instrumental_key(genre: str, key: str) -> None:
    sr = 22050
    x = generate(genre, key, 100, 10.0, sr, seed=2)
    found, r = estimate_key(librosa.feature.chroma_cqt(y=x.mean(0), sr=sr))
    want = parse_key(key)
    assert found in (want, relative(want)), (found.name, r)
    assert r > 0.5


@pytest.mark.parametrize("genre", sorted(STYLES))
def test_instrumental_shape_level_stereo(genre: str) -> None:
    x = generate(genre, "A minor", 120, 3.3, SR)
    assert x.shape == (2, int(round(3.3 * SR))) and x.dtype == np.float32
    assert np.isfinite(x).all()
    assert 20 * np.log10(np.max(np.abs(x))) == pytest.approx(-6.0, abs=0.01)
    # a stereo image above the (mono, as mixes keep it) low end, not dual mono
    hp = signal.butter(4, 300, btype="highpass", fs=SR, output="sos")
    high = signal.sosfilt(hp, x.astype(np.float64))
    assert np.corrcoef(high[0], high[1])[0, 1] < 0.98
    assert np.array_equal(x, generate(genre, "A minor", 120, 3.3, SR))


def test_genres_are_distinct() -> None:
    """Swing in jazz, four-on-the-floor in electronic, no drums in classical."""
    sr = 22050
    onsets = {}
    for g in ("classical", "pop"):
        x = generate(g, "C major", 120, 8.0, sr).mean(0)
        onsets[g] = librosa.onset.onset_strength(y=x, sr=sr, hop_length=256)
    # classical has no percussive transients: its onset envelope is far smoother
    assert np.std(onsets["classical"]) < 0.5 * np.std(onsets["pop"])
    assert style_for("House")[0] == "electronic" and style_for("R&B")[0] == "r&b" and style_for("rnb")[0] == "r&b"
    assert STYLES["electronic"].kick == "x...x...x...x..."
    # where the off-beat onsets fall within the beat: 1/2 straight, 2/3 in triplet swing
    phase = {}
    for g in ("jazz", "pop"):
        x = generate(g, "C major", 120, 8.0, sr).mean(0)
        t = librosa.onset.onset_detect(y=x, sr=sr, hop_length=128, units="time")
        p = (t % 0.5) / 0.5
        phase[g] = np.median(p[(p > 0.35) & (p < 0.9)])
    assert phase["jazz"] == pytest.approx(2 / 3, abs=0.1)
    assert phase["pop"] == pytest.approx(1 / 2, abs=0.06)


@pytest.mark.parametrize(
    "sound",
    ["sub", "saw", "pluck", "pick", "upright", "strum", "piano", "ep", "pad", "strings", "power"],
)
def test_tone_pitch(sound: str) -> None:
    """Every instrument plays the note asked for (yin within 10 cents) with no DC offset."""
    midi = 57 if sound not in ("sub", "saw", "upright") else 45
    x = tone(sound, midi, 0.8, SR)
    assert x.size == int((0.8 + {"pad": 0.4, "strings": 0.5, "ep": 0.25, "piano": 0.15}.get(sound, 0.05)) * SR)
    body = x[int(0.3 * SR) : int(0.7 * SR)]
    f0 = librosa.yin(body, fmin=80 if midi == 57 else 40, fmax=600, sr=SR, frame_length=2048)
    assert np.median(100 * np.abs(hz_to_midi(f0) - midi)) < 10
    assert abs(body.mean()) < 0.02 * np.sqrt(np.mean(body**2))


def test_arrangement_intro_fills_and_ending() -> None:
    """20 bars: chords alone in bar 1, a snare run closing bar 8, a struck tonic chord last."""
    bpm, bars = 200.0, 20
    bar = 240 / bpm
    x = generate("pop", "D major", bpm, bars * bar, SR).mean(0)
    hp = signal.sosfilt(signal.butter(4, 3000, btype="highpass", fs=SR, output="sos"), x)

    def energy(y: np.ndarray, b0: float, b1: float) -> float:
        return float(np.mean(y[int(b0 * bar * SR) : int(b1 * bar * SR)] ** 2))

    # no cymbals or snare in the intro: what is left up there is piano overtones
    assert energy(hp, 0, 1) < 0.15 * energy(hp, 2, 3)
    # the fill bar's last beat holds four snare hits where a groove bar has one backbeat
    assert energy(hp, 7.75, 8) > 2 * energy(hp, 6.75, 7)
    onsets = librosa.onset.onset_detect(y=x, sr=SR, hop_length=128, units="time")
    # the last bar: one strike (no onsets after its first beat), on the tonic chord
    assert not [t for t in onsets if t > (bars - 1 + 0.25) * bar]
    end = x[int((bars - 1) * bar * SR) :]
    chroma = librosa.feature.chroma_cqt(y=end, sr=SR, fmin=librosa.note_to_hz("C3"), n_octaves=5).mean(1)
    assert set(np.argsort(chroma)[-3:]) == {2, 6, 9}  # D, F#, A


@pytest.mark.parametrize("sr", [8000, 11025, 44100])
def test_any_sample_rate(sr: int) -> None:
    """Noise bands above Nyquist slide under it: low rates work and lengths stay exact."""
    for genre in STYLES:
        x = generate(genre, "A minor", 120, 1.3, sr)
        assert x.shape == (2, round(1.3 * sr)) and np.isfinite(x).all()
    v = sing("sister shows such sass, chest", "A minor", 120, 2.3, sr).audio
    assert v.shape == (1, round(2.3 * sr)) and np.isfinite(v).all()
    with pytest.raises(ParameterError, match="8000 Hz"):
        generate("pop", "A minor", 120, 1.0, 4000)


def test_unknown_genre() -> None:
    with pytest.raises(UnknownGenreError, match="unknown genre 'polka'"):
        generate("polka", "C major", 120, 1.0, SR)


# -- the hooks ----------------------------------------------------------------------------
def test_hooks_through_the_host(host) -> None:  # type: ignore[no-untyped-def]
    hook = host.pm.hook
    v = hook.mixbridge_generate_vocals(
        lyrics="la la love", key="G major", bpm=100.0, duration=2.5, sample_rate=SR, style="sung"
    )
    m = hook.mixbridge_generate_music(genre="pop", key="G major", bpm=100.0, duration=2.5, sample_rate=SR)
    assert v.shape == (1, int(2.5 * SR)) and v.dtype == np.float32
    assert np.array_equal(v, sing("la la love", "G major", 100.0, 2.5, SR).audio)
    assert m.shape == (2, int(2.5 * SR)) and m.dtype == np.float32
    assert np.array_equal(m, generate("pop", "G major", 100.0, 2.5, SR))
    with pytest.raises(ParameterError, match="'Z major'"):
        hook.mixbridge_generate_music(genre="pop", key="Z major", bpm=100.0, duration=1.0, sample_rate=SR)


def test_singer_is_the_fallback_for_spoken_vocals() -> None:
    only = PluginHost(PluginsConfig(modules=["plugins.generators"], entry_points=False))
    v = only.pm.hook.mixbridge_generate_vocals(
        lyrics="hello", key="C major", bpm=120.0, duration=1.5, sample_rate=SR, style="spoken"
    )
    assert v.shape == (1, int(1.5 * SR))


def test_cli_writes_wavs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    import soundfile as sf

    from app.cli import main

    music, vocals = tmp_path / "m.wav", tmp_path / "v.wav"
    common = ["--key", "E minor", "--bpm", "100", "--duration", "2", "--sample-rate", str(SR)]
    assert main(["generate", "music", "--genre", "rock", *common, "-o", str(music)]) == 0
    assert main(["generate", "vocals", "--lyrics", "hey now", *common, "-o", str(vocals)]) == 0
    m, sr = sf.read(music, always_2d=True)
    assert sr == SR and m.shape == (2 * SR, 2)
    np.testing.assert_allclose(m.T, generate("rock", "E minor", 100, 2.0, SR), atol=1e-7)
    notes = json.loads((tmp_path / "v.notes.json").read_text())
    assert [n["vowel"] for n in notes][:2] == ["e", "o"]
