"""The ``mixbridge`` command: commands are plugins of the ``mixbridge_commands`` hook.

The built-in command modules below register exactly as an outside package does
(through the ``mixbridge`` entry-point group), so a third party can add a command.
Handlers import what they need when they run, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

import pluggy

from core import hookspecs
from core.errors import MixbridgeError

COMMAND_MODULES = (
    "app.render_cli",
    "app.mix_cli",
    "app.batch",
    "app.serve_cli",
    "app.live_cli",
    "app.control_cli",
    "app.memory_cli",
    "app.generate_cli",
    "app.voice_cli",
    "app.song_cli",
    "app.bench_external",
    "app.bench_learning",
    "app.bench_soak",
    "app.bench_genre",
    "app.bench_voice_real",
)


def command_manager(entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager holding the built-in command modules (and, by default, outside plugins)."""
    pm = pluggy.PluginManager("mixbridge")
    pm.add_hookspecs(hookspecs)
    for name in reversed(COMMAND_MODULES):  # pluggy calls the last registered first
        pm.register(importlib.import_module(name), name=name)
    if entry_points:
        try:
            pm.load_setuptools_entrypoints("mixbridge")
        except Exception as e:  # noqa: BLE001 - a broken outside plugin must not take the CLI down
            print(f"mixbridge: warning: an outside plugin failed to load: {type(e).__name__}: {e}", file=sys.stderr)
    pm.check_pending()
    return pm


def build_parser(pm: pluggy.PluginManager | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mixbridge",
        description="Real-time audio processor and DAW bridge: live chains, OSC/MIDI, offline renders.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench_parser = sub.add_parser("bench", help="benchmarks (compare against pedalboard)")
    bench = bench_parser.add_subparsers(dest="bench", metavar="WHAT", required=True)
    (pm or command_manager()).hook.mixbridge_commands(sub=sub, bench=bench)
    return parser


def _log_level(verbose: bool) -> int:
    """-v wins; then LOG_LEVEL when set (DEBUG, INFO, WARNING, ERROR, CRITICAL); else WARNING."""
    if verbose:
        return logging.DEBUG
    if "LOG_LEVEL" not in os.environ:
        return logging.WARNING
    from core.settings import EnhancementSettings

    return int(logging.getLevelName(EnhancementSettings.from_env().log_level))


def main(argv: list[str] | None = None) -> int:
    """Run one command; any error is one line on stderr (exit 1), with the traceback under ``-v``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        logging.basicConfig(level=_log_level(args.verbose), format="%(levelname)s %(name)s: %(message)s")
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        if args.command == "bench":  # long, and most cannot say how far they are: a pulsing bar on a terminal
            from core.progress import progress_bar

            with progress_bar(f"bench {args.bench}", total=None):
                return int(args.func(args) or 0)
        return int(args.func(args) or 0)
    except MixbridgeError as e:
        if args.verbose:
            traceback.print_exc()
        print(f"mixbridge: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one line for the user; the traceback with -v
        if args.verbose:
            traceback.print_exc()
        first = (str(e).strip().splitlines() or [""])[0][:300]
        hint = "" if args.verbose else " (run with -v for the traceback)"
        print(f"mixbridge: error: {type(e).__name__}: {first}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
