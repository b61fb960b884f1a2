"""``mixbridge bench chain``: our foundation chain against pedalboard's, block by block.

Both chains run in the same process over the same 48 kHz stereo programme, one
block at a time, and every block is timed with ``perf_counter_ns``. Ours is
timed twice: as a :class:`~core.chain.Chain` (slots with bypass and wet/dry, what
sessions use) and as the bare processors called in a row (what a fused engine
calls). Speed is reported, never asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from core.chain import Chain
    from core.host import PluginHost
    from core.processor import Processor

def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB.

    From /proc (VmRSS, VmHWM): unlike ``ru_maxrss`` the peak is not inherited
    across exec, so a fresh benchmark process reports its own. Elsewhere the peak is
    ``ru_maxrss`` and the current figure 0.
    """
    from pathlib import Path

    cur = peak = 0.0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return cur, peak


EQ_BANDS = ((120.0, 2.0, 0.8), (500.0, -3.0, 1.2), (2500.0, 2.5, 1.0), (9000.0, 3.0, 0.7))
COMP = {"threshold_db": -20.0, "ratio": 4.0, "attack_ms": 5.0, "release_ms": 100.0}
CEILING_DB = -1.0
LIMITER_RELEASE_MS = 60.0


def _programme(seconds: float, sr: int) -> np.ndarray:
    """Noise with a slow swell and drum-like bursts: the compressor and limiter both work."""
    rng = np.random.default_rng(0)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    swell = 0.12 * (1.0 + 0.8 * np.sin(2 * np.pi * 0.1 * t))
    hits = np.exp(-((t * 2.0) % 1.0) * 25.0)
    x = rng.standard_normal((2, n)) * swell + 0.9 * hits * np.sin(2 * np.pi * 60 * t)
    return x.astype(np.float32)


def _ours(host: PluginHost, sr: int, block: int) -> tuple[Chain, list[Processor]]:
    eq: dict[str, Any] = {}
    for i, (f, g, q) in enumerate(EQ_BANDS, 1):
        eq.update({f"b{i}_type": "peak", f"b{i}_freq_hz": f, f"b{i}_gain_db": g, f"b{i}_q": q})
    specs: list[dict[str, Any]] = [
        {"plugin": "eq", "params": eq},
        {"plugin": "compressor", "params": dict(COMP, knee_db=0.0)},
        {"plugin": "limiter", "params": {"ceiling_dbtp": CEILING_DB,
                                         "release_ms": LIMITER_RELEASE_MS}},
    ]
    chain = host.build_chain(specs, "bench")
    chain.prepare(sr, block, 2)
    procs = [host.create(s["plugin"], **s["params"]) for s in specs]
    for p in procs:
        p.prepare(sr, block, 2)
    return chain, procs


def _pedalboard() -> Any:
    import pedalboard as pb

    plugins: list[Any] = [pb.PeakFilter(cutoff_frequency_hz=f, gain_db=g, q=q)
                          for f, g, q in EQ_BANDS]
    plugins.append(pb.Compressor(**COMP))
    plugins.append(pb.Limiter(threshold_db=CEILING_DB, release_ms=LIMITER_RELEASE_MS))
    return pb.Pedalboard(plugins)  # type: ignore[attr-defined]


def _time_blocks(run: Callable[[np.ndarray], Any], audio: np.ndarray, block: int) -> np.ndarray:
    """Microseconds per block; the blocks are copied first so every run sees the same input."""
    frames = audio.shape[1] - audio.shape[1] % block
    blocks = [np.ascontiguousarray(audio[:, i : i + block]) for i in range(0, frames, block)]
    warm = [b.copy() for b in blocks[: max(1, len(blocks) // 60)]]
    for b in warm:  # JIT compilation and caches, not measured
        run(b)
    out = np.empty(len(blocks))
    clock = time.perf_counter_ns
    for k, b in enumerate(blocks):
        t0 = clock()
        run(b)
        out[k] = clock() - t0
    return out / 1e3


def bench_chain(
    blocks: tuple[int, ...] = (64, 128, 512),
    seconds: float = 60.0,
    sample_rate: int = 48000,
    host: PluginHost | None = None,
) -> list[dict[str, float]]:
    """Time eq (4 peak bands) -> compressor -> limiter against pedalboard's equivalent.

    pedalboard's chain is PeakFilter x4, Compressor, Limiter with the same
    settings, called with ``reset=False`` on the same blocks.

    Parameters
    ----------
    blocks : tuple of int
        Block sizes in frames.
    seconds : float
        Length of the stereo programme streamed at each block size.
    sample_rate : int
        Hz.
    host : PluginHost, optional
        Where eq, compressor and limiter come from (plugins.toml in force if None).

    Returns
    -------
    list of dict
        Per block size: ``block``, ``deadline_us``, and for ``chain``, ``procs`` and
        ``pedalboard`` the ``*_median_us`` and ``*_p999_us``, plus the ratios
        ``ratio_chain`` and ``ratio_procs`` (median ours / median pedalboard).

    Examples
    --------
    >>> rows = bench_chain(blocks=(64,), seconds=2.0)   # doctest: +SKIP
    >>> rows[0]["ratio_procs"] < 1.0                     # doctest: +SKIP
    True
    """
    if host is None:
        from core.host import PluginHost

        host = PluginHost.from_toml()
    audio = _programme(seconds, sample_rate)
    rows = []
    for block in blocks:
        chain, procs = _ours(host, sample_rate, block)
        board = _pedalboard()

        def run_procs(b: np.ndarray, procs: list[Any] = procs) -> None:
            for p in procs:
                p.process(b)

        def run_board(b: np.ndarray, board: Any = board, block: int = block) -> None:
            board(b, sample_rate, buffer_size=block, reset=False)

        row: dict[str, float] = {"block": block, "deadline_us": 1e6 * block / sample_rate}
        for name, run in (("chain", chain.process), ("procs", run_procs),
                          ("pedalboard", run_board)):
            us = _time_blocks(run, audio, block)
            row[f"{name}_median_us"] = float(np.median(us))
            row[f"{name}_p999_us"] = float(np.percentile(us, 99.9))
        for name in ("chain", "procs"):
            row[f"ratio_{name}"] = row[f"{name}_median_us"] / row["pedalboard_median_us"]
        rows.append(row)
    return rows


def format_rows(rows: list[dict[str, float]]) -> str:
    """A plain-text table of :func:`bench_chain` results."""
    lines = [
        f"{'block':>5} {'deadline':>9}  {'what':<10} {'median us':>10} {'%dl':>6} "
        f"{'p99.9 us':>10} {'%dl':>6}  {'ratio':>6}"
    ]
    for r in rows:
        dl = r["deadline_us"]
        for name in ("chain", "procs", "pedalboard"):
            med, p = r[f"{name}_median_us"], r[f"{name}_p999_us"]
            ratio = f"{r[f'ratio_{name}']:.2f}" if name != "pedalboard" else ""
            lines.append(
                f"{int(r['block']):>5} {dl:>8.0f}us  {name:<10} {med:>10.1f} "
                f"{100 * med / dl:>5.2f}% {p:>10.1f} {100 * p / dl:>5.2f}%  {ratio:>6}"
            )
    return "\n".join(lines)
