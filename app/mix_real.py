"""Mixing judged on real material: real songs x real voices from the corpus (``bench mix --real``).

Each pair is mixed twice at the music file's rate, as the plain level-matched sum
(``plan_mix(..., intelligent=False)``) and as the intelligent mix; both are scored by
ESTOI (pystoi, ``extended=True``) of the rendered mix against the dry voice. The
render compensates every chain's latency, so mix and voice line up sample for
sample, and ESTOI ignores level, so the loudness stage does not bias it. The
intelligent mix's integrated loudness (BS.1770) is compared with its preset's
target and its true peak with the -1 dBTP ceiling.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from core import audio_io, corpus

MIN_VOICE_S = 8.0  # the joined alsa announcements and the diphone sentences; single words are too short
BEDS = (("quiet bed, peak -40 dBFS", -40.0), ("loud bed, peak -0.1 dBFS", -0.1))  # the first rock pair, rescaled


def real_pairs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Held-out songs x voices: two real tracks per real genre and one FluidR3 render per genre,
    each with the next voice (recorded human and diphone in turn, every rate and channel count)."""
    songs: list[dict[str, Any]] = []
    for kind, per_genre in (("music-real", 2), ("music-render", 1)):
        seen: dict[str, int] = {}
        for e in corpus.entries(kind=kind, split="test"):
            if seen.get(e["genre"], 0) < per_genre:
                seen[e["genre"]] = seen.get(e["genre"], 0) + 1
                songs.append(e)
    speech = [e for e in corpus.entries(kind="speech-human") + corpus.entries(kind="speech-diphone")
              if e["seconds"] >= MIN_VOICE_S]
    by_voice: dict[str, list[dict[str, Any]]] = {}
    for e in speech:
        by_voice.setdefault(e["path"].stem.split("_")[0], []).append(e)
    voices = [e for group in zip(*by_voice.values(), strict=False) for e in group]  # alsa, kal, ked, alsa...
    return [(song, voices[i % len(voices)]) for i, song in enumerate(songs)]


def mix_pair(host: Any, music: dict[str, Any], voice: dict[str, Any], folder: Path, seconds: float,
             genre: str | None, bed_peak_dbfs: float | None = None) -> dict[str, Any]:
    """Mix one pair plainly and intelligently (``genre`` None: classified) and measure both.

    ``bed_peak_dbfs`` rescales the music to that sample peak first (a quiet or loud source).
    """
    from app.planner import plan_mix, run_mix
    from core import loudness

    sr = int(music["sample_rate"])
    voc, _ = audio_io.read(voice["path"], sample_rate=sr)
    mus, _ = audio_io.read(music["path"], sample_rate=sr)
    n = min(voc.shape[1], mus.shape[1], int(seconds * sr))
    voc, mus = voc[:, :n], mus[:, :n]
    if bed_peak_dbfs is not None:
        mus = mus * np.float32(10 ** (bed_peak_dbfs / 20) / np.max(np.abs(mus)))
    audio_io.write(folder / "voice.wav", voc, sr, "float")
    audio_io.write(folder / "music.wav", mus, sr, "float")
    estoi = host.service("metrics").stoi_score
    out: dict[str, Any] = {"music": music["path"].name, "voice": voice["path"].name, "sample_rate": sr,
                           "seconds": n / sr}
    for intelligent in (False, True):
        plan = plan_mix(folder / "voice.wav", folder / "music.wav", host, genre=genre if intelligent else None,
                        intelligent=intelligent, sample_rate=sr, output=folder / "mix.wav")
        mix = run_mix(plan, host).audio[:, :n]
        out["estoi_mix" if intelligent else "estoi_plain"] = estoi(voc, mix, sr, extended=True)
    target = plan.session.master.loudness.target_lufs
    out.update(genre=plan.genre, genre_source=plan.genre_source, target_lufs=target,
               loudness_error_lu=loudness.integrated_lufs(mix, sr) - target,
               true_peak_dbtp=loudness.true_peak_dbtp(mix, sr), warnings=plan.warnings,
               changes=plan.analysis.get("intelligibility", {}).get("changes", []))
    return out


def cmd_bench_real(args: argparse.Namespace) -> int:
    """``bench mix --real``: the table per pair, the two beds, and the summary."""
    import tempfile

    from core.host import PluginHost

    if not corpus.available():
        print(f"error: {corpus.MISSING}")
        return 1
    host = PluginHost.from_toml()
    seconds = args.seconds or 15.0
    pairs = real_pairs()[: args.pairs or None]
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dense = next((m, v) for m, v in real_pairs() if m["genre"] == "rock")  # a full, loud band
        jobs = [(m, v, None, "") for m, v in pairs] + [(*dense, peak, name) for name, peak in BEDS]
        for music, voice, peak, label in jobs:
            genre = None if args.classify else music["genre"]
            row = mix_pair(host, music, voice, Path(tmp), seconds, genre, bed_peak_dbfs=peak)
            rows.append(row | {"label": label})
            _print_row(row, label, first=len(rows) == 1)
    pair_rows = [r for r in rows if not r["label"]]
    gains = [r["estoi_mix"] - r["estoi_plain"] for r in pair_rows]
    wins = sum(g > 0 for g in gains)
    print(f"\nintelligent mix more intelligible than the plain sum on {wins} of {len(pair_rows)} real pairs; "
          f"mean ESTOI gain {np.mean(gains):+.3f} (min {min(gains):+.3f})")
    print(f"max |loudness error| {max(abs(r['loudness_error_lu']) for r in rows):.2f} LU, "
          f"max true peak {max(r['true_peak_dbtp'] for r in rows):+.2f} dBTP "
          f"({len(rows)} mixes incl. the beds; {seconds:g} s excerpts; {time.perf_counter() - t0:.0f} s)")
    return 0


def _print_row(r: dict[str, Any], label: str, first: bool) -> None:
    if first:
        print(f"{'music':40s} {'voice':22s} {'rate':>5s} {'genre (source)':24s} "
              f"{'ESTOI plain':>11s} {'mix':>6s} {'gain':>7s} {'LU err':>7s} {'dBTP':>6s}")
    genre = f"{r['genre']} ({r['genre_source']})"
    if label:
        print(f"{r['music']} as a {label}:")
    music = "" if label else r["music"]
    print(f"{music:40s} {r['voice']:22s} {r['sample_rate'] / 1000:5.1f} {genre:24s} {r['estoi_plain']:11.3f} "
          f"{r['estoi_mix']:6.3f} {r['estoi_mix'] - r['estoi_plain']:+7.3f} {r['loudness_error_lu']:+7.2f} "
          f"{r['true_peak_dbtp']:6.2f}")
    for c in r["changes"]:
        print(f"    check: {c}")
    for w in r["warnings"]:
        print(f"    warning: {w}")
