"""Build the real-material corpus that scripts/corpus.sh prepares (see docs/corpus.md).

Three kinds of material, every file listed in ``manifest.json`` / ``manifest.csv``
with its source package, licence, genre (music) and split:

* ``music-real``: excerpts of real recorded game soundtracks whose genre is obvious
  (Wesnoth's orchestral score = classical, blkrbt's guitar metal in Nexuiz = rock,
  elysis' / Parapraxis' / Braden Walters' club tracks in Nexuiz = electronic).
* ``music-render``: genre-typical MIDI arrangements written here (instrumentation,
  groove, tempo and harmony of each genre) and rendered through the FluidR3_GM
  soundfont with fluidsynth: sampled real instruments, our arrangement.
* ``speech-human`` (alsa-utils' recorded channel announcements), ``speech-diphone``
  (festival's kal/kd diphone voices: concatenated recorded human diphones) and
  ``speech-formant`` (espeak-ng, a non-human control).

Files alternate between 44.1 and 48 kHz, mono and stereo (speech gets every
combination). ``split`` holds out whole tracks / arrangements (never clips of one
recording on both sides): ``test`` material is for evaluation only.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

VERSION = 1
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
FORMATS = ((44100, 2), (48000, 2), (44100, 1), (48000, 1))
EXCERPT_S = 40.0
RENDER_S = 30.0
RENDERS_PER_GENRE = 6
RENDER_TEST = (4, 5)  # arrangement seeds held out per genre
GENRES = ("pop", "rock", "hip-hop", "electronic", "jazz", "classical", "r&b", "country", "acoustic")

WESNOTH = "usr/share/games/wesnoth/1.16/data/core/music/"
NEXUIZ = "usr/share/games/nexuiz/data/music.pk3"
PACKAGES = {
    "wesnoth-1.16-music": "GPL-2 (Battle for Wesnoth; music by the Wesnoth composers)",
    "nexuiz-music": "GPL-2+ (Nexuiz, Alientrap)",
    "fluid-soundfont-gm": "MIT (FluidR3_GM soundfont, Frank Wen)",
    "festvox-kallpc16k": "permissive CMU/Edinburgh festvox licence (Alan W Black, Kevin Lenzo)",
    "festvox-kdlpc16k": "permissive CMU/Edinburgh festvox licence (Alan W Black, Kevin Lenzo)",
    "alsa-utils": "GPL-2",
    "espeak-ng-data": "GPL-3+",
}
# (package, path in package, genre, split, group = the recording or artist it comes from)
REAL: tuple[tuple[str, str, str, str, str], ...] = tuple(
    [("wesnoth-1.16-music", WESNOTH + t + ".ogg", "classical", s, "wesnoth:" + t) for t, s in (
        ("battle", "train"), ("breaking_the_chains", "train"), ("casualties_of_war", "train"),
        ("heroes_rite", "train"), ("into_the_shadows", "train"), ("legends_of_the_north", "train"),
        ("northern_mountains", "train"), ("return_to_wesnoth", "train"), ("the_city_falls", "train"),
        ("the_dangerous_symphony", "train"), ("weight_of_revenge", "train"),
        ("elvish-theme", "test"), ("journeys_end", "test"), ("siege_of_laurelmor", "test"),
        ("the_king_is_dead", "test"), ("vengeful", "test"))]
    + [("nexuiz-music", NEXUIZ + ":sound/cdtracks/" + t + ".ogg", "rock", s, "nexuiz:blkrbt:" + g) for t, s, g in (
        ("brokenlight", "train", "brokenlight"), ("ninesix", "train", "ninesix"),
        ("sixtyfour_", "train", "sixtyfour"), ("sixtyfour_revisited", "train", "sixtyfour"),
        ("stairs", "test", "stairs"), ("desert3", "test", "desert3"))]
    + [("nexuiz-music", NEXUIZ + ":sound/cdtracks/" + t + ".ogg", "electronic", s, "nexuiz:" + g) for t, s, g in (
        ("brainsukker", "train", "elysis:brainsukker"), ("breakdown-easy", "train", "elysis:breakdown-easy"),
        ("calling-bogus", "train", "elysis:calling-bogus"), ("chaos-fog", "train", "elysis:chaos-fog"),
        ("neuronal-diving", "train", "elysis:neuronal-diving"), ("thru-the-mirror", "train", "elysis:thru-the-mirror"),
        ("infight", "test", "elysis:infight"), ("subcities", "test", "elysis:subcities"),
        ("digital-pursuit", "test", "parapraxis"), ("beast-of-insanity", "test", "braden-walters"))]
)
ALSA_VOICES = ("Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left", "Rear_Right",
               "Side_Left", "Side_Right")
TEXT = ("The quick brown fox jumps over the lazy dog. Please call Stella and ask her to bring "
        "these things with her from the store. We will meet at the station at half past seven.")


# -- MIDI arrangements ------------------------------------------------------------------
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
DRUM = {"kick": 36, "snare": 38, "rim": 37, "clap": 39, "hat": 42, "pedal": 44, "open": 46, "crash": 49,
        "ride": 51, "tamb": 54, "shaker": 70}
# per genre: tempo range, swing (fraction of an 8th/16th), mode, progressions (scale degrees)
STYLES: dict[str, dict] = {
    "pop": dict(bpm=(96, 124), swing=0.0, mode=MAJOR, prog=((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4))),
    "rock": dict(bpm=(110, 160), swing=0.0, mode=MINOR, prog=((0, 5, 6, 0), (0, 3, 4, 3), (0, 6, 5, 6))),
    "hip-hop": dict(bpm=(80, 96), swing=0.18, mode=MINOR, prog=((0, 0, 5, 5), (0, 3, 0, 4), (0, 5, 3, 4))),
    "electronic": dict(bpm=(120, 132), swing=0.0, mode=MINOR, prog=((0, 5, 2, 6), (0, 3, 5, 4), (0, 0, 5, 6))),
    "jazz": dict(bpm=(110, 180), swing=0.33, mode=MAJOR, prog=((1, 4, 0, 0), (0, 5, 1, 4), (2, 5, 1, 4))),
    "classical": dict(bpm=(60, 100), swing=0.0, mode=MAJOR, prog=((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 2))),
    "r&b": dict(bpm=(66, 90), swing=0.15, mode=MINOR, prog=((0, 3, 6, 5), (1, 4, 0, 5), (0, 5, 3, 4))),
    "country": dict(bpm=(92, 128), swing=0.0, mode=MAJOR, prog=((0, 3, 4, 0), (0, 0, 3, 4), (0, 4, 3, 0))),
    "acoustic": dict(bpm=(70, 110), swing=0.0, mode=MAJOR, prog=((0, 4, 5, 3), (0, 3, 0, 4), (5, 3, 0, 4))),
}


class Arrangement:
    """Notes in beats, collected per channel, written as a type-0 MIDI file."""

    def __init__(self, bpm: float, swing: float, rng: Any) -> None:
        self.bpm, self.swing, self.rng = bpm, swing, rng
        self.notes: list[tuple[float, float, int, int, int]] = []
        self.programs: dict[int, int] = {}

    def program(self, channel: int, program: int) -> None:
        self.programs[channel] = program

    def note(self, beat: float, dur: float, channel: int, pitch: int, vel: int, grid: float = 0.5) -> None:
        import numpy as np

        if self.swing and abs((beat / grid) % 2 - 1) < 1e-6:  # off-beat of the swing grid
            beat += self.swing * grid
        beat += self.rng.normal(0, 0.008)
        vel = int(np.clip(vel + self.rng.normal(0, 6), 1, 127))
        self.notes.append((max(beat, 0.0), dur, channel, int(pitch), vel))

    def drum(self, beat: float, name: str, vel: int, grid: float = 0.5) -> None:
        self.note(beat, 0.1, 9, DRUM[name], vel, grid)

    def write(self, path: Path) -> None:
        import mido

        tpb = 480
        events: list[tuple[int, int, mido.Message]] = []
        for beat, dur, ch, pitch, vel in self.notes:
            on = int(beat * tpb)
            events.append((on, 1, mido.Message("note_on", channel=ch, note=pitch, velocity=vel)))
            events.append((on + max(int(dur * tpb), 1), 0, mido.Message("note_off", channel=ch, note=pitch)))
        events.sort(key=lambda e: (e[0], e[1]))
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(self.bpm)))
        for ch, prog in self.programs.items():
            track.append(mido.Message("program_change", channel=ch, program=prog))
        now = 0
        for t, _, msg in events:
            track.append(msg.copy(time=t - now))
            now = t
        mid = mido.MidiFile(ticks_per_beat=tpb)
        mid.tracks.append(track)
        mid.save(path)


def arrange(genre: str, seed: int) -> Arrangement:
    """A genre-typical arrangement: the genre's instruments, groove, tempo and harmony."""
    import numpy as np  # imported here so that `--check` stays instant

    rng = np.random.default_rng([GENRES.index(genre), seed])
    s = STYLES[genre]
    bpm = float(rng.uniform(*s["bpm"]))
    a = Arrangement(bpm, s["swing"], rng)
    key = 40 + int(rng.integers(0, 12))  # E2..D#3
    mode = s["mode"]
    prog = s["prog"][int(rng.integers(len(s["prog"])))]
    bars = int(np.ceil(RENDER_S * bpm / 60 / 4)) + 1

    def pitch(degree: int, octave: int = 0) -> int:
        return key + 12 * (octave + degree // 7) + mode[degree % 7]

    def chord(degree: int, octave: int, size: int = 3) -> list[int]:
        return [pitch(degree + 2 * k, octave) for k in range(size)]

    def melody(channel: int, octave: int, density: float, vel: int, grid: float = 0.5) -> None:
        deg = 4
        for bar in range(bars):
            for step in range(int(4 / grid)):
                if rng.random() < density:
                    deg = int(np.clip(deg + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, 9))
                    a.note(bar * 4 + step * grid, grid * rng.choice([1, 2]), channel, pitch(deg, octave), vel, grid)

    for bar in range(bars):
        b = bar * 4
        deg = prog[bar % 4]
        if genre == "rock":
            gtr = (pitch(deg, 1), pitch(deg, 1) + 7, pitch(deg, 2))
            for k in range(8):
                for p in gtr:
                    a.note(b + k / 2, 0.45 if k % 4 else 0.9, 0, p, 100)
            for k in range(8):
                a.note(b + k / 2, 0.45, 1, pitch(deg, 0), 95)
            for k in (0, 2.5) if rng.random() < 0.5 else (0, 2, 2.5):
                a.drum(b + k, "kick", 115)
            for k in (1, 3):
                a.drum(b + k, "snare", 115)
            for k in range(8):
                a.drum(b + k / 2, "ride" if bar % 8 >= 4 else "hat", 85)
            if bar % 4 == 0:
                a.drum(b, "crash", 110)
        elif genre == "pop":
            for k in range(4):
                for p in chord(deg, 2):
                    a.note(b + k, 0.9, 0, p, 72)
            for k in range(8):
                a.note(b + k / 2, 0.4, 2, chord(deg, 3)[k % 3], 60)
            for k in (0, 1.5, 2, 3):
                a.note(b + k, 0.45, 1, pitch(deg, 0), 90)
            for k in (0, 1.5, 2):
                a.drum(b + k, "kick", 105)
            for k in (1, 3):
                a.drum(b + k, "snare", 100)
                a.drum(b + k, "clap", 80)
            for k in range(8):
                a.drum(b + k / 2, "hat", 70)
        elif genre == "hip-hop":
            a.note(b, 4, 0, pitch(deg, 2), 70)
            for p in chord(deg, 2, 4):
                a.note(b, 3.9, 0, p, 62)
            for k in (0, 1.75, 2.5):
                a.drum(b + k, "kick", 120, 0.25)
                a.note(b + k, 0.7, 1, pitch(deg, -1), 110, 0.25)
            for k in (1, 3):
                a.drum(b + k, "snare", 118)
            for k in range(8):
                a.drum(b + k / 2, "hat", 70 if k % 2 else 90, 0.5)
        elif genre == "electronic":
            for k in range(4):
                a.drum(b + k, "kick", 125)
                a.drum(b + k + 0.5, "open", 85)
            for k in (1, 3):
                a.drum(b + k, "clap", 105)
            for k in range(16):
                a.drum(b + k / 4, "hat", 55, 0.25)
            for k in range(4):
                a.note(b + k + 0.5, 0.4, 1, pitch(deg, 0), 110)
            for p in chord(deg, 2):
                a.note(b, 4, 2, p, 70)
            arp = chord(deg, 3) + [pitch(deg, 4)]
            for k in range(16):
                a.note(b + k / 4, 0.2, 0, arp[k % 4], 85, 0.25)
        elif genre == "jazz":
            for k in (0, 1, 1.5, 2, 3, 3.5):
                a.drum(b + k, "ride", 80)
            for k in (1, 3):
                a.drum(b + k, "pedal", 65)
            walk = [pitch(deg, 0), pitch(deg + 2, 0), pitch(deg + 4, 0), pitch(prog[(bar + 1) % 4], 0) - 1]
            for k, p in enumerate(walk):
                a.note(b + k, 0.9, 1, p, 95)
            voicing = [pitch(deg + 2, 1), pitch(deg + 4, 1), pitch(deg + 6, 1), pitch(deg + 8, 1)]
            for k in rng.choice([0, 1.5, 2.5, 3.5], size=2, replace=False):
                for p in voicing:
                    a.note(b + float(k), 0.6, 0, p, 70)
        elif genre == "classical":
            for p in chord(deg, 2):
                a.note(b, 4, 0, p, 60 + 3 * (bar % 8))
            a.note(b, 2, 1, pitch(deg, 0), 70)
            a.note(b + 2, 2, 1, pitch(deg + 4, -1), 70)
            if bar % 4 == 3:
                for p in chord(deg, 1, 2):
                    a.note(b, 4, 3, p, 65)
            if bar % 8 == 0:
                a.note(b, 1, 4, pitch(0, 0), 80)
        elif genre == "r&b":
            for p in chord(deg, 2, 4) + [pitch(deg + 8, 2)]:
                a.note(b, 1.9, 0, p, 66)
                a.note(b + 2.5, 1.4, 0, p, 58)
            for k in (0, 0.75, 2.5):
                a.note(b + k, 0.6, 1, pitch(deg, 0), 95, 0.25)
            for k in (0, 2.5):
                a.drum(b + k, "kick", 100, 0.25)
            for k in (1, 3):
                a.drum(b + k, "rim" if bar % 2 else "snare", 95)
            for k in range(16):
                a.drum(b + k / 4, "hat", 45 + 20 * (k % 2 == 0), 0.25)
            for p in chord(deg, 3):
                a.note(b, 4, 2, p, 40)
        elif genre == "country":
            a.note(b, 0.9, 1, pitch(deg, 0), 95)
            a.note(b + 2, 0.9, 1, pitch(deg + 4, -1), 90)
            for k in range(8):
                strum = chord(deg, 1) + [pitch(deg, 2)]
                for i, p in enumerate(strum if k % 2 == 0 else strum[::-1]):
                    a.note(b + k / 2 + 0.012 * i, 0.45, 0, p, 80 if k % 2 == 0 else 65)
            for k in (0, 2):
                a.drum(b + k, "kick", 95)
            for k in range(8):
                a.drum(b + k / 2, "snare", 90 if k in (2, 6) else 45)
        elif genre == "acoustic":
            pattern = [pitch(deg, 0), pitch(deg + 4, 0), pitch(deg + 7, 0), pitch(deg + 2, 1),
                       pitch(deg + 4, 1), pitch(deg + 2, 1), pitch(deg + 7, 0), pitch(deg + 4, 0)]
            for k, p in enumerate(pattern):
                a.note(b + k / 2, 1.2, 0, p, 70 if k else 85)
    # a lead line for the genres that carry one
    if genre in ("pop", "rock", "electronic", "jazz", "classical", "country", "acoustic", "r&b"):
        lead = {"pop": (3, 2, 0.5, 85), "rock": (3, 2, 0.45, 100), "electronic": (5, 2, 0.3, 85),
                "jazz": (5, 2, 0.55, 90), "classical": (5, 2, 0.6, 75), "country": (5, 2, 0.5, 85),
                "acoustic": (5, 2, 0.35, 70), "r&b": (5, 2, 0.35, 75)}[genre]
        melody(lead[0], lead[1], lead[2], lead[3])
    instruments = {
        "rock": {0: int(rng.choice([29, 30])), 1: int(rng.choice([33, 34])), 3: 30},
        "pop": {0: int(rng.choice([0, 1])), 1: 33, 2: int(rng.choice([27, 26])), 3: int(rng.choice([80, 73, 11]))},
        "hip-hop": {0: int(rng.choice([4, 48, 11])), 1: int(rng.choice([38, 87]))},
        "electronic": {0: int(rng.choice([81, 80])), 1: int(rng.choice([38, 39])), 2: int(rng.choice([89, 90, 50])),
                       5: int(rng.choice([81, 84]))},
        "jazz": {0: 0, 1: 32, 5: int(rng.choice([65, 66, 56]))},
        "classical": {0: int(rng.choice([48, 49])), 1: 42, 3: 60, 4: 47, 5: int(rng.choice([40, 73, 68]))},
        "r&b": {0: int(rng.choice([4, 5])), 1: int(rng.choice([33, 38])), 2: 48, 5: int(rng.choice([4, 54, 65]))},
        "country": {0: 25, 1: 32, 5: int(rng.choice([110, 105, 25]))},
        "acoustic": {0: int(rng.choice([24, 25])), 5: int(rng.choice([73, 24, 42]))},
    }[genre]
    for ch, prog_no in instruments.items():
        a.program(ch, prog_no)
    return a


# -- building ------------------------------------------------------------------------------
def run(*cmd: str | Path) -> None:
    r = subprocess.run([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        raise SystemExit(f"corpus: {' '.join(map(str, cmd))} failed: {r.stderr.strip()[-500:]}")


def seconds(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout)


def fmt_name(sr: int, ch: int) -> str:
    return f"{sr // 1000 if sr % 1000 == 0 else sr / 1000:g}k_{'stereo' if ch == 2 else 'mono'}"


def entries() -> list[dict]:
    """Every file of the corpus (without measured duration), in a stable order."""
    out: list[dict] = []
    for i, (pkg, src, genre, split, group) in enumerate(REAL):
        sr, ch = FORMATS[i % len(FORMATS)]
        stem = src.rsplit("/", 1)[1].removesuffix(".ogg")
        out.append(dict(path=f"music/real/{pkg.split('-')[0]}_{stem}_{fmt_name(sr, ch)}.flac", kind="music-real",
                        package=pkg, origin=src, genre=genre, split=split, group=group, sample_rate=sr, channels=ch))
    for gi, genre in enumerate(GENRES):
        for seed in range(RENDERS_PER_GENRE):
            sr, ch = FORMATS[(gi + seed) % len(FORMATS)]
            name = genre.replace("&", "n")
            out.append(dict(path=f"music/render/{name}_{seed}_{fmt_name(sr, ch)}.flac", kind="music-render",
                            package="fluid-soundfont-gm", origin=f"scripts/corpus.py arrange({genre!r}, {seed})",
                            genre=genre, split="test" if seed in RENDER_TEST else "train",
                            group=f"render:{genre}:{seed}", sample_rate=sr, channels=ch))
    speech = [("alsa", "alsa-utils", "speech-human", "/usr/share/sounds/alsa/{Front_Center,...}.wav (8 joined)")]
    speech += [(v, p, "speech-diphone", f"text2wave, voice_{v}_diphone")
               for v, p in (("kal", "festvox-kallpc16k"), ("ked", "festvox-kdlpc16k"))]
    speech += [("espeak", "espeak-ng-data", "speech-formant", "espeak-ng -v en-us")]
    for name, pkg, kind, origin in speech:
        for sr, ch in FORMATS:
            out.append(dict(path=f"speech/{name}_{fmt_name(sr, ch)}.wav", kind=kind, package=pkg, origin=origin,
                            genre="", split="test", group=f"speech:{name}", sample_rate=sr, channels=ch))
    for v in ALSA_VOICES:
        out.append(dict(path=f"speech/alsa/{v}.wav", kind="speech-human", package="alsa-utils",
                        origin=f"/usr/share/sounds/alsa/{v}.wav", genre="", split="test", group="speech:alsa",
                        sample_rate=48000, channels=1))
    for e in out:
        e["licence"] = PACKAGES[e["package"]]
    return out


def convert(src: Path, dst: Path, sr: int, ch: int, *effects: str) -> None:
    """sox src -> dst at sr/ch, 16 bit, written to a temp name and renamed (atomic)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.tmp{dst.suffix}")
    run("sox", "-D", src, "-b", "16", "-r", str(sr), "-c", str(ch), tmp, *effects, "rate", "-h")
    os.replace(tmp, dst)


def build_real(root: Path, e: dict, tmp: Path) -> None:
    debs = root / ".debs" / e["package"]
    origin = e["origin"]
    if ":" in origin:  # a file inside a zip archive (Nexuiz' music.pk3)
        archive, member = origin.split(":", 1)
        src = tmp / member.rsplit("/", 1)[1]
        with zipfile.ZipFile(debs / archive) as z:
            src.write_bytes(z.read(member))
    else:
        src = debs / origin
    total = seconds(src)
    start = max(0.0, min(0.3 * total, total - EXCERPT_S))
    length = min(EXCERPT_S, total)
    convert(src, root / e["path"], e["sample_rate"], e["channels"], "trim", f"{start:.2f}", f"{length:.2f}",
            "fade", "0.05", f"{length:.2f}", "0.5", "norm", "-1")


def build_render(root: Path, e: dict, tmp: Path) -> None:
    genre, seed = e["genre"], int(e["group"].rsplit(":", 1)[1])
    mid = tmp / f"{genre.replace('&', 'n')}_{seed}.mid"
    arrange(genre, seed).write(mid)
    raw = tmp / f"{mid.stem}.wav"
    run("fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", raw, SOUNDFONT, mid)
    convert(raw, root / e["path"], e["sample_rate"], e["channels"], "trim", "0", f"{RENDER_S:.2f}",
            "fade", "0", f"{RENDER_S:.2f}", "0.5", "norm", "-1")


def speech_source(name: str, tmp: Path) -> Path:
    src = tmp / f"{name}.wav"
    if src.exists():
        return src
    if name == "alsa":
        parts = [f"/usr/share/sounds/alsa/{v}.wav" for v in ALSA_VOICES]
        gap = tmp / "gap.wav"
        run("sox", "-n", "-r", "48000", "-c", "1", "-b", "16", gap, "trim", "0", "0.4")
        run("sox", *[p for part in parts for p in (part, gap)], src)
    elif name == "espeak":
        run("espeak-ng", "-v", "en-us", "-w", src, TEXT)
    else:
        txt = tmp / "text.txt"
        txt.write_text(TEXT + "\n")
        run("text2wave", "-eval", f"(voice_{name}_diphone)", "-o", src, txt)
    return src


def build(root: Path) -> None:
    todo = [e for e in entries() if not (root / e["path"]).exists()]
    with tempfile.TemporaryDirectory(prefix="corpus-") as t:
        tmp = Path(t)

        def one(e: dict) -> None:
            sub = tmp / e["path"].replace("/", "_")
            sub.mkdir()
            if e["kind"] == "music-real":
                build_real(root, e, sub)
            elif e["kind"] == "music-render":
                build_render(root, e, sub)
            elif "/alsa/" in e["path"]:
                convert(Path(e["origin"]), root / e["path"], 48000, 1)
            else:
                convert(speech_source(e["group"].split(":")[1], tmp), root / e["path"], e["sample_rate"],
                        e["channels"], "norm", "-3")

        speech = [e for e in todo if e["kind"].startswith("speech")]
        for e in speech:  # sequential: they share one source render per voice
            one(e)
        with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
            list(pool.map(one, [e for e in todo if not e["kind"].startswith("speech")]))
    manifest = entries()
    for e in manifest:
        e["seconds"] = round(seconds(root / e["path"]), 3)
    write_atomic(root / "manifest.csv", csv_text(manifest))
    write_atomic(root / "manifest.json", json.dumps({"version": VERSION, "files": manifest}, indent=1) + "\n")
    lic = root / "licences"
    lic.mkdir(exist_ok=True)
    for pkg in PACKAGES:
        for base in (root / ".debs" / pkg / "usr/share/doc" / pkg, Path("/usr/share/doc") / pkg):
            if (base / "copyright").exists():
                write_atomic(lic / f"{pkg}.copyright", (base / "copyright").read_text(errors="replace"))
                break
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and ".debs" not in f.parts)
    print(f"corpus: {len(manifest)} files, {size / 1e6:.0f} MB in {root} ({len(todo)} built now)")


def csv_text(rows: list[dict]) -> str:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_atomic(path: Path, text: str) -> None:
    if path.exists() and not path.is_file():
        raise SystemExit(f"{path}: not a regular file; refusing to overwrite")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def complete(root: Path) -> bool:
    """True when the manifest is of this version and every file it lists exists."""
    try:
        m = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return m.get("version") == VERSION and all((root / e["path"]).is_file() for e in m["files"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--check", action="store_true", help="exit 0 when the corpus is complete")
    g.add_argument("--needed-packages", action="store_true", help="music packages still to unpack")
    g.add_argument("--build", action="store_true", help="build what is missing, then the manifest")
    ap.add_argument("root", type=Path)
    args = ap.parse_args(argv)
    root = args.root.expanduser()
    if args.check:
        return 0 if complete(root) else 1
    if args.needed_packages:
        print(" ".join(sorted({e["package"] for e in entries()
                               if e["kind"] == "music-real" and not (root / e["path"]).exists()})))
        return 0
    root.mkdir(parents=True, exist_ok=True)
    build(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
