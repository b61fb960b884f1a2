"""`mixbridge bench genre`: the genre classifier on held-out REAL material, apart from the rest.

Real recordings (the corpus' test split: whole tracks the model never saw), FluidR3_GM
renders of held-out arrangements, and fresh synthetic clips are scored separately:
accuracy, abstention rate, accuracy when answering, confidently-wrong answers and
expected calibration error, per 10 s clip and per file (the mean of its clips, as
the mix planner classifies a song).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.hookspecs import hookimpl

SETS = (("real", "music-real"), ("rendered", "music-render"), ("synthetic", None))


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = bench.add_parser(
        "genre",
        help="genre classifier: accuracy, abstention, calibration on held-out real vs synthetic",
        description="Score the genre classifier on the corpus' held-out real recordings and "
        "FluidR3 renders (scripts/corpus.sh builds it) and on fresh synthetic clips, apart.",
    )
    p.add_argument("--synthetic", type=int, default=2, metavar="N",
                   help="fresh synthetic clips per genre and source (default 2; 0 skips them)")
    p.add_argument("--model", type=Path, help="genre model JSON (default: plugins/genre_model.json)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_bench_genre)


def _score(model: dict[str, Any], data: dict[str, np.ndarray]) -> dict[str, Any]:
    from plugins.genre import decide, predict_proba, scores

    probs = predict_proba(model, data["X"])
    out: dict[str, Any] = {"clips": scores(probs, data["label"], model["threshold"])}
    files = list(dict.fromkeys(data["group"]))
    fprobs = np.array([probs[data["group"] == f].mean(axis=0) for f in files])
    flabels = np.array([data["label"][data["group"] == f][0] for f in files])
    out["files"] = scores(fprobs, flabels, model["threshold"])
    out["per_file"] = [
        {"file": f, "genre": model["classes"][int(y)], "answer": g.genre, "top": g.top,
         "confidence": round(g.confidence, 3)}
        for f, y, g in ((f, y, decide(model, p)) for f, y, p in zip(files, flabels, fprobs, strict=True))
    ]
    return out


def run(synthetic: int, model_path: Path | None) -> dict[str, Any]:
    """The report: one entry per material set, each with clip and file scores (or why it is absent)."""
    from core.corpus import MISSING, available
    from plugins.genre import MODEL_PATH, corpus_set, load_model, synthetic_set

    t0 = time.perf_counter()
    model = load_model(model_path or MODEL_PATH)
    report: dict[str, Any] = {"threshold": model["threshold"], "temperature": model["temperature"], "sets": {}}
    for name, kind in SETS:
        if kind is None:
            report["sets"][name] = (_score(model, synthetic_set(synthetic, seed=7)) if synthetic > 0
                                    else {"skipped": "--synthetic 0"})
        elif available():
            report["sets"][name] = _score(model, corpus_set("test", kind))
        else:
            report["sets"][name] = {"skipped": MISSING}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def _fmt(v: float) -> str:
    return "-" if isinstance(v, float) and math.isnan(v) else f"{v:.2f}"


def cmd_bench_genre(args: argparse.Namespace) -> int:
    report = run(args.synthetic, args.model)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"genre classifier (abstains below {report['threshold']:.2f}; "
                  f"temperature {report['temperature']:.2f}; {report['seconds']} s)", title_justify="left")
    for col in ("material", "unit", "n", "accuracy", "abstained", "acc. answering", "wrong & sure", "ECE"):
        table.add_column(col, justify="left" if col in ("material", "unit") else "right")
    for name, res in report["sets"].items():
        if "skipped" in res:
            table.add_row(name, "-", "-", "-", "-", "-", "-", res["skipped"])
            continue
        for unit in ("clips", "files"):
            s = res[unit]
            table.add_row(name, unit, str(s["n"]), _fmt(s["accuracy"]), _fmt(s["abstention"]),
                          _fmt(s["answered_accuracy"]), str(s["wrong_confident"]), _fmt(s["ece"]))
    Console().print(table)
    return 0
