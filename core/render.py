"""Offline render: a session's tracks through their chains, block by block, then the master.

The render makes the very ``process()`` calls the real-time engine makes, in
blocks of ``session.block_size`` frames, so an offline render is what a live
run would have produced. Track chains run in sidechain order inside each block
(the music's ducker hears this block of the processed vocal); track latencies
are compensated before the sum.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core import audio_io, files, loudness
from core.chain import Chain
from core.errors import MixbridgeError, SessionError
from core.host import PluginHost
from core.progress import progress_bar
from core.session import Session


@dataclass
class RenderResult:
    """The mastered stereo mix (float32, (2, frames)) and its report."""

    audio: np.ndarray
    sample_rate: int
    report: dict[str, Any]
    output: Path | None = None


def build_chains(session: Session, host: PluginHost) -> tuple[dict[str, Chain], Chain]:
    """Each track's chain and the master chain; errors name the session key."""
    chains: dict[str, Chain] = {}
    for i, t in enumerate(session.tracks):
        where = f"tracks[{i}] ({t.name})"
        if t.chain:
            if t.chain not in host.config.chains:
                known = ", ".join(sorted(host.config.chains)) or "none"
                raise SessionError(f"{where}.chain = {t.chain!r}: no such chain in plugins.toml ({known})")
            chains[t.name] = host.build_chain(host.config.chains[t.chain], t.name, f"{where}: chains.{t.chain}")
        else:
            chains[t.name] = host.build_chain(t.processors, t.name, f"{where}.processors")
    m = session.master
    if m.chain:
        if m.chain not in host.config.chains:
            raise SessionError(f"master.chain = {m.chain!r}: no such chain in plugins.toml")
        master = host.build_chain(host.config.chains[m.chain], "master", f"master: chains.{m.chain}")
    else:
        master = host.build_chain(m.processors, "master", "master.processors")
    return chains, master


def track_order(chains: dict[str, Chain]) -> list[str]:
    """Tracks ordered so that every sidechain source runs before its listeners."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise SessionError(f"sidechain cycle: {' -> '.join([*path, name])}")
        state[name] = 1
        for src in sorted(chains[name].sidechain_inputs):
            if src not in chains:
                raise SessionError(
                    f"tracks ({name}): sidechain {src!r} is not a track (tracks: {', '.join(chains)})"
                )
            if src == name:
                raise SessionError(f"tracks ({name}): a track cannot sidechain itself")
            visit(src, [*path, name])
        state[name] = 2
        order.append(name)

    for name in chains:
        visit(name, [])
    return order


def pan_gains(pan: float, channels: int, gain_db: float) -> tuple[float, float]:
    """Constant-power pan for mono, balance for stereo; unity at centre."""
    g = 10.0 ** (gain_db / 20.0)
    theta = (pan + 1.0) * math.pi / 4.0
    if channels == 1:
        return g * math.cos(theta), g * math.sin(theta)
    return g * min(1.0, math.sqrt(2.0) * math.cos(theta)), g * min(1.0, math.sqrt(2.0) * math.sin(theta))


def render(
    session: Session,
    host: PluginHost,
    output: str | Path | None = None,
    block_size: int | None = None,
    progress: bool = False,
    on_progress: Callable[[float], None] | None = None,
    observe: Observer | None = None,
) -> RenderResult:
    """Render ``session`` to a mastered stereo mix; write WAV and JSON when ``output`` is given.

    ``progress`` draws a bar on stderr; ``on_progress`` gets the share done (0..1)
    as the blocks run; ``observe(stage, side, audio)`` sees each stage's input
    (``side="in"``) and output (``"out"``), aligned and of equal length, for
    pictures of what a stage did (``track:NAME``, ``master``, ``loudness``). The
    arrays are the render's own buffers: read them, never keep or change them.

    The stages, each a function below: :func:`load_sources`, :func:`run_tracks`,
    :func:`run_master`, :func:`master_loudness`; their timings go in the report.

    Examples
    --------
    >>> result = render(Session.load("demo/session.toml"), PluginHost.from_toml())  # doctest: +SKIP
    >>> result.report["loudness"]["after"]["integrated_lufs"]                       # doctest: +SKIP
    -14.0
    """
    t_start = time.perf_counter()
    bs = int(block_size or session.block_size)
    if bs < 1:
        raise SessionError(f"block_size = {bs}: must be >= 1")
    job = _Job(session, bs, observe or _ignore)
    t0 = time.perf_counter()
    chains, master = build_chains(session, host)
    for ch in [*chains.values(), master]:
        offline = [s.label for s in ch if not s.processor.realtime]
        if offline:
            job.warnings.append(f"chain {ch.name!r}: offline-only processors {offline} (cannot run live)")
    sources = load_sources(session)
    job.stages.append({"stage": "load", "seconds": time.perf_counter() - t0})
    latency = {name: ch.latency for name, ch in chains.items()}
    n_out = max(a.shape[1] for a in sources.values()) + int(round(session.tail_s * session.sample_rate))
    with progress_bar(session.name, total=len(chains) + 1, enabled=progress) as bar:

        def advance(done: float) -> None:
            bar.update(done)
            if on_progress:
                on_progress(done / (len(chains) + 1))

        outs = run_tracks(job, chains, sources, n_out + max(latency.values()), advance)
        bus = _sum_to_bus(session, outs, latency, n_out, master.latency)
        mix = run_master(job, master, bus, lambda share: advance(len(chains) + share))
    mix, before, after = master_loudness(job, mix, host)
    elapsed = time.perf_counter() - t_start
    report: dict[str, Any] = {
        "session": session.name,
        "sample_rate": session.sample_rate,
        "block_size": bs,
        "duration_s": mix.shape[1] / session.sample_rate,
        "render_seconds": elapsed,
        "realtime_factor": (mix.shape[1] / session.sample_rate) / elapsed if elapsed > 0 else None,
        "latency_samples": {**latency, "master": master.latency},
        "stages": job.stages,
        "loudness": {"before": before, "after": after},
        "warnings": job.warnings,
    }
    result = RenderResult(mix, session.sample_rate, report)
    if output is not None:
        write_outputs(result, output, session.bit_depth)
    return result


Observer = Callable[[str, str, np.ndarray], None]


def _ignore(stage: str, side: str, audio: np.ndarray) -> None:
    """The observer of a render nobody watches."""


@dataclass
class _Job:
    """What the stages of one render share: the session, block size, observer, stage timings, warnings."""

    session: Session
    block: int
    observe: Observer
    stages: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def load_sources(session: Session) -> dict[str, np.ndarray]:
    """Every track's source at the session's rate, mono or stereo; errors name the track."""
    sources: dict[str, np.ndarray] = {}
    for i, t in enumerate(session.tracks):
        try:
            sources[t.name], _ = audio_io.read(session.resolve(t.source), sample_rate=session.sample_rate)
        except MixbridgeError as e:
            raise type(e)(f"tracks[{i}] ({t.name}).source: {e}") from None
        if sources[t.name].shape[0] > 2:
            n_ch = sources[t.name].shape[0]
            raise SessionError(f"tracks[{i}] ({t.name}).source: {n_ch} channels; use mono or stereo")
    return sources


def run_tracks(job: _Job, chains: dict[str, Chain], sources: dict[str, np.ndarray], frames: int,
               advance: Callable[[float], None]) -> dict[str, np.ndarray]:
    """Each track through its chain, sidechain sources first; the tracks padded to ``frames``."""
    outs: dict[str, np.ndarray] = {}
    max_latency = max(ch.latency for ch in chains.values())
    for k, name in enumerate(track_order(chains)):
        t0 = time.perf_counter()
        outs[name] = _padded(sources.pop(name), frames)  # one copy of each song at a time
        lat, n = chains[name].latency, frames - max_latency
        job.observe(f"track:{name}", "in", outs[name][:, :n])
        chains[name].process_offline(outs[name], job.session.sample_rate, job.block,
                                     {s: outs[s] for s in chains[name].sidechain_inputs},
                                     lambda share, k=k: advance(k + share))  # type: ignore[misc]
        if not np.isfinite(outs[name]).all():
            raise MixbridgeError(f"track {name!r}: chain produced non-finite samples")
        job.observe(f"track:{name}", "out", outs[name][:, lat : lat + n])
        job.stages.append({
            "stage": f"track:{name}",
            "processors": [s.label for s in chains[name] if not s.bypass],
            "latency_samples": chains[name].latency,
            "seconds": time.perf_counter() - t0,
        })
    return outs


def run_master(job: _Job, master: Chain, bus: np.ndarray, advance: Callable[[float], None]) -> np.ndarray:
    """The stereo bus through the master chain, its latency removed."""
    t0 = time.perf_counter()
    job.observe("master", "in", bus[:, : bus.shape[1] - master.latency])
    master.process_offline(bus, job.session.sample_rate, job.block, on_progress=advance)
    mix = np.ascontiguousarray(bus[:, master.latency :])
    if not np.isfinite(mix).all():
        raise MixbridgeError("master chain produced non-finite samples")
    job.observe("master", "out", mix)
    job.stages.append({
        "stage": "master",
        "processors": [s.label for s in master if not s.bypass],
        "latency_samples": master.latency,
        "seconds": time.perf_counter() - t0,
    })
    return mix


def master_loudness(job: _Job, mix: np.ndarray, host: PluginHost) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """The loudness stage (target, true-peak ceiling); returns the mix and its levels before and after."""
    t0 = time.perf_counter()
    sr = job.session.sample_rate
    loud = job.session.master.loudness
    if loud.enabled and mix.shape[1] >= 0.4 * sr:  # BS.1770 needs one 400 ms gating block
        premaster = mix
        job.observe("loudness", "in", premaster)
        mix, mastering = loudness.master(mix, sr, host, target_lufs=loud.target_lufs, ceiling_dbtp=loud.ceiling_dbtp)
        job.observe("loudness", "out", mix)
        before = _levels(mastering["lufs_before"], mastering["lra_before"], mastering["true_peak_before"], premaster)
        after = _levels(mastering["lufs_after"], mastering["lra_after"], mastering["true_peak_after"], mix)
        job.warnings.extend(mastering.pop("warnings"))
        job.stages.append({"stage": "loudness", "seconds": time.perf_counter() - t0, **mastering})
        return mix, before, after
    if loud.enabled:
        job.warnings.append("loudness stage skipped: the mix is shorter than one 400 ms gating block")
    before = measure(mix, sr)
    if before["true_peak_dbtp"] is not None and before["true_peak_dbtp"] > 0:
        job.warnings.append(f"the mix peaks at {before['true_peak_dbtp']:+.1f} dBTP (loudness stage off)")
    return mix, before, before


def _padded(src: np.ndarray, frames: int) -> np.ndarray:
    """``src`` in a zeroed float32 buffer of ``frames`` frames (room for the tail and latency)."""
    buf = np.zeros((src.shape[0], frames), dtype=np.float32)
    buf[:, : src.shape[1]] = src
    return buf


def _sum_to_bus(session: Session, outs: dict[str, np.ndarray], latency: dict[str, int], n_out: int,
                master_lat: int) -> np.ndarray:
    """Pan, gain and sum the tracks into a stereo bus; each track is dropped once it is in."""
    bus = np.zeros((2, n_out + master_lat), dtype=np.float32)
    for t in session.tracks:
        y = outs.pop(t.name)[:, latency[t.name] : latency[t.name] + n_out]
        gl, gr = pan_gains(t.pan, y.shape[0], t.gain_db)
        bus[0, :n_out] += gl * y[0]
        bus[1, :n_out] += gr * y[-1]
    return bus


def _levels(lufs: float | None, lra: float | None, tp: float, audio: np.ndarray) -> dict[str, float | None]:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return {
        "integrated_lufs": lufs if lufs is not None and math.isfinite(lufs) else None,
        "loudness_range_lu": lra,
        "true_peak_dbtp": tp,
        "sample_peak_dbfs": 20.0 * math.log10(peak) if peak > 0 else None,
    }


def measure(audio: np.ndarray, sr: int) -> dict[str, float | None]:
    """Integrated loudness (LUFS), loudness range (LU), true peak (dBTP) and sample peak (dBFS).

    Loudness is None for audio shorter than one 400 ms gating block.
    """
    gated = audio.shape[1] >= 0.4 * sr  # BS.1770 needs one 400 ms gating block
    lufs, lra = loudness.loudness_and_range(audio, sr) if gated else (None, None)
    return _levels(lufs, lra, loudness.true_peak_dbtp(audio, sr), audio)


def write_outputs(result: RenderResult, output: str | Path, bit_depth: str = "24") -> Path:
    """Write OUT.wav and OUT.json (the report, with both paths filled in)."""
    out = Path(output)
    audio_io.write(out, result.audio, result.sample_rate, bit_depth)
    result.output = out
    result.report["output"] = str(out)
    result.report["report"] = str(out.with_suffix(".json"))
    files.write_text(out.with_suffix(".json"), json.dumps(result.report, indent=2, default=float) + "\n")
    return out
