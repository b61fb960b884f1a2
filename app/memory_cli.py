"""Memory commands: rate a render, see and move what was learned, and the memory benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.hookspecs import RATINGS, TOO, hookimpl


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = sub.add_parser("rate", help="rate a render (1-5) so the memory learns your taste")
    p.add_argument("render_id")
    for r in RATINGS:
        p.add_argument(f"--{r.replace('_', '-')}", type=int, required=(r == "overall"), metavar="N")
    p.add_argument("--comment")
    p.add_argument("--user", help="who is rating (default: the render's user)")
    p.add_argument("--too", action="append", default=[], metavar="WHAT", choices=sorted(TOO),
                   help="which way the mix is off (repeatable): " + ", ".join(sorted(TOO)))
    p.add_argument("--about-right", action="append", default=[], metavar="ASPECT",
                   choices=("stereo_width", "eq_quality", "music_balance", "reverb_quality"),
                   help="an aspect that needs no change (repeatable)")
    p.set_defaults(func=cmd_rate)

    p = sub.add_parser("memory", help="stats, export or import of what the memory learned")
    msub = p.add_subparsers(dest="what", required=True)
    msub.add_parser("stats").set_defaults(func=cmd_stats)
    e = msub.add_parser("export")
    e.add_argument("file", type=Path)
    e.set_defaults(func=cmd_export)
    i = msub.add_parser("import")
    i.add_argument("file", type=Path)
    i.set_defaults(func=cmd_import)

    p = bench.add_parser("memory", help="feedback inserts/s, cached reads/s, vector search latency")
    p.add_argument("--vectors", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    p.set_defaults(func=cmd_bench)


def cmd_rate(args: argparse.Namespace) -> int:
    from memory.recorder import service

    ratings = {r: getattr(args, r) for r in RATINGS if r != "overall" and getattr(args, r) is not None}
    directions = {a: 0 for a in args.about_right} | dict(TOO[w] for w in args.too)
    stored = service().rate(args.render_id, overall=args.overall, user=args.user, comment=args.comment,
                            directions=directions or None, **ratings)
    print(json.dumps(stored, indent=2))
    if stored.get("queued"):
        print("the memory database is unreachable: the rating is journaled and stored when it returns",
              file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from memory.recorder import service

    print(json.dumps(service().stats(), indent=2, default=str))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from memory.recorder import service

    print(json.dumps(service().export(args.file)))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from memory.recorder import service

    print(json.dumps(service().import_(args.file)))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from app.bench_memory import bench_memory

    bench_memory(tuple(args.vectors), args.postgres)
    return 0
