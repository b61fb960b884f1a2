"""``mixbridge bench rt``: the compiled callback's own time per block, against pedalboard.

The callback times itself (clock_gettime inside the compiled code), so the
figures are the audio thread's work and nothing of the Python driving it. A
second pass runs with another thread allocating and collecting garbage, the load
that makes Python callbacks late.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import numpy as np

SR = 48000


def _programme(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    v = 0.3 * np.sin(2 * np.pi * 196 * t + 3 * np.sin(2 * np.pi * 5 * t)) * (1 + 0.7 * np.sin(2 * np.pi * 0.4 * t))
    x = v + 0.03 * rng.standard_normal(t.size)
    return np.stack([x, x]).astype(np.float32)


def _pedalboard_chain() -> Any:
    import pedalboard as pb

    return pb.Pedalboard([
        pb.HighpassFilter(90.0), pb.PeakFilter(3000.0, 2.0, 1.0),
        pb.Compressor(threshold_db=-20.0, ratio=3.0, attack_ms=5.0, release_ms=80.0),
        pb.Limiter(threshold_db=-1.0, release_ms=60.0),
    ])


class realtime_priority:
    """Run the calling thread SCHED_FIFO (as JACK and CoreAudio run audio threads) while inside."""

    def __init__(self, priority: int = 70) -> None:
        self.priority = priority
        self.ok = False

    def __enter__(self) -> realtime_priority:
        import os

        try:
            self.old = os.sched_getscheduler(0), os.sched_getparam(0)
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.priority))
            self.ok = True
        except (AttributeError, PermissionError, OSError):
            self.ok = False
        return self

    def __exit__(self, *exc: object) -> None:
        import os

        if self.ok:
            os.sched_setscheduler(0, self.old[0], self.old[1])


def _stats(us: np.ndarray, deadline_us: float) -> dict[str, float]:
    med, p999, top = float(np.median(us)), float(np.percentile(us, 99.9)), float(us.max())
    return {"median_us": med, "p999_us": p999, "max_us": top, "median_pct": 100 * med / deadline_us,
            "p999_pct": 100 * p999 / deadline_us, "max_pct": 100 * top / deadline_us}


def _ours(chain_name: str, x: np.ndarray, block: int, stress: bool) -> np.ndarray:
    from core.host import PluginHost
    from rt import fuse

    chain = PluginHost.from_toml().chain(chain_name)
    chain.prepare(SR, block, 2)
    fused = fuse.FusedChain(chain, 2, 2)
    inter = np.ascontiguousarray(x.T)
    out = np.zeros_like(inter)
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            junk = [{"k": [i]} for i in range(100_000)]
            del junk
            gc.collect()

    t = threading.Thread(target=churn, daemon=True)
    if stress:
        t.start()
    try:
        with realtime_priority():
            for i in range(0, inter.shape[0] - block + 1, block):
                fused.call(inter[i : i + block], out[i : i + block])
    finally:
        stop.set()
    n = min(int(fused.stats[fuse.DUR_POS]), fuse.DUR_RING)
    return fused.stats[fuse.STATS_HEAD : fuse.STATS_HEAD + n] / 1000.0


def _pedalboard(x: np.ndarray, block: int) -> np.ndarray:
    board = _pedalboard_chain()
    times = []
    with realtime_priority():
        for i in range(0, x.shape[1] - block + 1, block):
            t0 = time.perf_counter_ns()
            board.process(x[:, i : i + block], SR, buffer_size=block, reset=False)
            times.append(time.perf_counter_ns() - t0)
    return np.array(times[-min(len(times), 16384):]) / 1000.0


def bench_rt(
    chain: str = "vocal", blocks: tuple[int, ...] = (32, 64, 128, 256), seconds: float = 30.0
) -> dict[str, Any]:
    """Print and return per-block timing of the compiled callback and of pedalboard."""
    x = _programme(seconds)
    result: dict[str, Any] = {"chain": chain, "sample_rate": SR, "seconds": seconds, "blocks": {}}
    with realtime_priority() as rt:
        prio = "SCHED_FIFO 70" if rt.ok else "normal priority (no permission for SCHED_FIFO)"
    print(f"chain {chain!r}, {seconds:g} s of 48 kHz stereo; per-callback times (last 16384 blocks), "
          f"driver thread at {prio}")
    print(f"{'block':>5} {'deadline':>9}  {'what':<22}{'median':>9}{'p99.9':>9}{'max':>9}   (% of deadline)")
    for b in blocks:
        deadline = 1e6 * b / SR
        rows = {
            "mixbridge": _stats(_ours(chain, x, b, False), deadline),
            "mixbridge + gc churn": _stats(_ours(chain, x, b, True), deadline),
            "pedalboard": _stats(_pedalboard(x, b), deadline),
        }
        rows["ratio_median"] = rows["mixbridge"]["median_us"] / rows["pedalboard"]["median_us"]
        result["blocks"][b] = rows
        for name in ("mixbridge", "mixbridge + gc churn", "pedalboard"):
            r = rows[name]
            print(f"{b:>5} {deadline:>7.0f}us  {name:<22}{r['median_us']:>7.1f}us{r['p999_us']:>7.1f}us"
                  f"{r['max_us']:>7.1f}us   ({r['median_pct']:.2f} / {r['p999_pct']:.2f} / {r['max_pct']:.2f} %)")
        print(f"{'':>16}ratio mixbridge/pedalboard (median) {rows['ratio_median']:.2f}")
    return result
