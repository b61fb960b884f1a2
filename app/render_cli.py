"""Core commands: render, demo, plugins, and the chain benchmark."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.args import output_path
from app.report_html import add_arguments
from core.hookspecs import hookimpl


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = sub.add_parser("render", help="render a session offline to WAV + JSON report")
    p.add_argument("session", type=Path, help="session TOML file")
    p.add_argument("-o", "--output", type=output_path, help="output WAV (default: the session's [output] path)")
    p.add_argument("--block-size", type=int, help="frames per block (default: the session's)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--recommend", action="store_true", help="start from the memory's recommended settings")
    p.add_argument("--user", help="whose taste --recommend follows")
    add_arguments(p)
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


def recommendation(memory: Any, session: Any, user: str | None) -> dict[str, Any] | None:
    """Memory's recommended settings for the session's genre and ``user``, applied to ``session``."""
    from memory.recorder import local_user

    if memory is None:
        return None
    rec = dict(memory.get_mixing_recommendations(user or local_user(), session.genre, None))
    applied, missing = session.apply_settings(rec.get("config") or {})
    rec["applied"], rec["not_in_session"] = applied, missing
    return rec


def _render_and_report(session_path: Path, output: Path | None, block_size: int | None, as_json: bool,
                       recommend: bool = False, user: str | None = None, plot: bool = False,
                       report_dir: Path | None = None) -> int:
    from app.loading import load_host
    from app.records import announce, open_memory, record_render
    from app.report_html import target
    from core.files import check_target
    from core.progress import is_terminal
    from core.render import render, write_outputs
    from core.session import Session

    session = Session.load(session_path)
    out = output or session.resolve(session.output_path)
    check_target(out)  # refuse a device, a FIFO or a folder before rendering, not after
    check_target(out.with_suffix(".json"))
    host = load_host()
    session.inline_chains(host.config.chains)  # the settings recorded are the ones that ran
    memory = open_memory(host)
    rec = None
    if recommend:
        rec = recommendation(memory, session, user)
    pictures = target(plot, report_dir, out)
    taps = None
    if pictures:
        from app.plots import StageTaps

        taps = StageTaps(session.sample_rate)
    result = render(session, host, output=out, block_size=block_size, progress=is_terminal(), observe=taps)
    rep = result.report
    if rec is not None:
        rep["recommendation"] = rec
    render_id = record_render(memory, rep, session.settings(), user=user, genre=session.genre, audio=str(out))
    write_outputs(result, out, session.bit_depth)  # again, with the render id
    if pictures:
        render_pictures(pictures, result, taps, render_id)
    if as_json:
        print(json.dumps(rep, indent=2, default=float))
        return 0
    after = rep["loudness"]["after"]

    def fmt(v: float | None, unit: str) -> str:
        return f"{v:.1f} {unit}" if v is not None else f"n/a {unit}"

    print(f"wrote {rep['output']}")
    print(f"report {rep['report']}")
    if pictures:
        print("pictures " + " ".join(map(str, pictures.paths)))
    print(
        f"{rep['duration_s']:.1f} s rendered at {rep['realtime_factor']:.0f}x real time; "
        f"{fmt(after['integrated_lufs'], 'LUFS')}, LRA {fmt(after['loudness_range_lu'], 'LU')}, "
        f"true peak {fmt(after['true_peak_dbtp'], 'dBTP')}"
    )
    if rec is not None:
        print(f"started from the {rec.get('source', 'recommended')} settings")
    announce(render_id, rep["warnings"])
    return 0


def render_pictures(pictures: Any, result: Any, taps: Any, render_id: str | None) -> None:
    """A render's pictures and HTML report: sources against the master, loudness, gain per stage."""
    from app.report_html import LEVEL_ROWS, add_render_pictures, loudness_stage, rows_of

    rep = result.report
    add_render_pictures(pictures, result, taps, "sources")
    stage = loudness_stage(rep)
    facts = {"session": rep["session"], "output": rep.get("output"), "duration (s)": rep["duration_s"],
             "x real time": rep["realtime_factor"], "target (LUFS)": stage.get("target_lufs"),
             "ceiling (dBTP)": stage.get("ceiling_dbtp"), "render id": render_id}
    applied = [f"{s['stage']}: {', '.join(s['processors']) or 'nothing'}" for s in rep["stages"] if "processors" in s]
    if stage:
        applied.append(f"loudness: {stage['gain_db']:+.1f} dB, true-peak limiter at {stage['ceiling_dbtp']:g} dBTP")
    pictures.write_html(facts, rows_of(rep["loudness"]["before"], rep["loudness"]["after"], LEVEL_ROWS),
                        applied, rep["warnings"])


def cmd_render(args: argparse.Namespace) -> int:
    return _render_and_report(args.session, args.output, args.block_size, args.json, args.recommend, args.user,
                              args.plot, args.report)


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import write_demo
    from app.loading import load_host

    path = write_demo(args.dir, load_host(), duration=args.duration)
    if not args.json:
        print(f"session {path}")
    return _render_and_report(path, args.dir / "demo.wav", None, args.json)


def cmd_plugins(args: argparse.Namespace) -> int:
    from app.loading import load_host

    host = load_host()
    listing = {
        "plugins": [
            {"plugin": name, "processors": [c.name for c in host.processors.values() if host.origin[c.name] == name]}
            for name in dict.fromkeys(host.origin.values())
        ],
        "processors": [cls().describe() | {"plugin": host.origin[n]} for n, cls in sorted(host.processors.items())],
        "chains": sorted(host.config.chains),
        "failures": host.failures,
        "external": host.service("external").discover() if "plugins.external" in host.origin.values() else {},
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
    ext = listing["external"]
    if ext:
        console.print(f"third-party plugins here: {len(ext.get('lv2', []))} LV2, {len(ext.get('vst3', []))} VST3, "
                      f"{len(ext.get('au', []))} AU (`--json` lists them; use plugin = \"lv2\" with uri = ...)")
    for name, reason in listing["failures"].items():
        console.print(f"[red]failed[/red] {name}: {reason}")
    return 0
