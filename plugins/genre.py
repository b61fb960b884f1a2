"""Genre presets (TOML data in plugins/presets) and an offline genre classifier that may abstain.

A preset holds three lists of slot tables in the session format (``vocal``,
``music``, ``master``) and a ``[mix]`` table (vocal-over-music offset in LU,
loudness target). Presets reach mixbridge through the ``mixbridge_genre_presets``
hook like any outside plugin's would. ``neutral`` is the gentle fallback preset.

The classifier answers the canonical genres of :func:`core.genres.classified`. It is
a balanced multinomial logistic regression over 86 librosa features of 10 s clips
(timbre, band balance, rhythm, texture), trained by ``python -m plugins.genre`` on
the corpus of scripts/corpus.sh (real recordings with an obvious genre and FluidR3_GM
renders of genre-typical MIDI arrangements, train split only) plus the product's own
synthetic music. Its probabilities are temperature-scaled on out-of-fold predictions
(whole files held out), and below the threshold chosen there it abstains: the genre
is ``"neutral"``. Real material appears in only three genres (classical, rock,
electronic); ``mixbridge bench genre`` reports held-out real, rendered and synthetic
figures apart.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from core.audio_io import middle
from core.errors import AudioFileError, ModelUnavailableError, SessionError
from core.genres import classified
from core.hookspecs import hookimpl
from core.specs import check_slot_specs

PRESET_DIR = Path(__file__).resolve().parent / "presets"
MODEL_PATH = Path(__file__).resolve().parent / "genre_model.json"
CLASSES = classified()  # the classifier's labels: the canonical genre names
PRESET_KEYS = {"name", "description", "mix", "vocal", "music", "master"}
MIX_KEYS = {"vocal_offset_lu", "target_lufs"}
FEATURE_SR = 22050
CLIP_S = 10.0  # the classifier's unit: one 10 s clip
WINDOWS = 3  # a song is judged on up to three clips from its middle
FEATURES = 86
BANDS = ((0, 60), (60, 250), (250, 2000), (2000, 6000), (6000, 11025))  # Hz
C_REG = 1.0  # inverse L2 strength
TARGET_ANSWERED = 0.95  # the abstain threshold is set where answers are this often right (out of fold)
SYNTH_PER_GENRE = 6
SYNTH_WEIGHT = 0.3  # a synthetic (genre) cell's weight relative to a real or rendered one


# -- presets -------------------------------------------------------------------------
def load_preset(path: str | Path) -> dict[str, Any]:
    """Read and shape-check one preset file; SessionError names the file and key.

    Examples
    --------
    >>> load_preset(PRESET_DIR / "pop.toml")["name"]
    'pop'
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SessionError(f"{p}: not valid TOML: {e}") from None
    bad = set(data) - PRESET_KEYS
    if bad:
        raise SessionError(f"{p}: unknown key(s) {sorted(bad)} (allowed: {sorted(PRESET_KEYS)})")
    for key in ("name", "mix", "vocal", "music", "master"):
        if key not in data:
            raise SessionError(f"{p}: missing '{key}'")
    bad = set(data["mix"]) - MIX_KEYS
    if bad:
        raise SessionError(f"{p}: [mix]: unknown key(s) {sorted(bad)}")
    for section in ("vocal", "music", "master"):
        check_slot_specs(data[section], f"{p}: {section}")
    return data


@cache
def presets() -> dict[str, dict[str, Any]]:
    """Every preset in plugins/presets, by genre name."""
    out = {}
    for path in sorted(PRESET_DIR.glob("*.toml")):
        data = load_preset(path)
        out[data["name"]] = data
    return out


@hookimpl
def mixbridge_genre_presets() -> dict[str, dict[str, Any]]:
    return presets()


# -- synthetic genre material -------------------------------------------------------
def _env(n: int, sr: int, decay_s: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (decay_s * sr))


def _tone(freq: float, n: int, sr: int, harmonics: int = 1, bright: float = 1.0) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    for h in range(1, harmonics + 1):
        if freq * h < sr / 2:
            out += np.sin(2 * np.pi * freq * h * t) / h**bright
    return out


def _place(buf: np.ndarray, sound: np.ndarray, at: int, gain: float = 1.0) -> None:
    if at >= buf.size:
        return
    m = min(sound.size, buf.size - at)
    buf[at : at + m] += gain * sound[:m]


def _hp_noise(rng: np.random.Generator, n: int, sr: int, cutoff: float) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(2, cutoff, "highpass", fs=sr, output="sos"), rng.standard_normal(n))


STYLE: dict[str, dict[str, Any]] = {
    # bpm range, swing, kick pattern (16ths of a bar), snare, hats per beat, chord voice, bass, distortion
    "pop": dict(bpm=(96, 124), swing=0.0, kick=(0, 8), snare=(4, 12), hats=2, voice="saw", harm=6, bass=2, dist=0.0),
    "rock": dict(bpm=(105, 150), swing=0.0, kick=(0, 6, 8), snare=(4, 12), hats=2, voice="power", harm=10, bass=2,
                 dist=6.0),
    "hip-hop": dict(bpm=(80, 98), swing=0.12, kick=(0, 7, 10), snare=(8,), hats=4, voice="lofi", harm=4, bass=1,
                    dist=0.0, sub=True, vinyl=True),
    "electronic": dict(bpm=(120, 134), swing=0.0, kick=(0, 4, 8, 12), snare=(4, 12), hats=1, voice="supersaw",
                       harm=12, bass=4, dist=0.5, pump=True, offhat=True),
    "jazz": dict(bpm=(110, 180), swing=0.3, kick=(), snare=(), hats=0, voice="piano7", harm=5, bass=4, dist=0.0,
                 ride=True),
    "classical": dict(bpm=(60, 90), swing=0.0, kick=(), snare=(), hats=0, voice="strings", harm=8, bass=0, dist=0.0),
    "r&b": dict(bpm=(66, 90), swing=0.15, kick=(0, 10), snare=(8,), hats=4, voice="epiano", harm=3, bass=1,
                dist=0.0, sub=True),
    "country": dict(bpm=(92, 128), swing=0.0, kick=(0, 8), snare=(2, 6, 10, 14), hats=0, voice="strum", harm=9,
                    bass=2, dist=0.0),
    "acoustic": dict(bpm=(70, 110), swing=0.0, kick=(), snare=(), hats=0, voice="pick", harm=8, bass=0, dist=0.0),
}
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 0), (5, 3, 0, 4), (0, 4, 5, 3))
SCALE = (0, 2, 4, 5, 7, 9, 11)


def synth_clip(genre: str, rng: np.random.Generator, sr: int = FEATURE_SR, seconds: float = CLIP_S) -> np.ndarray:
    """A mono clip with the genre's typical tempo, groove, instruments and spectral balance.

    Randomised per call (key, tempo within the genre's range, progression,
    levels, a little noise), so clips from different seeds differ.

    Examples
    --------
    >>> x = synth_clip("jazz", np.random.default_rng(0)); x.shape
    (132300,)
    """
    s = STYLE[genre]
    n = int(seconds * sr)
    bpm = rng.uniform(*s["bpm"])
    beat = 60.0 / bpm
    six = int(beat / 4 * sr)
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    prog = PROGRESSIONS[rng.integers(len(PROGRESSIONS))]
    drums = np.zeros(n)
    music = np.zeros(n)
    bass = np.zeros(n)
    bars = int(np.ceil(seconds / (4 * beat)))

    def at(step: int, bar: int) -> int:
        swing = s["swing"] * six if step % 2 else 0.0
        return int((bar * 16 + step) * six + swing + rng.normal(0, 0.002 * sr))

    kick = np.sin(2 * np.pi * np.cumsum(np.linspace(140, 45, int(0.25 * sr))) / sr) * _env(int(0.25 * sr), sr, 0.08)
    if s.get("sub"):
        kick = np.sin(2 * np.pi * np.cumsum(np.linspace(90, 42, int(0.7 * sr))) / sr) * _env(int(0.7 * sr), sr, 0.35)
    m_snare = int(0.2 * sr)
    for bar in range(bars):
        for st in s["kick"]:
            _place(drums, kick, max(at(st, bar), 0), rng.uniform(0.8, 1.0))
        for st in s["snare"]:
            sn = _hp_noise(rng, m_snare, sr, 1500) * _env(m_snare, sr, 0.05) + 0.5 * _tone(190, m_snare, sr) * _env(
                m_snare, sr, 0.03)
            _place(drums, sn, max(at(st, bar), 0), 0.5 if genre == "country" else 0.8)
        if s["hats"]:
            step = 4 // s["hats"]
            for st in range(0, 16, step):
                if s.get("offhat") and st % 4 != 2:
                    continue
                m = int(0.04 * sr) if not s.get("offhat") else int(0.12 * sr)
                _place(drums, _hp_noise(rng, m, sr, 7000) * _env(m, sr, 0.015), max(at(st, bar), 0), 0.3)
        if s.get("ride"):
            for st in (0, 4, 6, 8, 12, 14):
                m = int(0.4 * sr)
                ride = (_hp_noise(rng, m, sr, 5000) * 0.3 + _tone(3200, m, sr) * 0.2 + _tone(5100, m, sr) * 0.1)
                _place(drums, ride * _env(m, sr, 0.25), max(at(st, bar), 0), 0.35)
        # harmony
        deg = prog[bar % 4]
        chord = [root * 2 ** (SCALE[(deg + k) % 7] / 12 + (deg + k) // 7) for k in (0, 2, 4, 6)]
        voice = s["voice"]
        if voice in ("saw", "supersaw", "strings", "lofi", "epiano", "power"):
            m = int(4 * beat * sr)
            notes = chord[:3] if voice != "power" else [chord[0], chord[0] * 1.5, chord[0] * 2]
            pad = sum(_tone(f * (1 + d), m, sr, s["harm"]) for f in notes
                      for d in ((0.0, 0.006, -0.006) if voice == "supersaw" else (0.0,)))
            if voice == "strings":
                t = np.arange(m) / sr
                pad *= np.minimum(t / 0.8, 1.0) * (1 + 0.2 * np.sin(2 * np.pi * 0.3 * t))
            if voice == "epiano":
                pad *= 1 + 0.4 * np.sin(2 * np.pi * 5 * np.arange(m) / sr)
            if voice == "lofi":
                from scipy.signal import butter, sosfilt

                pad = sosfilt(butter(2, 1500, fs=sr, output="sos"), pad)
            if voice == "power":
                for k in range(8):  # palm-muted eighths
                    sl = slice(k * m // 8, (k + 1) * m // 8)
                    pad[sl] *= _env(pad[sl].size, sr, 0.12)
            _place(music, pad, bar * 16 * six, 0.25)
        else:  # plucked: piano7 comps, strum, pick arpeggios
            hits = {"piano7": (0, 6, 10), "strum": (0, 4, 6, 8, 12, 14), "pick": tuple(range(0, 16, 2))}[voice]
            for j, st in enumerate(hits):
                m = int(1.2 * sr)
                notes = [chord[j % 4] * 2] if voice == "pick" else (chord if voice == "piano7" else chord[:3] + [
                    chord[0] * 2])
                for k, f in enumerate(notes):
                    pl = _tone(f, m, sr, s["harm"], bright=1.5 if voice == "piano7" else 0.8) * _env(m, sr, 0.35)
                    _place(music, pl, max(at(st, bar) + k * int(0.012 * sr * (voice == "strum")), 0), 0.25)
        # bass
        if s["bass"]:
            per = 16 // s["bass"]
            for k in range(s["bass"]):
                f = chord[0] / 2 if s["bass"] < 4 else root / 2 * 2 ** (SCALE[rng.integers(7)] / 12)
                m = int(per * six)
                _place(bass, _tone(f, m, sr, 3) * _env(m, sr, 0.4), max(at(k * per, bar), 0), 0.5)
    if s.get("pump"):
        ph = (np.arange(n) % (4 * six)) / (4 * six)
        music *= 0.3 + 0.7 * np.minimum(ph * 3, 1.0)
    if s["dist"]:
        music = np.tanh(s["dist"] * music) / np.tanh(s["dist"])
    mix = music * rng.uniform(0.6, 1.0) + bass * rng.uniform(0.5, 0.9) + drums * rng.uniform(0.6, 1.0)
    if s.get("vinyl"):
        mix += 0.01 * _hp_noise(rng, n, sr, 2000)
    if genre == "classical":
        mix *= np.linspace(rng.uniform(0.2, 0.5), 1.0, n)  # a crescendo: wide dynamics
    mix += 0.002 * rng.standard_normal(n)
    return (mix / (np.max(np.abs(mix)) + 1e-9) * 0.8).astype(np.float32)


# -- features ----------------------------------------------------------------------------
def features(audio: np.ndarray, sr: int) -> np.ndarray:
    """Feature vector of one clip (mono or (channels, frames)), shape (86,).

    Timbre: MFCC 1-20 mean and std, MFCC 1-13 delta std, centroid / bandwidth /
    rolloff / flatness / zcr mean and std, spectral contrast (7). Balance: energy
    share in five bands (sub, bass, mids, presence, air) and below 150 Hz.
    Rhythm and texture: onset strength mean and std, tempo, pulse clarity (peak
    onset autocorrelation at 0.25-2 s), spectral flux mean and std,
    harmonic/percussive ratio (median-filter HPSS), chroma entropy, RMS level and
    its relative spread (dynamics). The clip is peak-normalised first, so gain
    never matters.
    """
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0)
    y = y[: int(30 * sr)]  # bounds the cost
    if sr != FEATURE_SR:
        y = librosa.resample(y, orig_sr=sr, target_sr=FEATURE_SR)
    y = y / (float(np.max(np.abs(y))) or 1.0)
    S = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
    P = S**2
    mel = librosa.feature.melspectrogram(S=P, sr=FEATURE_SR)
    mel_db = librosa.power_to_db(mel)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)
    shape = np.vstack([
        librosa.feature.spectral_centroid(S=S, sr=FEATURE_SR) / 5000.0,
        librosa.feature.spectral_bandwidth(S=S, sr=FEATURE_SR) / 5000.0,
        librosa.feature.spectral_rolloff(S=S, sr=FEATURE_SR) / 10000.0,
        librosa.feature.spectral_flatness(S=S),
        librosa.feature.zero_crossing_rate(y, hop_length=512)[:, : S.shape[1]],
    ])
    contrast = librosa.feature.spectral_contrast(S=S, sr=FEATURE_SR)
    onset = librosa.onset.onset_strength(S=mel_db, sr=FEATURE_SR)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=FEATURE_SR))[0])
    ac = librosa.autocorrelate(onset - onset.mean())
    pulse = float(ac[int(0.25 * FEATURE_SR / 512) : int(2.0 * FEATURE_SR / 512)].max() / (ac[0] + 1e-9))
    rms = librosa.feature.rms(S=S)[0]
    freqs = librosa.fft_frequencies(sr=FEATURE_SR, n_fft=2048)
    total = P.sum() + 1e-12
    bands = [P[(freqs >= lo) & (freqs < hi)].sum() / total for lo, hi in BANDS]
    harm, perc = librosa.decompose.hpss(mel)
    chroma = librosa.feature.chroma_stft(S=P, sr=FEATURE_SR, tuning=0.0)  # tuning=0: no pitch tracking
    chroma = chroma / (chroma.sum(axis=0, keepdims=True) + 1e-9)
    entropy = float(np.mean(-(chroma * np.log(chroma + 1e-9)).sum(axis=0)) / np.log(12))
    flux = np.sqrt((np.diff(mel_db, axis=1).clip(0) ** 2).mean(axis=0))
    delta = librosa.feature.delta(mfcc[:13])
    return np.concatenate([
        mfcc.mean(axis=1) / 100.0, mfcc.std(axis=1) / 50.0,
        shape.mean(axis=1), shape.std(axis=1),
        contrast.mean(axis=1) / 50.0,
        [onset.mean(), onset.std(), tempo / 100.0,
         20 * np.log10(rms.mean() + 1e-9) / 20.0, rms.std() / (rms.mean() + 1e-9), P[freqs < 150].sum() / total],
        [np.log10((harm.sum() + 1e-9) / (perc.sum() + 1e-9)), pulse, entropy, flux.mean() / 10, flux.std() / 10],
        np.log10(np.array(bands) + 1e-6) / 3, delta.std(axis=1) / 5,
    ]).astype(np.float64)


def windows(audio: np.ndarray, sr: int, count: int = WINDOWS) -> list[np.ndarray]:
    """Up to ``count`` consecutive :data:`CLIP_S` mono clips from the middle of a song.

    A song shorter than one clip is one (shorter) clip; an empty or silent one is an
    AudioFileError, since no genre can be heard in it.
    """
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0)
    if y.size < int(0.5 * sr) or not np.any(y):
        raise AudioFileError(f"genre: need at least 0.5 s of non-silent audio, got {y.size / sr:.2f} s")
    n = int(CLIP_S * sr)
    mid = y[middle(y.size, sr, CLIP_S * count)]
    return [mid[k * n : (k + 1) * n] for k in range(max(1, mid.size // n))]


def perturb(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A re-equalised (+-6 dB above 1 kHz) and noised (-60 to -30 dB re peak) copy of a clip."""
    from scipy.signal import butter, sosfilt

    y = x.astype(np.float64)
    y += (10 ** (rng.uniform(-6, 6) / 20) - 1) * sosfilt(butter(1, 1000, "highpass", fs=sr, output="sos"), y)
    y += 10 ** (rng.uniform(-60, -30) / 20) * np.max(np.abs(y)) * rng.standard_normal(y.size)
    return y.astype(np.float32)


# -- model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GenreGuess:
    """What the classifier heard: a genre, or an abstention and why.

    ``genre`` is the canonical genre, or ``"neutral"`` when the calibrated
    confidence of the most probable genre (``top``) is below the model's
    threshold; ``probabilities`` holds every class's calibrated probability.
    """

    genre: str
    confidence: float
    top: str
    abstained: bool
    threshold: float
    probabilities: dict[str, float]


def logits(model: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """Uncalibrated class scores, shape (n, classes)."""
    z = ((np.atleast_2d(X) - np.array(model["mean"])) / np.array(model["scale"])) @ np.array(model["coef"]).T
    return np.asarray(z + np.array(model["intercept"]))


def softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.atleast_2d(z) / temperature
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def predict_proba(model: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """Calibrated (temperature-scaled) class probabilities per clip, shape (n, classes)."""
    return softmax(logits(model, X), float(model.get("temperature", 1.0)))


def decide(model: dict[str, Any], clip_probs: np.ndarray) -> GenreGuess:
    """One guess from the calibrated probabilities of a song's clips (their mean)."""
    p = np.atleast_2d(clip_probs).mean(axis=0)
    k = int(np.argmax(p))
    top, conf, thr = model["classes"][k], float(p[k]), float(model["threshold"])
    return GenreGuess(top if conf >= thr else "neutral", conf, top, conf < thr, thr,
                      {c: float(v) for c, v in zip(model["classes"], p, strict=True)})


@cache
def load_model(path: Path = MODEL_PATH) -> dict[str, Any]:
    """The trained weights; ModelUnavailableError says how to train them if missing."""
    try:
        model = dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ModelUnavailableError(f"{path}: genre model missing; train it with `python -m plugins.genre`") from None
    if len(model["mean"]) != FEATURES:
        raise ModelUnavailableError(f"{path}: model has {len(model['mean'])} features, code {FEATURES}; retrain it")
    return model


def analyse(audio: np.ndarray, sr: int, model: dict[str, Any] | None = None) -> GenreGuess:
    """The genre of a clip or song with calibrated probabilities and the abstain decision.

    Up to three 10 s windows from the middle of the song are classified and their
    calibrated probabilities averaged.

    Examples
    --------
    >>> g = analyse(synth_clip("jazz", np.random.default_rng(7), seconds=10.0), 22050)  # doctest: +SKIP
    >>> g.genre, g.abstained  # doctest: +SKIP
    ('jazz', False)
    """
    model = model or load_model()
    X = np.array([features(w, sr) for w in windows(audio, sr)])
    return decide(model, predict_proba(model, X))


def classify(audio: np.ndarray, sr: int, model: dict[str, Any] | None = None) -> tuple[str, float]:
    """Genre and calibrated confidence; the genre is ``"neutral"`` when the model abstains.

    Examples
    --------
    >>> classify(synth_clip("electronic", np.random.default_rng(7), seconds=10.0), 22050)  # doctest: +SKIP
    ('electronic', 0.93)
    """
    g = analyse(audio, sr, model)
    return g.genre, g.confidence


# -- evaluation and training -----------------------------------------------------------------
def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: mean |accuracy - confidence| over equal-width confidence bins.

    Examples
    --------
    >>> round(ece(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1])), 2)
    0.35
    """
    conf = probs.max(axis=1)
    hit = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    return float(sum(abs(hit[idx == b].mean() - conf[idx == b].mean()) * np.mean(idx == b)
                     for b in range(bins) if np.any(idx == b)))


def scores(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy, abstention rate, accuracy when answering and ECE of calibrated predictions."""
    conf = probs.max(axis=1)
    hit = probs.argmax(axis=1) == labels
    answered = conf >= threshold
    return {"n": int(labels.size), "accuracy": float(hit.mean()), "abstention": float(1 - answered.mean()),
            "answered_accuracy": float(hit[answered].mean()) if answered.any() else float("nan"),
            "wrong_confident": int(np.sum(answered & ~hit)), "ece": ece(probs, labels)}


def file_clips(path: Path) -> list[np.ndarray]:
    """Every whole :data:`CLIP_S` mono clip of an audio file, at :data:`FEATURE_SR`."""
    import librosa

    from core.audio_io import read

    audio, sr = read(path)
    y = librosa.resample(np.asarray(audio, dtype=np.float32).mean(axis=0), orig_sr=sr, target_sr=FEATURE_SR)
    n = int(CLIP_S * FEATURE_SR)
    return [y[k * n : (k + 1) * n] for k in range(y.size // n)]


def corpus_set(split: str, kind: str = "music") -> dict[str, np.ndarray]:
    """Clip features of the corpus' music in ``split``: X, label, group (file), kind."""
    from core.corpus import entries

    X, label, group, kinds = [], [], [], []
    for e in entries(kind=kind, split=split):
        for clip in file_clips(e["path"]):
            X.append(features(clip, FEATURE_SR))
            label.append(CLASSES.index(e["genre"]))
            group.append(e["group"])
            kinds.append(e["kind"])
    return {"X": np.array(X), "label": np.array(label), "group": np.array(group), "kind": np.array(kinds)}


def synthetic_set(per_genre: int, seed: int) -> dict[str, np.ndarray]:
    """Clip features of the product's own synthetic music, ``per_genre`` of each source per genre.

    Two sources: :func:`synth_clip` (re-equalised, noised, at 22.05/44.1/48 kHz) and
    the song pipeline's instrumental generator at the genre's typical tempo.
    """
    from plugins.generators.instrumental import generate

    rng = np.random.default_rng(seed)
    X, label, group, kinds = [], [], [], []
    for g, genre in enumerate(CLASSES):
        for i in range(per_genre):
            sr = int(rng.choice([22050, 44100, 48000]))
            X.append(features(perturb(synth_clip(genre, rng, sr=sr, seconds=CLIP_S), sr, rng), sr))
            key = f"{'CDEFGAB'[rng.integers(7)]} {rng.choice(['major', 'minor'])}"
            bpm = float(rng.uniform(*STYLE[genre]["bpm"]))
            X.append(features(generate(genre, key, bpm, CLIP_S, 44100, seed=int(rng.integers(1 << 30))), 44100))
            label += [g, g]
            group += [f"synth:{seed}:{genre}:{i}:clip", f"synth:{seed}:{genre}:{i}:generate"]
            kinds += ["synthetic", "synthetic"]
    return {"X": np.array(X), "label": np.array(label), "group": np.array(group), "kind": np.array(kinds)}


def _merge(*sets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([s[k] for s in sets]) for k in sets[0]}


def balanced_weights(data: dict[str, np.ndarray]) -> np.ndarray:
    """Sample weights giving every (kind, genre) cell the same total weight (synthetic cells less)."""
    w = np.ones(data["label"].size)
    for cell in set(zip(data["kind"], data["label"], strict=True)):
        sel = (data["kind"] == cell[0]) & (data["label"] == cell[1])
        w[sel] = (SYNTH_WEIGHT if cell[0] == "synthetic" else 1.0) / sel.sum()
    return w / w.mean()


def fit(data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Standardisation + balanced multinomial logistic regression, as plain lists."""
    from sklearn.linear_model import LogisticRegression

    X, y = data["X"], data["label"]
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-9
    clf = LogisticRegression(C=C_REG, max_iter=5000).fit((X - mean) / scale, y, sample_weight=balanced_weights(data))
    coef = np.zeros((len(CLASSES), X.shape[1]))
    icpt = np.full(len(CLASSES), -1e3)  # a class absent from training can never be chosen
    coef[clf.classes_], icpt[clf.classes_] = clf.coef_, clf.intercept_
    return {"classes": list(CLASSES), "mean": mean.tolist(), "scale": scale.tolist(),
            "coef": coef.tolist(), "intercept": icpt.tolist()}


def out_of_fold(data: dict[str, np.ndarray], folds: int = 5) -> np.ndarray:
    """Logits of every training clip from a model that never saw its file (GroupKFold by file)."""
    from sklearn.model_selection import GroupKFold

    z = np.zeros((data["label"].size, len(CLASSES)))
    for tr, te in GroupKFold(folds).split(data["X"], data["label"], data["group"]):
        z[te] = logits(fit({k: v[tr] for k, v in data.items()}), data["X"][te])
    return z


def fit_temperature(z: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """The temperature minimising the weighted negative log-likelihood (temperature scaling)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        p = softmax(z, float(np.exp(log_t)))[np.arange(labels.size), labels]
        return float(-np.sum(weights * np.log(p + 1e-12)) / weights.sum())

    return float(np.exp(minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded").x))


def pick_threshold(probs: np.ndarray, labels: np.ndarray, target: float = TARGET_ANSWERED) -> float:
    """The lowest confidence threshold at which accuracy-when-answering reaches ``target``."""
    conf, hit = probs.max(axis=1), probs.argmax(axis=1) == labels
    for t in np.arange(30, 96) / 100:  # exact hundredths, the values stored and compared later
        if (conf >= t).any() and hit[conf >= t].mean() >= target:
            return float(t)
    return 0.95


def train_model(data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fit on ``data``; calibrate on out-of-fold predictions; pick the abstain threshold there."""
    z = out_of_fold(data)
    temperature = fit_temperature(z, data["label"], balanced_weights(data))
    music = data["kind"] != "synthetic"
    raw, cal = softmax(z[music]), softmax(z[music], temperature)
    threshold = pick_threshold(cal, data["label"][music])
    return fit(data) | {
        "temperature": temperature, "threshold": threshold, "clip_s": CLIP_S,
        "trained_on": {str(k): int(np.sum(data["kind"] == k)) for k in sorted(set(data["kind"]))},
        "out_of_fold": {"ece_raw": ece(raw, data["label"][music]), **scores(cal, data["label"][music], threshold)},
    }


def main() -> None:
    """Train on the corpus' train split + synthetic clips and write genre_model.json."""
    data = _merge(corpus_set("train"), synthetic_set(SYNTH_PER_GENRE, seed=2026))
    model = train_model(data)
    write_json(MODEL_PATH, model)
    print(f"trained on {model['trained_on']} clips; temperature {model['temperature']:.2f}, "
          f"threshold {model['threshold']:.2f}; out-of-fold on corpus clips: {model['out_of_fold']}; "
          f"wrote {MODEL_PATH}")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write (temp + rename); refuses a non-regular target."""
    if path.exists() and not path.is_file():
        raise ModelUnavailableError(f"{path}: not a regular file; refusing to overwrite")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    main()


@hookimpl
def mixbridge_service(name: str) -> object:
    """This module is the 'genre' service."""
    return sys.modules[__name__] if name == "genre" else None
