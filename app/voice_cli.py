"""``mixbridge enhance voice``, ``mixbridge validate voice|mixing`` and ``mixbridge bench voice``.

Handlers import what they need when they run, so ``mixbridge --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.args import output_path
from app.report_html import add_arguments
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
    p.add_argument("--force-stages", action="store_true",
                   help="keep every stage even where it lowers the measured quality (DNSMOS OVRL, ESTOI, PESQ)")
    p.add_argument("--vocoder-runtime", default="auto", choices=("auto", "onnx", "torch"),
                   help="run the neural vocoder with onnxruntime (exported once) or torch (default: auto)")
    p.add_argument("--user", help="whose render this is, to rate (default MIXBRIDGE_USER)")
    add_arguments(p)
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
        add_arguments(v, "the enhanced file")
        if what == "voice":
            v.add_argument("--key", help='draw this scale\'s notes on the pitch picture ("A minor")')
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
    from app.records import announce, open_memory, record_render
    from app.report_html import target
    from app.song import check_voice_length
    from core import audio_io
    from core.progress import progress_bar
    from core.settings import EnhancementSettings

    host = load_host()
    settings = EnhancementSettings.from_env()
    audio, sr = audio_io.read(args.input)
    check_voice_length(audio, sr, str(args.input))
    prosody = settings.enable_prosody_enhancement if args.prosody is None else args.prosody
    vocoder = settings.enable_neural_vocoder and not args.no_vocoder
    pictures = target(args.plot, args.report, args.output)
    voice = host.service("voice")
    with progress_bar("enhance voice") as bar:
        y, report = voice.enhance_voice(
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
        force_stages=args.force_stages,
        vocoder_runtime=args.vocoder_runtime,
            on_stage=lambda name, done: bar.update(0.7 * done, f"enhance voice: {name}"),
        )
        if args.metrics:
            bar.update(0.7, "enhance voice: metrics")
            calculate_all_metrics = host.service("metrics").calculate_all_metrics
            report["metrics"] = {
                "before": calculate_all_metrics(audio, sr),
                "after": calculate_all_metrics(y, sr, reference=audio),
            }
        report.update({"input": str(args.input), "output": str(args.output)})
        audio_io.write(args.output, y, sr)
        rid = record_render(open_memory(host), report, {}, user=args.user, genre=None)
        files.write_text(args.output.with_suffix(args.output.suffix + ".json"), json.dumps(report, indent=2))
        if pictures:
            bar.update(0.85, "enhance voice: pictures")
            voice_pictures(pictures, audio, y, sr, voice, report, args.autotune, rid)
            print("pictures " + " ".join(map(str, pictures.paths)))
    ran = ", ".join(s["stage"] + (f" ({s['vocoder']})" if s["stage"] == "vocoder" else "") for s in report["stages"])
    print(f"{args.output}: {ran or 'nothing to do'}; {report['x_realtime']}x real time")
    announce(rid, report["warnings"])
    return 0


def voice_pictures(pictures: Any, before: Any, after: Any, sr: int, voice: Any, report: dict[str, Any],
                   key: str | None, render_id: str | None) -> None:
    """Spectrum, loudness and pitch (with the scale when auto-tuned) of a vocal before and after; the HTML report."""
    from app.report_html import LEVEL_ROWS, add_voice_pictures, rows_of
    from core.render import measure

    ran = [s["stage"] for s in report["stages"]]
    add_voice_pictures(pictures, before, after, sr, voice, key, pitch="pitch" in ran)
    rows = rows_of(measure(before, sr), measure(after, sr), LEVEL_ROWS)
    m = report.get("metrics")
    if m:
        rows += [(f"DNSMOS {k.upper()}", m["before"]["dnsmos"][k], m["after"]["dnsmos"][k], "")
                 for k in ("ovrl", "sig", "bak")]
        rows += [(k, None, m["after"].get(k), "") for k in ("pesq_wb", "stoi") if m["after"].get(k) is not None]
    tune = next((s for s in report["stages"] if s["stage"] == "autotune"), None)
    facts = {"input": report["input"], "output": report["output"], "duration (s)": report["duration_s"],
             "x real time": report["x_realtime"], "render id": render_id}
    if tune:
        facts |= {"auto-tune key": tune["key"], "mean correction (cents)": tune["mean_abs_correction_cents"]}
    applied = [s["stage"] + (f" ({s['vocoder']})" if s["stage"] == "vocoder" else "") for s in report["stages"]]
    pictures.write_html(facts, rows, applied, report["warnings"])


def _validate(args: argparse.Namespace) -> int:
    from app.report_html import target
    from app.voice_report import mixing_table, voice_table
    from core import audio_io

    before, sr = audio_io.read(args.before)
    after, _ = audio_io.read(args.after, sample_rate=sr)
    rows = (voice_table if args.what == "voice" else mixing_table)(before, after, sr)
    pictures = target(args.plot, args.report, args.after.with_name(f"{args.after.stem}.validate-{args.what}"))
    if pictures:
        validate_pictures(pictures, args, before, after, sr, rows)
        if not args.json:
            print("pictures " + " ".join(map(str, pictures.paths)))
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


def validate_pictures(pictures: Any, args: argparse.Namespace, before: Any, after: Any, sr: int,
                      rows: list[dict[str, Any]]) -> None:
    """``validate``'s pictures (spectrum, loudness; pitch for a voice) and its table as the HTML report."""
    from app.loading import load_host
    from app.report_html import add_voice_pictures

    pictures.title = f"validate {args.what}: {args.before.name} -> {args.after.name}"
    voice = load_host().service("voice") if args.what == "voice" else None
    add_voice_pictures(pictures, before, after, sr, voice, getattr(args, "key", None), pitch=voice is not None,
                       labels=(f"before: {args.before.name}", f"after: {args.after.name}"))
    pictures.write_html({"before": str(args.before), "after": str(args.after)},
                        [(r["metric"], r["before"], r["after"], "") for r in rows])


def _bench_voice(args: argparse.Namespace) -> int:
    from app.bench_voice import run_bench

    results = run_bench(args.seconds, args.slow_seconds)
    if args.json:
        files.write_text(args.json, json.dumps(results, indent=2))
    return 0
