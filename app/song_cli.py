"""``mixbridge song`` (the complete pipeline) and ``mixbridge bench song``."""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.args import output_path
from app.report_html import add_arguments
from core.errors import MixbridgeError, ModelUnavailableError
from core.hookspecs import hookimpl

log = logging.getLogger(__name__)


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = sub.add_parser("song", help="generate, enhance, mix, master, preview, measure and remember a song")
    p.add_argument("--lyrics", required=True, type=Path, help="a text file with the lyrics")
    p.add_argument("--genre", default="pop")
    p.add_argument("--bpm", type=float, default=100.0)
    p.add_argument("--key", default="A minor", help='e.g. "C major", "F# minor"')
    p.add_argument("--duration", type=float, default=30.0, help="seconds")
    p.add_argument("--user", default=None, help="whose memory recommends and records (default MIXBRIDGE_USER)")
    p.add_argument("-o", "--output", required=True, type=output_path, help="output folder")
    add_arguments(p, "song.wav")
    p.set_defaults(func=cmd_song)

    p = bench.add_parser("song", help="the complete pipeline on a 3-minute song; /voice with 4 clients")
    p.add_argument("--duration", type=float, default=180.0)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--requests", type=int, default=8, help="/voice requests in all")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_song)


def cmd_song(args: argparse.Namespace) -> int:
    from app.loading import load_host
    from app.records import open_memory
    from app.report_html import target
    from app.song import generate_complete_song_with_enhancement
    from core.progress import progress_bar
    from memory.recorder import local_user

    try:
        lyrics = args.lyrics.read_text()
    except OSError as e:
        raise MixbridgeError(f"--lyrics {args.lyrics}: {e.strerror or e}") from None
    if not 1.0 <= args.duration <= 1200.0:
        raise MixbridgeError(f"--duration {args.duration}: use 1 to 1200 seconds")
    host = load_host()
    pictures = target(args.plot, args.report, args.output / "song.wav")
    taps = None
    if pictures:
        from app.plots import StageTaps

        taps = StageTaps(48000, levels=("loudness", "plain"))
    with progress_bar("song") as bar:
        rep = generate_complete_song_with_enhancement(
            lyrics, args.genre, args.bpm, args.key, args.duration, args.output, user=args.user or local_user(),
            host=host, memory=open_memory(host), observe=taps,
            on_progress=lambda stage, done: bar.update(0.9 * done if pictures else done, f"song: {stage}"))
        if pictures:
            bar.update(0.9, "song: pictures")
            song_pictures(pictures, rep, taps, host, args.key)
    for name, path in rep["outputs"].items():
        print(f"{name:8s} {path}")
    if pictures:
        print("pictures " + " ".join(map(str, pictures.paths)))
    q = rep["quality_metrics"]
    print(f"x-real-time {rep['x_realtime']:.1f}, peak memory {rep['peak_rss_mb']:.0f} MB; "
          f"quality {json.dumps(q, default=float)}")
    if rep.get("render_id"):
        print(f"render id {rep['render_id']} (rate it: mixbridge rate {rep['render_id']} --overall 4)")
    for w in rep["warnings"]:
        print(f"warning: {w}")
    return 0


def song_pictures(pictures: Any, rep: dict[str, Any], taps: Any, host: Any, key: str) -> None:
    """The song's mix pictures (plain sum against the song, loudness, gain per stage), the vocal before and
    after enhancement (spectrum, pitch; the key's scale when auto-tuned) and the HTML report."""
    from app.report_html import IMAGE_ROWS, LEVEL_ROWS, add_render_pictures, add_voice_pictures, rows_of
    from core import audio_io
    from core.render import RenderResult

    song, sr = audio_io.read(rep["outputs"]["song"])
    mix = rep["mix"]
    add_render_pictures(pictures, RenderResult(song, sr, {"stages": mix.get("stages", [])}), taps, "plain")
    raw, _ = audio_io.read(Path(rep["outputs"]["song"]).with_name("vocals_raw.wav"), sample_rate=sr)
    voiced, _ = audio_io.read(rep["outputs"]["vocals"], sample_rate=sr)
    tuned = (rep["voice"].get("config") or {}).get("autotune_key")
    add_voice_pictures(pictures, raw, voiced, sr, host.service("voice"), tuned or None, prefix="vocal-",
                       labels=("vocal as generated", "vocal enhanced"))
    g = mix.get("genre") or {}
    facts = {"song": rep["outputs"]["song"], "genre": g.get("name"), "key": key, "x real time": rep["x_realtime"],
             "render id": rep.get("render_id"), **{f"quality: {k}": v for k, v in rep["quality_metrics"].items()}}
    m = mix.get("measurements") or {"before": {}, "after": {}}
    pictures.write_html(facts, rows_of(m["before"], m["after"], LEVEL_ROWS + IMAGE_ROWS),
                        rep["enhancement_applied"], rep["warnings"])


LYRICS = "Light on the water, I hear you calling\nHold on to the morning, we keep on falling\n"


def bench_song(duration: float, clients: int, requests: int) -> dict[str, Any]:
    """Per-stage x-real-time and peak memory of one song, then /voice throughput over HTTP.

    Without Vocos weights the song runs twice: with the fallback vocoder that is
    installed, and with a Vocos of the real architecture and random weights (its
    speed, not its sound), so both figures are on record. Each run is a fresh
    process, so that its peak memory is its own.
    """
    from core.host import PluginHost
    from core.settings import EnhancementSettings

    vocoder = PluginHost.from_toml().service("vocoder")

    out: dict[str, Any] = {"duration_s": duration, "runs": []}
    settings = replace(EnhancementSettings.from_env(), enable_caching=False)  # measure the work, not the cache
    with tempfile.TemporaryDirectory(prefix="mixbridge-bench-song-") as tmp:
        root = Path(tmp)
        vocos = vocoder.random_vocos_dir(root / "vocos-random") if vocoder.find_vocos_weights()[0] is None else None
        try:
            vocoder.export_onnx(vocos)  # before any measured run: the export (torch) is not what is measured
        except ModelUnavailableError as e:
            out["warnings"] = [f"ONNX export: {e}"]
        out["runs"].append(_song_run_fresh(root / "installed", duration))
        if vocos is not None:
            out["runs"].append(_song_run_fresh(root / "vocos", duration, vocos))
            out["runs"][-1]["note"] = "Vocos architecture with random weights: speed only"
        out["voice_api"] = bench_voice_api(root, settings, clients, requests)
    return out


def _song_run_fresh(root: Path, duration: float, vocos_dir: Path | None = None) -> dict[str, Any]:
    """:func:`_song_run` in a child process (caching off; Vocos from ``vocos_dir`` when given)."""
    import os
    import subprocess
    import sys

    from core.host import PluginHost

    env = {**os.environ, "ENABLE_CACHING": "false"}
    if vocos_dir is not None:
        env[PluginHost.from_toml().service("vocoder").VOCOS_ENV] = str(vocos_dir)
    proc = subprocess.run([sys.executable, "-m", "app.song_cli", str(root), str(duration)],
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MixbridgeError(f"bench song: the run in {root} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _song_run(root: Path, duration: float) -> dict[str, Any]:
    from app.song import generate_complete_song_with_enhancement
    from core.settings import EnhancementSettings
    from memory.service import MemoryService

    memory = MemoryService(f"sqlite:///{root / 'memory.db'}", chroma_path=root / "chroma")
    rep = generate_complete_song_with_enhancement(LYRICS * 8, "pop", 100, "A minor", duration, root / "song",
                                                  user="bench", settings=EnhancementSettings.from_env(),
                                                  memory=memory)
    vocoder = next((s.get("vocoder") for s in rep["voice"].get("stages", []) if s.get("stage") == "vocoder"), None)
    return {"total_seconds": rep["seconds"], "x_realtime": rep["x_realtime"], "peak_rss_mb": rep["peak_rss_mb"],
            "stages": rep["stages"], "vocoder": vocoder}


def bench_voice_api(root: Path, settings: Any, clients: int, requests: int) -> dict[str, Any]:
    """POST /voice on a 10 s vocal from ``clients`` concurrent HTTP clients (uvicorn on a free port)."""
    import httpx
    import numpy as np
    import uvicorn

    from app.song import Services
    from bridge.api import create_app
    from bridge.auth import issue_token
    from core import audio_io

    media = root / "media"
    (media / "bench").mkdir(parents=True)  # a user reads and writes in their own folder
    sr = 48000
    t = np.arange(10 * sr) / sr
    voice = (0.3 * np.sin(2 * np.pi * 220 * t + 3 * np.sin(2 * np.pi * 5 * t)) * (t % 1 < 0.8)).astype(np.float32)
    for i in range(requests):  # distinct files: no request is served from another's work
        audio_io.write(media / "bench" / f"take{i}.wav", voice[None] * (1 - 0.01 * i), sr, "24")
    key = "bench-secret-" + "x" * 32
    app = create_app(Services(media, settings=settings), secret=key)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise MixbridgeError("bench song: the HTTP server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    headers = {"Authorization": f"Bearer {issue_token('bench', key=key)}"}
    body = {"enable_neural_vocoder": True, "enable_prosody": True, "enable_auto_tune": False}

    def post(i: int) -> tuple[float, str | None]:
        t0 = time.perf_counter()
        r = http.post("/api/v1/enhancement/voice", json={**body, "audio_path": f"bench/take{i}.wav"}, headers=headers)
        return time.perf_counter() - t0, None if r.status_code == 200 else f"{r.status_code}: {r.text[:200]}"

    t0 = time.perf_counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as http, \
            ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(post, range(requests)))
    wall = time.perf_counter() - t0
    server.should_exit = True
    thread.join(timeout=10)
    lat = np.array([dt for dt, _ in results])
    failures = [f for _, f in results if f]
    return {"clients": clients, "requests": requests, "failures": failures, "wall_s": wall,
            "audio_seconds_per_s": 10.0 * (requests - len(failures)) / wall,
            "latency_s": {"median": float(np.median(lat)), "max": float(lat.max())}}


def cmd_bench_song(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    res = bench_song(args.duration, args.clients, args.requests)
    if args.json:
        print(json.dumps(res, indent=2, default=float))
        return 0
    for run in res["runs"]:
        title = f"complete pipeline, {args.duration:.0f} s song, vocoder {run['vocoder']}"
        t = Table(title=title + (f" ({run['note']})" if run.get("note") else ""))
        for col in ("stage", "seconds", "x real-time", "peak RSS MB"):
            t.add_column(col)
        for s in run["stages"]:
            if "seconds" not in s:
                t.add_row(s["stage"], "-", s.get("skipped") or s.get("failed", ""), "")
                continue
            xrt = s.get("x_realtime")
            t.add_row(s["stage"], f"{s['seconds']:.2f}", f"{xrt:.1f}" if xrt else "-",
                      f"{s.get('peak_rss_mb', 0):.0f}")
        t.add_row("[bold]total", f"{run['total_seconds']:.2f}", f"{run['x_realtime']:.1f}",
                  f"{run['peak_rss_mb']:.0f}")
        Console().print(t)
    for w in res.get("warnings", []):
        print(f"warning: {w}")
    v = res["voice_api"]
    print(f"/voice, 10 s files, {v['clients']} clients: {v['requests']} requests in {v['wall_s']:.1f} s = "
          f"{v['audio_seconds_per_s']:.1f} s of audio per s; latency median {v['latency_s']['median']:.2f} s, "
          f"max {v['latency_s']['max']:.2f} s; failures {len(v['failures'])}")
    return 0


if __name__ == "__main__":  # one bench run in a fresh process: ROOT DURATION, JSON on the last line
    import sys

    print(json.dumps(_song_run(Path(sys.argv[1]), float(sys.argv[2])), default=float))
