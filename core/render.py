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
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import audio_io, loudness
from core.chain import Chain
from core.errors import MixbridgeError, SessionError
from core.host import PluginHost
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


def run_whole_track_stages(chain: Chain, audio: np.ndarray, block: int) -> tuple[Chain, list[str]]:
    """Run a prepared chain up to its last whole-track stage over all of ``audio`` in place.

    Whole-track stages (the vocoder, pitch correction) get the whole track in one
    call; the block-based slots before them run block by block. Returns the rest
    of the chain, for the block loop, and the labels of the stages run here.
    """
    slots = list(chain)
    last = max((i for i, s in enumerate(slots) if s.processor.whole_track), default=-1)
    if last < 0:
        return chain, []
    early = [s.label for s in slots[:last] if s.sidechain]
    if early:
        raise SessionError(f"chain {chain.name!r}: sidechain slot(s) {early} cannot come before a whole-track stage")
    for s in slots[: last + 1]:
        if s.processor.whole_track:
            if s.bypass:
                continue
            dry = audio.copy()
            s.processor.process(audio)
            if s.mix < 1.0:
                audio[...] = dry + s.mix * (audio - dry)
        else:
            for start, n in _blocks(audio.shape[1], block):
                s.process(audio[:, start : start + n], None)
    rest = Chain(slots[last + 1 :], name=chain.name)
    rest.prepare(chain.sample_rate, chain.max_block, chain.channels)
    return rest, [s.label for s in slots[: last + 1] if not s.bypass]


def _blocks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(size, total - start)


def _pan_gains(pan: float, channels: int, gain_db: float) -> tuple[float, float]:
    """Constant-power pan for mono, balance for stereo; unity at centre."""
    g = 10.0 ** (gain_db / 20.0)
    theta = (pan + 1.0) * math.pi / 4.0
    if channels == 1:
        return g * math.cos(theta), g * math.sin(theta)
    return g * min(1.0, math.sqrt(2.0) * math.cos(theta)), g * min(1.0, math.sqrt(2.0) * math.sin(theta))


def _progress(enabled: bool, total: int) -> Any:
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(), transient=True,
    )


def render(
    session: Session,
    host: PluginHost,
    output: str | Path | None = None,
    block_size: int | None = None,
    progress: bool = False,
) -> RenderResult:
    """Render ``session`` to a mastered stereo mix; write WAV and JSON when ``output`` is given.

    Examples
    --------
    >>> result = render(Session.load("demo/session.toml"), PluginHost.from_toml())  # doctest: +SKIP
    >>> result.report["loudness"]["after"]["integrated_lufs"]                       # doctest: +SKIP
    -14.0
    """
    t_start = time.perf_counter()
    sr = session.sample_rate
    bs = int(block_size or session.block_size)
    if bs < 1:
        raise SessionError(f"block_size = {bs}: must be >= 1")
    warnings: list[str] = []
    stages: list[dict[str, Any]] = []

    t0 = time.perf_counter()
    chains, master = build_chains(session, host)
    order = track_order(chains)
    for ch in [*chains.values(), master]:
        offline = [s.label for s in ch if not s.processor.realtime]
        if offline:
            warnings.append(f"chain {ch.name!r}: offline-only processors {offline} (cannot run live)")
    sources: dict[str, np.ndarray] = {}
    for i, t in enumerate(session.tracks):
        try:
            sources[t.name], _ = audio_io.read(session.resolve(t.source), sample_rate=sr)
        except MixbridgeError as e:
            raise type(e)(f"tracks[{i}] ({t.name}).source: {e}") from None
        if sources[t.name].shape[0] > 2:
            n_ch = sources[t.name].shape[0]
            raise SessionError(f"tracks[{i}] ({t.name}).source: {n_ch} channels; use mono or stereo")
    stages.append({"stage": "load", "seconds": time.perf_counter() - t0})

    n_in = max(a.shape[1] for a in sources.values())
    n_out = n_in + int(round(session.tail_s * sr))
    latency = {name: ch.latency for name, ch in chains.items()}
    lat_max = max(latency.values())
    n_track = n_out + lat_max
    outs: dict[str, np.ndarray] = {}
    for name in list(sources):
        outs[name] = _padded(sources.pop(name), n_track)  # one copy of each song at a time
        chains[name].prepare(sr, bs, outs[name].shape[0])
        t0 = time.perf_counter()
        chains[name], whole = run_whole_track_stages(chains[name], outs[name], bs)
        if whole:
            stages.append({"stage": f"track:{name}:whole-track", "processors": whole,
                           "seconds": time.perf_counter() - t0})
    master_lat = master.latency
    master.prepare(sr, bs, 2)

    n_blocks = math.ceil(n_track / bs) + math.ceil((n_out + master_lat) / bs)
    with _progress(progress, n_blocks) as bar:
        task = bar.add_task(session.name, total=n_blocks) if bar else None
        seconds = dict.fromkeys(order, 0.0)
        for start, n in _blocks(n_track, bs):
            for name in order:
                t1 = time.perf_counter()
                chains[name].process(outs[name][:, start : start + n],
                                     {s: outs[s][:, start : start + n] for s in chains[name].sidechain_inputs})
                seconds[name] += time.perf_counter() - t1
            if bar:
                bar.advance(task)
        for name in order:
            if not np.isfinite(outs[name]).all():
                raise MixbridgeError(f"track {name!r}: chain produced non-finite samples")
            stages.append({
                "stage": f"track:{name}",
                "processors": [s.label for s in chains[name] if not s.bypass],
                "latency_samples": latency[name],
                "seconds": seconds[name],
            })

        t1 = time.perf_counter()
        bus = _sum_to_bus(session, outs, latency, n_out, master_lat)
        for start, n in _blocks(bus.shape[1], bs):
            master.process(bus[:, start : start + n])
            if bar:
                bar.advance(task)
        mix = np.ascontiguousarray(bus[:, master_lat:])
        if not np.isfinite(mix).all():
            raise MixbridgeError("master chain produced non-finite samples")
        stages.append({
            "stage": "master",
            "processors": [s.label for s in master if not s.bypass],
            "latency_samples": master_lat,
            "seconds": time.perf_counter() - t1,
        })

    t1 = time.perf_counter()
    loud = session.master.loudness
    long_enough = mix.shape[1] >= 0.4 * sr  # BS.1770 needs one 400 ms gating block
    if loud.enabled and long_enough:
        premaster = mix
        mix, mastering = loudness.master(mix, sr, host, target_lufs=loud.target_lufs, ceiling_dbtp=loud.ceiling_dbtp)
        before = _levels(mastering["lufs_before"], mastering["lra_before"], mastering["true_peak_before"], premaster)
        after = _levels(mastering["lufs_after"], mastering["lra_after"], mastering["true_peak_after"], mix)
        warnings.extend(mastering.pop("warnings"))
        stages.append({"stage": "loudness", "seconds": time.perf_counter() - t1, **mastering})
    else:
        if loud.enabled:
            warnings.append("loudness stage skipped: the mix is shorter than one 400 ms gating block")
        before = after = measure(mix, sr)
        if before["true_peak_dbtp"] is not None and before["true_peak_dbtp"] > 0:
            warnings.append(f"the mix peaks at {before['true_peak_dbtp']:+.1f} dBTP (loudness stage off)")

    elapsed = time.perf_counter() - t_start
    report: dict[str, Any] = {
        "session": session.name,
        "sample_rate": sr,
        "block_size": bs,
        "duration_s": mix.shape[1] / sr,
        "render_seconds": elapsed,
        "realtime_factor": (mix.shape[1] / sr) / elapsed if elapsed > 0 else None,
        "latency_samples": {**latency, "master": master_lat},
        "stages": stages,
        "loudness": {"before": before, "after": after},
        "warnings": warnings,
    }
    result = RenderResult(mix, sr, report)
    if output is not None:
        write_outputs(result, output, session.bit_depth)
    return result


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
        gl, gr = _pan_gains(t.pan, y.shape[0], t.gain_db)
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
    out.with_suffix(".json").write_text(json.dumps(result.report, indent=2, default=float) + "\n")
    return out
