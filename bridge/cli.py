"""The ``mixbridge`` command: each package registers its own subcommands.

A command module defines ``register(sub, bench)``: ``sub`` is the top-level
subparsers, ``bench`` the subparsers of ``mixbridge bench``. Every handler is
``func(args) -> int`` and imports what it needs when it runs, so ``--help`` and
unrelated commands stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from core.errors import MixbridgeError

COMMAND_MODULES = (
    "plugins.mix_cli",
    "core.cli",
    "bridge.batch",
    "bridge.api_cli",
    "rt.cli",
    "memory.cli",
    "plugins.generators.cli",
    "plugins.voice_cli",
    "bridge.control_cli",
    "bridge.song_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mixbridge",
        description="Real-time audio processor and DAW bridge: live chains, OSC/MIDI, offline renders.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench_parser = sub.add_parser("bench", help="benchmarks (compare against pedalboard)")
    bench = bench_parser.add_subparsers(dest="bench", metavar="WHAT", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MixbridgeError as e:
        print(f"mixbridge: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
