"""``mixbridge enhance voice``, ``mixbridge validate voice|mixing`` and ``mixbridge bench voice``.

Handlers import what they need when they run, so ``mixbridge --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.args import output_path
from core import files
from core.hookspecs import hookimpl


def _subgroup(sub: Any, name: str, help_text: str) -> Any:
    """The subparsers of top-level command ``name``, created once and shared."""
    parser = sub.choices.get(name)
    if parser is None:
        parser = sub.add_parser(name, help=help_text)
        parser.set_defaults(_group=parser.add_subparsers(dest=f"{name}_what", metavar="WHAT", required=True))
    return parser.get_default("_group")


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    enhance = _subgroup(sub, "enhance", "enhance a recording offline (voice)")
    p = enhance.add_parser("voice", help="vocoder, prosody and optional auto-tune on a vocal")
    p.add_argument("input", type=Path)
    p.add_argument("-o", "--output", type=output_path, required=True, help="WAV out (a .json report beside it)")
    p.add_argument("--no-vocoder", action="store_true", help="skip the vocoder stage")
    p.add_argument(
        "--prosody",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="prosody stage (default: ENABLE_PROSODY_ENHANCEMENT, on)",
    )
    p.add_argument("--autotune", metavar="KEY", help='tune to KEY: "A minor", "chromatic", "C,D,E"')
    p.add_argument("--retune-ms", type=float, default=50.0)
    p.add_argument("--humanize", type=float, default=0.3)
    p.add_argument("--vocoder", dest="backend", default="auto", choices=("auto", "vocos", "hifigan", "dsp"))
    p.add_argument("--vocos-dir", type=Path, help="Vocos weights (config.yaml + pytorch_model.bin)")
    p.add_argument("--pitch", dest="pitch_method", default="yin", choices=("yin", "crepe", "pyin"))
    p.add_argument("--metrics", action="store_true", help="add DNSMOS/PESQ/STOI before and after")
    p.add_argument("--user", help="whose render this is, to rate (default MIXBRIDGE_USER)")
    p.set_defaults(func=_enhance_voice)

    validate = _subgroup(sub, "validate", "compare before and after (quality tables)")
    for what, doc in (
        ("voice", "speech quality: DNSMOS, PESQ, STOI"),
        ("mixing", "mix: loudness, peaks, balance, width"),
    ):
        v = validate.add_parser(what, help=doc)
        v.add_argument("before", type=Path, help="original (voice) or basic mix (mixing)")
        v.add_argument("after", type=Path, help="enhanced version")
        v.add_argument("--json", action="store_true", help="print JSON instead of a table")
        v.set_defaults(func=_validate, what=what)

    b = bench.add_parser("voice", help="x-real-time of vocoder, pitch, auto-tune, prosody, metrics")
    b.add_argument("--seconds", type=float, default=180.0, help="length of the test vocal")
    b.add_argument(
        "--slow-seconds", type=float, default=30.0, help="excerpt for the slow models (HiFi-GAN, crepe full)"
    )
    b.add_argument("--json", type=Path, help="also write the results here")
    b.set_defaults(func=_bench_voice)


def _enhance_voice(args: argparse.Namespace) -> int:
    from app.loading import load_host
    from app.records import open_memory, record_render
    from app.song import check_voice_length
    from core import audio_io
    from core.settings import EnhancementSettings

    host = load_host()
    settings = EnhancementSettings.from_env()
    audio, sr = audio_io.read(args.input)
    check_voice_length(audio, sr, str(args.input))
    prosody = settings.enable_prosody_enhancement if args.prosody is None else args.prosody
    vocoder = settings.enable_neural_vocoder and not args.no_vocoder
    y, report = host.service("voice").enhance_voice(
        audio,
        sr,
        vocoder=vocoder,
        prosody=prosody,
        autotune_key=args.autotune,
        retune_ms=args.retune_ms,
        humanize=args.humanize,
        vocoder_backend=args.backend,
        vocos_dir=args.vocos_dir,
        pitch_method=args.pitch_method,
    )
    if args.metrics:
        calculate_all_metrics = host.service("metrics").calculate_all_metrics
        report["metrics"] = {
            "before": calculate_all_metrics(audio, sr),
            "after": calculate_all_metrics(y, sr, reference=audio),
        }
    report.update({"input": str(args.input), "output": str(args.output)})
    audio_io.write(args.output, y, sr)
    rid = record_render(open_memory(host), report, {}, user=args.user, genre=None)
    files.write_text(args.output.with_suffix(args.output.suffix + ".json"), json.dumps(report, indent=2))
    ran = ", ".join(s["stage"] + (f" ({s['vocoder']})" if s["stage"] == "vocoder" else "") for s in report["stages"])
    print(f"{args.output}: {ran or 'nothing to do'}; {report['x_realtime']}x real time")
    if rid:
        print(f"render id {rid} (rate it: mixbridge rate {rid} --overall 1-5)")
    for w in report["warnings"]:
        print(f"warning: {w}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from app.voice_report import mixing_table, voice_table
    from core import audio_io

    before, sr = audio_io.read(args.before)
    after, _ = audio_io.read(args.after, sample_rate=sr)
    rows = (voice_table if args.what == "voice" else mixing_table)(before, after, sr)
    if args.json:
        print(json.dumps({"before": str(args.before), "after": str(args.after), "metrics": rows}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"validate {args.what}: {args.before.name} -> {args.after.name}")
    for col in ("metric", "before", "after", "change"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for r in rows:
        b, a = r["before"], r["after"]
        change = "" if b is None or a is None else f"{a - b:+.3f}"
        table.add_row(r["metric"], "" if b is None else f"{b:.3f}", "" if a is None else f"{a:.3f}", change)
    Console().print(table)
    return 0


def _bench_voice(args: argparse.Namespace) -> int:
    from app.bench_voice import run_bench

    results = run_bench(args.seconds, args.slow_seconds)
    if args.json:
        files.write_text(args.json, json.dumps(results, indent=2))
    return 0
