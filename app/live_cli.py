"""Audio commands: devices, live, latency, and the real-time benchmark."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from core.hookspecs import hookimpl


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = sub.add_parser("devices", help="list audio devices and host APIs (loopback devices marked)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("latency", help="measure the round trip between two devices with a test signal")
    stream_args(p)
    p.add_argument("--loop", choices=("self", "device"), default="self",
                   help="on JACK: patch our output into our input (self), or leave it to a cable (device)")
    p.set_defaults(func=cmd_latency)

    p = bench.add_parser("rt", help="live vocal chain through the compiled callback, against pedalboard")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--blocks", type=int, nargs="+", default=[32, 64, 128, 256])
    p.add_argument("--chain", default="vocal")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_rt)


def stream_args(p: argparse.ArgumentParser) -> None:
    """Device, host API, block size, rate and channel options (``live`` and ``latency``)."""
    p.add_argument("--in", dest="input", help="input device: index or part of its name (default: the API's default)")
    p.add_argument("--out", dest="output", help="output device: index or part of its name")
    p.add_argument("--host-api", help="PortAudio host API, e.g. jack, alsa, 'core audio', wasapi")
    p.add_argument("--blocksize", type=int, default=128)
    p.add_argument("--rate", type=int, default=48000)
    p.add_argument("--channels", type=int, default=2)


def cmd_devices(args: argparse.Namespace) -> int:
    from rt.devices import list_devices

    devices = list_devices()
    if args.json:
        print(json.dumps(devices, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title="audio devices (* = loopback / routing device)")
    for col in ("#", "name", "host API", "in", "out", "rate", "low latency ms"):
        t.add_column(col)
    for d in devices:
        mark = "* " if d["loopback"] else ""
        t.add_row(str(d["index"]), mark + d["name"], d["hostapi"], str(d["inputs"]), str(d["outputs"]),
                  f"{d['default_samplerate']:.0f}", f"{d['low_latency_ms']:.1f}")
    Console().print(t)
    return 0


def _engine(args: argparse.Namespace, chain: Any) -> Any:
    from rt.engine import Engine

    return Engine(chain, args.rate, args.blocksize, args.channels, input=args.input, output=args.output,
                  host_api=args.host_api)


def run_live(args: argparse.Namespace, host: Any, on_start: Callable[[Any], Any] | None = None) -> int:
    """Build the chain's callback, open the stream, show a status line until Ctrl-C or --seconds.

    ``on_start(engine)`` runs once the callback is built (the bridge starts OSC there); what
    it returns is called when the stream stops.
    """
    from rich.console import Console
    from rich.live import Live

    engine = _engine(args, host.chain(args.chain))
    print(f"compiling chain {args.chain!r} ({len(engine.chain)} slots)...", file=sys.stderr)
    engine.build()
    stopper = on_start(engine) if on_start else None
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop ends the run as Ctrl-C does
    deadline = time.monotonic() + args.seconds if args.seconds else None
    try:
        with engine, Live(console=Console(stderr=True), refresh_per_second=4) as live:
            while deadline is None or time.monotonic() < deadline:
                s = engine.stats()
                live.update(
                    f"[bold]{args.chain}[/bold] load {100 * s.get('load', 0):5.1f}%  xruns {s['xruns']}  "
                    f"callback p99 {s.get('callback_us', {}).get('p99', 0):6.1f} us  "
                    f"latency {s.get('total_latency_ms', 0):5.1f} ms (chain {s['chain_latency_ms']:.1f})  "
                    f"non-finite {s['nonfinite_samples']}"
                )
                time.sleep(0.25)
    except KeyboardInterrupt:
        pass
    finally:
        if stopper:
            stopper()
    print(json.dumps(engine.stats(), default=float))
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_latency(args: argparse.Namespace) -> int:
    from rt.latency import measure_round_trip, report_lines

    r = measure_round_trip(args.input, args.output, args.host_api, args.rate, args.blocksize, args.channels,
                           loop=args.loop)
    print("\n".join(report_lines(r, args.rate)))
    return 0


def cmd_bench_rt(args: argparse.Namespace) -> int:
    from app.bench_rt import bench_rt

    result = bench_rt(args.chain, tuple(args.blocks), args.seconds)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0
