"""Core commands: render, demo, plugins, and the chain benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.hookspecs import hookimpl


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = sub.add_parser("render", help="render a session offline to WAV + JSON report")
    p.add_argument("session", type=Path, help="session TOML file")
    p.add_argument("-o", "--output", type=Path, help="output WAV (default: the session's [output] path)")
    p.add_argument("--block-size", type=int, help="frames per block (default: the session's)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--recommend", action="store_true", help="start from the memory's recommended settings")
    p.add_argument("--user", help="whose taste --recommend follows")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("demo", help="write the demo session and render it (no network, no servers)")
    p.add_argument("dir", nargs="?", type=Path, default=Path("mixbridge-demo"))
    p.add_argument("--duration", type=float, default=30.0, help="seconds (default 30)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("plugins", help="list loaded plugins, their processors and parameters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plugins)

    p = bench.add_parser(
        "chain",
        help="eq (4 bands) -> compressor -> limiter vs pedalboard, per block size",
        description="Stream stereo 48 kHz audio block by block through our foundation chain "
        "and pedalboard's equivalent (PeakFilter x4, Compressor, Limiter); print median and "
        "99.9th-percentile block times, as a share of the block deadline, and the ratio.",
    )
    p.add_argument("--blocks", type=int, nargs="+", default=[64, 128, 512],
                   help="block sizes in frames (default: 64 128 512)")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds of audio (default 60)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_bench_chain)


def cmd_bench_chain(args: argparse.Namespace) -> int:
    from app.bench_chain import bench_chain, format_rows

    rows = bench_chain(tuple(args.blocks), args.seconds)
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
    return 0


def _host() -> Any:
    from core.host import PluginHost

    host = PluginHost.from_toml()
    for name, reason in host.failures.items():
        print(f"mixbridge: warning: plugin {name!r} not loaded: {reason}", file=sys.stderr)
    return host


def _render_and_report(session_path: Path, output: Path | None, block_size: int | None, as_json: bool,
                       recommend: bool = False, user: str | None = None) -> int:
    from core.render import render, write_outputs
    from core.session import Session

    session = Session.load(session_path)
    host = _host()
    out = output or session.resolve(session.output_path)
    session.inline_chains(host.config.chains)  # the settings recorded are the ones that ran
    rec = None
    if recommend:
        rec = host.pm.hook.mixbridge_recommend(genre=session.genre, user=user, audio=None)
        if rec and rec.get("config"):
            session.apply_settings(rec["config"])
    result = render(session, host, output=out, block_size=block_size,
                    progress=sys.stderr.isatty() and not as_json)
    rep = result.report
    if rec is not None:
        rep["recommendation"] = rec
    render_id = host.pm.hook.mixbridge_render_finished(session=session, report=rep, output=str(out))
    if render_id or rec is not None:
        rep["render_id"] = render_id
        write_outputs(result, out, session.bit_depth)
    if as_json:
        print(json.dumps(rep, indent=2, default=float))
        return 0
    after = rep["loudness"]["after"]

    def fmt(v: float | None, unit: str) -> str:
        return f"{v:.1f} {unit}" if v is not None else f"n/a {unit}"

    print(f"wrote {rep['output']}")
    print(f"report {rep['report']}")
    print(
        f"{rep['duration_s']:.1f} s rendered at {rep['realtime_factor']:.0f}x real time; "
        f"{fmt(after['integrated_lufs'], 'LUFS')}, LRA {fmt(after['loudness_range_lu'], 'LU')}, "
        f"true peak {fmt(after['true_peak_dbtp'], 'dBTP')}"
    )
    if rec is not None:
        print(f"started from the {rec.get('source', 'recommended')} settings")
    if render_id:
        print(f"render id {render_id} (rate it: mixbridge rate {render_id} --overall 1-5)")
    for w in rep["warnings"]:
        print(f"warning: {w}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    return _render_and_report(args.session, args.output, args.block_size, args.json, args.recommend, args.user)


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import write_demo

    path = write_demo(args.dir, _host(), duration=args.duration)
    if not args.json:
        print(f"session {path}")
    return _render_and_report(path, args.dir / "demo.wav", None, args.json)


def cmd_plugins(args: argparse.Namespace) -> int:
    host = _host()
    listing = {
        "plugins": [
            {"plugin": name, "processors": [c.name for c in host.processors.values() if host.origin[c.name] == name]}
            for name in dict.fromkeys(host.origin.values())
        ],
        "processors": [cls().describe() | {"plugin": host.origin[n]} for n, cls in sorted(host.processors.items())],
        "chains": sorted(host.config.chains),
        "failures": host.failures,
    }
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for proc in listing["processors"]:
        mode = "real-time" if proc["realtime"] else "offline only"
        sc = ", sidechain" if proc["sidechain"] else ""
        table = Table(title=f"{proc['name']} ({proc['plugin']}; {mode}{sc}) {proc['doc']}", title_justify="left")
        for col in ("id", "min", "max", "default", "unit", "scale"):
            table.add_column(col)
        for p in proc["params"]:
            rng = (p["min"], p["max"], p["default"])
            if p["scale"] == "choice":
                choices = p["choices"]
                rng = (choices[0], choices[-1], choices[int(p["default"])])
            table.add_row(p["id"], *(f"{v:g}" if isinstance(v, float) else str(v) for v in rng), p["unit"], p["scale"])
        console.print(table)
    console.print(f"chains: {', '.join(listing['chains']) or 'none'}")
    for name, reason in listing["failures"].items():
        console.print(f"[red]failed[/red] {name}: {reason}")
    return 0
