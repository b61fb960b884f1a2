"""``mixbridge generate vocals|music`` and ``mixbridge bench generators``.

Examples
--------
    mixbridge generate music --genre jazz --key "Bb major" --bpm 140 --duration 30 -o music.wav
    mixbridge generate vocals --lyrics lyrics.txt --key "A minor" --bpm 96 -o vocals.wav
    mixbridge bench generators --duration 180
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.args import output_path
from core import files
from core.hookspecs import hookimpl


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    """Add the ``generate`` command and the ``bench generators`` benchmark."""
    gen = sub.add_parser("generate", help="synthesise a sung vocal or a procedural instrumental")
    what = gen.add_subparsers(dest="what", metavar="WHAT", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--key", default="C major", help='e.g. "A minor", "Bb dorian"')
    common.add_argument("--bpm", type=float, default=120.0)
    common.add_argument("--duration", type=float, default=30.0, help="seconds")
    common.add_argument("--sample-rate", type=int, default=48000, help="Hz")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("-o", "--output", required=True, type=output_path, help="WAV file to write")
    v = what.add_parser("vocals", parents=[common], help="the formant singer")
    v.add_argument("--lyrics", default="", help="a text file, or the lyrics themselves")
    v.add_argument("--genre", help="sing over this genre's chord progression (default pop)")
    v.add_argument("--drift-cents", type=float, default=15.0)
    v.add_argument("--vibrato-cents", type=float, default=20.0)
    v.set_defaults(func=_vocals)
    m = what.add_parser("music", parents=[common], help="the procedural instrumental")
    m.add_argument("--genre", default="pop")
    m.set_defaults(func=_music)
    b = bench.add_parser("generators", help="time the singer and every genre's instrumental")
    b.add_argument("--duration", type=float, default=180.0, help="seconds of audio per run")
    b.add_argument("--sample-rate", type=int, default=48000, help="Hz")
    b.set_defaults(func=_bench)


def _vocals(args: argparse.Namespace) -> int:
    from app.loading import load_host
    from core.audio_io import write

    gen = load_host().service("generators")

    lyrics = args.lyrics
    if lyrics and Path(lyrics).is_file():
        lyrics = Path(lyrics).read_text()
    take = gen.sing(
        lyrics,
        args.key,
        args.bpm,
        args.duration,
        args.sample_rate,
        seed=args.seed,
        drift_cents=args.drift_cents,
        vibrato_cents=args.vibrato_cents,
        progression=gen.progression(args.genre, args.key) if args.genre else None,
    )
    path = write(args.output, take.audio, args.sample_rate, "float")
    notes = [{"midi": n.midi, "start_s": n.start_s, "dur_s": n.dur_s, "vowel": n.vowel} for n in take.notes]
    files.write_text(path.with_suffix(".notes.json"), json.dumps(notes, indent=1))
    print(f"{path} ({len(notes)} notes in {path.with_suffix('.notes.json')})")
    return 0


def _music(args: argparse.Namespace) -> int:
    from app.loading import load_host
    from core.audio_io import write

    generate = load_host().service("generators").generate
    audio = generate(args.genre, args.key, args.bpm, args.duration, args.sample_rate, args.seed)
    print(write(args.output, audio, args.sample_rate, "float"))
    return 0


def _bench(args: argparse.Namespace) -> int:
    import time

    from app.loading import load_host

    gen = load_host().service("generators")
    sing, generate, STYLES = gen.sing, gen.generate, gen.STYLES

    def timed(label: str, fn: Any) -> None:
        t = time.perf_counter()
        fn()
        s = time.perf_counter() - t
        print(f"{label:<24} {s:7.2f} s  {args.duration / s:7.1f}x real time")

    print(f"{args.duration:g} s of audio at {args.sample_rate} Hz (no pedalboard equivalent)")
    timed("singer", lambda: sing("", "A minor", 100, args.duration, args.sample_rate))
    for genre in STYLES:
        timed(
            f"instrumental {genre}",
            lambda g=genre: generate(g, "A minor", 100, args.duration, args.sample_rate),
        )
    return 0
