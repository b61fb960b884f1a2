"""``mixbridge bench voice-real``: the vocoders on real speech, and ONNX against torch.

Quality: each vocoder (HiFi-GAN through onnxruntime and through torch, the DSP
path, and the gated voice stage that keeps only what helps) on real recorded
speech (alsa-utils' channel announcements, one after another), espeak-ng speech
and any ``--files``: DNSMOS OVRL before and after, PESQ wb and ESTOI against the
input. Vocos has no published weights here, so its random-weight model of the
real architecture is timed only.

Speed: every vocoder and runtime resynthesises the same ``--seconds`` of 48 kHz
speech in a fresh process (its own peak RSS; the ONNX runs never import torch
and say so), two threads each, as the song pipeline runs it. Wall-clock speed
and CPU time are both reported: on a shared machine the wall clock measures the
neighbours too. Speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.hookspecs import hookimpl

SR = 48000
ALSA_DIR = Path("/usr/share/sounds/alsa")
SONG_TARGET = {"x_realtime": 10.0, "peak_rss_mb": 1024.0}


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = bench.add_parser("voice-real", help="vocoders on real speech (quality) and ONNX vs torch (speed, memory)")
    p.add_argument("--seconds", type=float, default=180.0, help="speech timed per vocoder (default 180)")
    p.add_argument("--files", type=Path, nargs="*", default=[], help="more real speech files to judge")
    p.add_argument("--no-torch-hifigan", action="store_true", help="skip the slow torch HiFi-GAN speed run")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.set_defaults(func=cmd_bench_voice_real)


# ---------------------------------------------------------------- material
def real_speech() -> dict[str, np.ndarray]:
    """Named mono float32 48 kHz speech: alsa-utils' recordings (when installed) and espeak-ng."""
    from core import audio_io
    from plugins.speech import speak

    out: dict[str, np.ndarray] = {}
    files = sorted(f for f in ALSA_DIR.glob("*.wav") if f.name != "Noise.wav")
    if files:
        parts: list[np.ndarray] = []
        for f in files:
            parts += [audio_io.read(f, sample_rate=SR)[0].mean(axis=0), np.zeros(SR // 4, np.float32)]
        out["alsa-utils speech"] = np.concatenate(parts)
    out["espeak-ng"] = speak(
        "Every morning she walks down to the river and sings a gentle song about the light.", SR
    )
    return out


def long_speech(seconds: float) -> np.ndarray:
    """``seconds`` of espeak-ng speech at 48 kHz (the voice bench's vocal)."""
    from app.bench_voice import vocal

    return vocal(seconds)


# ---------------------------------------------------------------- quality
def quality(name: str, x: np.ndarray) -> list[dict[str, Any]]:
    """Each vocoder on ``x``: DNSMOS OVRL before/after, PESQ wb and ESTOI against ``x``."""
    from plugins.metrics import dnsmos, pesq_score, stoi_score
    from plugins.vocoder import enhance_vocoder
    from plugins.voice import enhance_voice

    before = dnsmos(x, SR)["ovrl"]
    runs = {
        "hifigan (onnxruntime)": lambda: enhance_vocoder(x, SR, "hifigan", runtime="onnx"),
        "hifigan (torch)": lambda: enhance_vocoder(x, SR, "hifigan", runtime="torch"),
        "dsp (every step)": lambda: enhance_vocoder(x, SR, "dsp"),
        "voice stage, gated (hifigan onnx, else dsp steps)": lambda: enhance_voice(x[None], SR, prosody=False),
    }
    rows = []
    for label, fn in runs.items():
        t0 = time.perf_counter()
        y, rep = fn()
        wall = time.perf_counter() - t0
        y = np.asarray(y).reshape(-1)
        row = {"file": name, "vocoder": label, "seconds": round(wall, 2), "ovrl_before": round(before, 3),
               "ovrl_after": round(dnsmos(y, SR)["ovrl"], 3), "pesq_wb": round(pesq_score(x, y, SR), 2),
               "estoi": round(stoi_score(x, y, SR, extended=True), 3)}
        if "kept" in rep:
            row["kept"], row["dropped"] = rep["kept"], rep["dropped"]
        rows.append(row)
        print(f"  {name:<18} {label:<50} OVRL {row['ovrl_before']:.3f} -> {row['ovrl_after']:.3f}  "
              f"PESQ {row['pesq_wb']:.2f}  ESTOI {row['estoi']:.3f}", flush=True)
    return rows


# ---------------------------------------------------------------- speed, one per fresh process
def speed_one(kind: str, runtime: str, seconds: float, vocos_dir: str | None) -> dict[str, Any]:
    """Resynthesise ``seconds`` of speech once (this process only); x-real-time, peak RSS, torch imported."""
    from app.bench_chain import rss_mb
    from plugins.vocoder import enhance_vocoder

    x = long_speech(seconds)
    warm = x[: SR // 2]
    enhance_vocoder(warm, SR, kind, vocos_dir, runtime=runtime)  # load (and compile) outside the timing
    t0, c0 = time.perf_counter(), time.process_time()
    _, rep = enhance_vocoder(x, SR, kind, vocos_dir, runtime=runtime)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"vocoder": kind, "runtime": rep["detail"].get("runtime", "-"), "audio_s": seconds,
            "wall_s": round(wall, 2), "x_realtime": round(seconds / wall, 2), "cpu_s": round(cpu, 2),
            "x_realtime_per_cpu_s": round(seconds / cpu, 2), "peak_rss_mb": round(rss_mb()[1], 1),
            "torch_imported": "torch" in sys.modules, "warnings": rep["warnings"]}


def speed_fresh(kind: str, runtime: str, seconds: float, vocos_dir: Path | None) -> dict[str, Any]:
    """:func:`speed_one` in a fresh Python process (its own peak memory)."""
    args = [sys.executable, "-m", "app.bench_voice_real", kind, runtime, str(seconds), str(vocos_dir or "")]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
                          env=dict(os.environ), timeout=3600)
    if proc.returncode != 0:
        return {"vocoder": kind, "runtime": runtime, "error": proc.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run_bench(seconds: float, files: list[Path], torch_hifigan: bool = True) -> dict[str, Any]:
    """Quality on real speech, then speed and memory per vocoder and runtime; returns the tables."""
    from core import audio_io
    from plugins.vocoder import random_vocos_dir
    from plugins.vocoder_onnx import ensure_export

    material = real_speech()
    for f in files:
        material[f.name] = audio_io.read(f, sample_rate=SR)[0].mean(axis=0)
    print(f"voice-real bench: quality on {', '.join(material)}", flush=True)
    t0 = time.perf_counter()
    ensure_export("hifigan")  # exported once into the data directory, reused by every later run
    export_s = time.perf_counter() - t0
    rows = [r for name, x in material.items() for r in quality(name, x)]
    print(f"speed: {seconds:.0f} s of 48 kHz speech, each in a fresh process, 2 threads", flush=True)
    speed = []
    with tempfile.TemporaryDirectory(prefix="mixbridge-vocos-") as d:
        vdir = random_vocos_dir(Path(d))
        ensure_export("vocos", vdir)
        runs = [("hifigan", "onnx", None), ("hifigan", "torch", None), ("vocos", "onnx", vdir),
                ("vocos", "torch", vdir), ("dsp", "auto", None)]
        for kind, runtime, vd in runs:
            if kind == "hifigan" and runtime == "torch" and not torch_hifigan:
                continue
            r = speed_fresh(kind, runtime, seconds, vd)
            speed.append(r)
            print(f"  {kind:<8} {r.get('runtime', runtime):<12} {r.get('x_realtime', '-'):>7}x wall, "
                  f"{r.get('x_realtime_per_cpu_s', '-')}x per CPU second  "
                  f"peak {r.get('peak_rss_mb', '-')} MB  torch imported: {r.get('torch_imported', '-')}"
                  f"{'  ' + str(r['error']) if 'error' in r else ''}", flush=True)
    onnx = next((r for r in speed if r["vocoder"] == "hifigan" and r.get("runtime") == "onnxruntime"), {})
    target = {
        **SONG_TARGET,
        "hifigan_onnx_x_realtime": onnx.get("x_realtime"),
        "hifigan_onnx_peak_rss_mb": onnx.get("peak_rss_mb"),
        "met": bool(onnx) and onnx["x_realtime"] >= SONG_TARGET["x_realtime"]
        and onnx["peak_rss_mb"] < SONG_TARGET["peak_rss_mb"],
    }
    return {"sample_rate": SR, "seconds": seconds, "hifigan_export_s": round(export_s, 2), "quality": rows,
            "speed": speed, "song_vocoder_target": target}


def cmd_bench_voice_real(args: argparse.Namespace) -> int:
    from core import files

    res = run_bench(args.seconds, args.files, not args.no_torch_hifigan)
    t = res["song_vocoder_target"]
    print(f"song target for the vocoder that runs here (HiFi-GAN, ONNX, 2 threads): >= {t['x_realtime']}x and "
          f"< {t['peak_rss_mb']:.0f} MB -> {t['hifigan_onnx_x_realtime']}x, {t['hifigan_onnx_peak_rss_mb']} MB: "
          f"{'met' if t['met'] else 'not met'}")
    if args.json:
        files.write_text(args.json, json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":  # one speed run in a fresh process: KIND RUNTIME SECONDS [VOCOS_DIR]
    kind, runtime, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    print(json.dumps(speed_one(kind, runtime, secs, sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None)))
