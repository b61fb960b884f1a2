"""``mixbridge bench external``: a Debian LV2 plugin's per-block cost, hosted by mixbridge, against pedalboard.

The same parametric EQ (swh-lv2's singlePara, 6 dB at 2.5 kHz) runs three ways on
stereo blocks: its C run() called from the compiled callback (the callback times
itself, so this is the audio thread's work alone), from Python once per block
(Processor.process), and pedalboard's PeakFilter called per block for comparison.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from core.hookspecs import hookimpl

SR = 48000
URI = "http://plugin.org.uk/swh-plugins/singlePara"


def bench_external(seconds: float = 10.0, block: int = 128) -> dict[str, Any]:
    """Median microseconds per stereo block of ``block`` frames, each way (see the module doc)."""
    import pedalboard as pb

    from core.host import PluginHost
    from rt.fuse import DUR_POS, STATS_HEAD, FusedChain
    from rt.offline import run_offline

    host = PluginHost.from_toml()
    spec = [{"plugin": "lv2", "uri": URI, "params": {"gain": 6.0, "fc": 2500.0, "bw": 1.0}}]
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((2, int(seconds * SR)))).astype(np.float32)
    n = x.shape[1] // block

    chain = host.build_chain(spec, "bench")
    chain.prepare(SR, block, 2)
    fused = FusedChain(chain, 2, 2)
    run_offline(chain, x, SR, block, fused=fused)
    done = int(fused.stats[DUR_POS])
    fused_us = np.median(fused.stats[STATS_HEAD : STATS_HEAD + min(done, n)]) / 1e3

    def per_block(process: Any) -> float:
        times = np.empty(n)
        y = x.copy()
        for k in range(n):
            b = y[:, k * block : (k + 1) * block]
            t0 = time.perf_counter_ns()
            process(b)
            times[k] = time.perf_counter_ns() - t0
        return float(np.median(times) / 1e3)

    proc = host.create("lv2", URI, gain=6.0, fc=2500.0, bw=1.0)
    proc.prepare(SR, block, 2)
    python_us = per_block(proc.process)
    peak = pb.PeakFilter(2500.0, 6.0, 1.41)
    pedalboard_us = per_block(lambda b: peak.process(b, SR, buffer_size=block, reset=False))
    return {"plugin": URI, "block": block, "blocks": n, "us_per_block": {
        "lv2_fused_callback": round(float(fused_us), 2), "lv2_python_per_block": round(python_us, 2),
        "pedalboard_peakfilter": round(pedalboard_us, 2)}}


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = bench.add_parser("external", help="a Debian LV2 plugin in the fused callback and per block, vs pedalboard")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--block", type=int, default=128)
    p.set_defaults(func=cmd_bench_external)


def cmd_bench_external(args: argparse.Namespace) -> int:
    print(json.dumps(bench_external(args.seconds, args.block), indent=2))
    return 0
