"""Mixing commands: ``mix``, ``analyze`` and ``bench mix``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from app.args import output_path
from app.report_html import add_arguments
from core.hookspecs import hookimpl


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = sub.add_parser("mix", help="mix a vocal over music: genre preset, unmasking, ducking, width, loudness")
    p.add_argument("vocals", type=Path, help="vocal stem (mono or stereo)")
    p.add_argument("music", type=Path, help="instrumental (mono or stereo)")
    p.add_argument("-o", "--output", type=output_path, required=True,
                   help="output WAV (a JSON report is written beside it)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--genre", help="genre preset (default: classified from the music)")
    g.add_argument("--reference", type=Path, help="reference track to match (spectrum, width, loudness)")
    p.add_argument("--no-intelligent", dest="intelligent", action="store_false",
                   help="plain level-matched sum, for comparison")
    p.add_argument("--sample-rate", type=int, default=48000)
    p.add_argument("--save-session", type=Path, help="also write the mix as a session TOML")
    p.add_argument("--user", help="whose render this is, to rate (default MIXBRIDGE_USER)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_arguments(p)
    p.set_defaults(func=cmd_mix)

    p = sub.add_parser("analyze", help="spectrum, bands, masking and stereo image of a vocal and/or music")
    p.add_argument("files", type=Path, nargs="+", help="one file, or VOCALS MUSIC for the masking report")
    p.add_argument("--genre", action="store_true", help="also classify the (last) file's genre")
    p.set_defaults(func=cmd_analyze)

    p = bench.add_parser("mix", help="mix a synthetic 3-minute song (mono vocal, stereo music, every stage); "
                         "--real: real songs x real voices, ESTOI and loudness per pair")
    p.add_argument("--seconds", type=float, help="song length (default 180) or, with --real, excerpt length (15)")
    p.add_argument("--sample-rate", type=int, default=48000)
    p.add_argument("--real", action="store_true",
                   help="mix real corpus songs x voices (scripts/corpus.sh): intelligent vs plain sum")
    p.add_argument("--classify", action="store_true",
                   help="with --real: the classifier picks the preset (default: the song's genre in the manifest)")
    p.add_argument("--pairs", type=int, help="with --real: only the first N pairs")
    p.set_defaults(func=cmd_bench_mix)


def cmd_mix(args: argparse.Namespace) -> int:
    from app.loading import load_host
    from app.planner import plan_mix, run_mix
    from app.records import announce, open_memory, record_render
    from app.report_html import target
    from core.progress import progress_bar
    from core.render import write_outputs

    host = load_host()
    pictures = target(args.plot, args.report, args.output)
    taps = None
    if pictures:
        from app.plots import StageTaps

        taps = StageTaps(args.sample_rate, levels=("loudness", "plain"))
    with progress_bar("mix: analysing the stems") as bar:
        plan = plan_mix(args.vocals, args.music, host, genre=args.genre, reference=args.reference,
                        intelligent=args.intelligent, sample_rate=args.sample_rate, output=args.output)
        if args.save_session:
            plan.session.save(args.save_session)
        result = run_mix(plan, host, output=args.output, on_progress=bar.span(0.3, 0.9, "mix: rendering"),
                         observe=taps)
        rep = result.report
        rid = record_render(open_memory(host), rep, plan.session.settings(), user=args.user, genre=plan.genre,
                            audio=str(args.output))
        write_outputs(result, args.output, plan.session.bit_depth)  # again, with the render id
        if pictures:
            bar.update(0.9, "mix: pictures")
            mix_pictures(pictures, result, taps, rid)
    if args.json:
        print(json.dumps(rep, indent=2, default=float))
        return 0
    b, a = rep["measurements"]["before"], rep["measurements"]["after"]
    print(f"wrote {rep['output']} and {rep['report']}")
    if pictures:
        print("pictures " + " ".join(map(str, pictures.paths)))
    print(f"genre {genre_label(rep['genre'])}")
    print("applied: " + ", ".join(rep["enhancement_applied"]))
    for key, unit in (("integrated_lufs", "LUFS"), ("true_peak_dbtp", "dBTP"), ("masking_db", "dB"),
                      ("width", ""), ("low_band_correlation", "")):
        if b.get(key) is not None and a.get(key) is not None:
            print(f"  {key:22s} {b[key]:8.2f} -> {a[key]:8.2f} {unit}")
    announce(rid, rep["warnings"])
    return 0


def genre_label(g: dict[str, Any]) -> str:
    """``pop (classified, confidence 0.84)``: a report's genre as the terminal and the HTML report show it."""
    conf = f", confidence {g['confidence']:.2f}" if g["confidence"] is not None else ""
    return f"{g['name']} ({g['source']}{conf})"


def mix_pictures(pictures: Any, result: Any, taps: Any, render_id: str | None) -> None:
    """A mix's pictures and HTML report: the plain sum against the mix, loudness, gain per stage."""
    from app.report_html import IMAGE_ROWS, LEVEL_ROWS, add_render_pictures, loudness_stage, rows_of

    rep = result.report
    add_render_pictures(pictures, result, taps, "plain")
    g, stage = rep["genre"], loudness_stage(rep)
    facts = {"output": rep.get("output"), "duration (s)": rep["duration_s"],
             "genre": genre_label(g),
             "target (LUFS)": stage.get("target_lufs"), "ceiling (dBTP)": stage.get("ceiling_dbtp"),
             "render id": render_id}
    b, a = rep["measurements"]["before"], rep["measurements"]["after"]
    pictures.write_html(facts, rows_of(b, a, LEVEL_ROWS + IMAGE_ROWS), rep["enhancement_applied"], rep["warnings"])


def cmd_analyze(args: argparse.Namespace) -> int:
    from app.loading import load_host
    from core import audio_io

    host = load_host()
    analysis = host.service("analysis")

    audio = [audio_io.read(f)[0] for f in args.files]
    sr = audio_io.read(args.files[0])[1]
    if len(audio) == 2:
        out: dict[str, Any] = analysis.report(audio[0], audio[1], sr)
    else:
        out = {"features": analysis.spectral_features(audio[0], sr),
               "stereo": analysis.stereo_measures(audio[0], sr, ((20.0, 150.0), (150.0, 2500.0), (2500.0, 20000.0)))}
    if args.genre:
        name, conf = host.service("genre").classify(audio[-1], sr)
        out["genre"] = {"name": name, "confidence": conf}
    print(json.dumps(out, indent=2, default=float))
    return 0


def synth_song(seconds: float, sr: int, seed: int = 0, host: Any = None) -> tuple[Any, Any]:
    """A synthetic song: a sung-like mono vocal (phrases, vibrato, sibilants) and stereo pop music."""
    import numpy as np

    from core.host import PluginHost

    synth_clip = (host or PluginHost.from_toml()).service("genre").synth_clip
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    left = np.concatenate([synth_clip("pop", rng, sr, 8.0) for _ in range(int(np.ceil(seconds / 8.0)))])[:n]
    right = np.roll(left, int(0.011 * sr)) * 0.9 + 0.1 * left
    music = np.vstack([left, right]).astype(np.float32) * 0.5
    t = np.arange(n) / sr
    f0 = 220.0 * 2 ** (np.floor(t / 0.5) % 5 / 12) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 16))
    phrase = ((t % 8.0) < 6.0) * (0.6 + 0.4 * np.sin(np.pi * (t % 0.5) / 0.5))
    ess = ((t % 2.0) > 1.85) * rng.standard_normal(n) * 0.3
    vocal = (0.3 * voice * phrase + ess * ((t % 8.0) < 6.0)).astype(np.float32)[None]
    return vocal, music


def cmd_bench_mix(args: argparse.Namespace) -> int:
    import subprocess
    import tempfile

    from core import audio_io
    from core.host import PluginHost

    if args.real:
        from app.mix_real import cmd_bench_real

        return cmd_bench_real(args)
    args.seconds = args.seconds or 180.0
    sr = args.sample_rate
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, secs, seed in (("song", args.seconds, 0), ("warm", 5.0, 1)):
            vocal, music = synth_song(secs, sr, seed)
            audio_io.write(d / f"{name}_vocals.wav", vocal, sr, "float")
            audio_io.write(d / f"{name}_music.wav", music, sr, "float")
        del vocal, music
        # a fresh process, so that peak memory is the mix's own (not the synthesis above)
        proc = subprocess.run([sys.executable, "-m", "app.mix_cli", str(d), str(sr)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        rep = json.loads(proc.stdout)
        pb = _pedalboard_ratio(sr, args.seconds, PluginHost.from_toml())
    total = rep["total_s"]
    print(f"mix of a {args.seconds:g} s song at {sr} Hz (mono vocal, stereo music), genre "
          f"{rep['genre']['name']} ({rep['genre']['source']}):")
    print(f"  {'plan (read, analyse, classify, tempo)':40s} {rep['plan_s']:7.2f} s")
    print(f"  {'render + measure + write':40s} {rep['run_s']:7.2f} s")
    for k, v in rep["stages"].items():
        print(f"    render stage {k:27s} {v:7.2f} s")
    print(f"  total {total:.2f} s = {args.seconds / total:.1f}x real time "
          f"(without the loudness stage: {args.seconds / (total - rep['stages'].get('loudness', 0.0)):.1f}x)")
    print(f"  peak RSS {rep['peak_rss_mb']:.0f} MB (after imports and a 5 s warm-up: {rep['warm_rss_mb']:.0f} MB)")
    print(f"  applied: {', '.join(rep['enhancement_applied'])}")
    for w in rep["warnings"]:
        print(f"  warning: {w}")
    for name, (ours, theirs) in pb.items():
        print(f"  {name}: mixbridge {ours:.3f} s, pedalboard {theirs:.3f} s (pedalboard/mixbridge {theirs / ours:.2f})")
    return 0


def _bench_child(folder: Path, sr: int) -> None:
    """The timed part of ``bench mix``: warm up on 5 s, then mix the song; print JSON."""
    from app.bench_chain import rss_mb
    from app.planner import plan_mix, run_mix
    from core.host import PluginHost

    host = PluginHost.from_toml()
    run_mix(plan_mix(folder / "warm_vocals.wav", folder / "warm_music.wav", host, genre="pop",
                     sample_rate=sr), host)
    warm = rss_mb()[1]
    t0 = time.perf_counter()
    plan = plan_mix(folder / "song_vocals.wav", folder / "song_music.wav", host, sample_rate=sr,
                    output=folder / "mix.wav")
    t1 = time.perf_counter()
    result = run_mix(plan, host, output=folder / "mix.wav")
    t2 = time.perf_counter()
    rep = result.report
    print(json.dumps({
        "plan_s": t1 - t0, "run_s": t2 - t1, "total_s": t2 - t0,
        "stages": {s["stage"]: s["seconds"] for s in rep["stages"]},
        "peak_rss_mb": rss_mb()[1], "warm_rss_mb": warm,
        "genre": rep["genre"], "enhancement_applied": rep["enhancement_applied"], "warnings": rep["warnings"],
    }, default=float))


def _pedalboard_ratio(sr: int, seconds: float, host: Any) -> dict[str, tuple[float, float]]:
    """Our reverb and delay against pedalboard's on the same stereo noise, 512-frame blocks."""
    import numpy as np
    import pedalboard

    x = (np.random.default_rng(0).standard_normal((2, int(seconds * sr))) * 0.1).astype(np.float32)
    out = {}
    for name, ours, theirs in (
        ("reverb", host.create("reverb", room_size=0.7), pedalboard.Reverb(room_size=0.7)),
        ("delay", host.create("delay", time_ms=300.0, feedback=0.4), pedalboard.Delay(delay_seconds=0.3, feedback=0.4)),
    ):
        ours.prepare(sr, 512, 2)
        y = x.copy()
        t0 = time.perf_counter()
        for i in range(0, y.shape[1], 512):
            ours.process(y[:, i : i + 512])
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(0, x.shape[1], 512):
            theirs.process(x[:, i : i + 512], sr, reset=False)
        out[name] = (t_ours, time.perf_counter() - t0)
    return out


if __name__ == "__main__":
    _bench_child(Path(sys.argv[1]), int(sys.argv[2]))
