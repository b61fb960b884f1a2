"""``mixbridge live``, ``osc``, ``midi``, ``surface`` and ``bench osc``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from typing import Any

from app.args import output_path
from core import files
from core.errors import BridgeError
from core.hookspecs import hookimpl


def _controller(args: argparse.Namespace, host: Any = None, chains: dict[str, Any] | None = None,
                sink: Any = None) -> Any:
    """A Controller of the named chains whose ``/mixbridge/rate`` goes to the memory service."""
    from bridge.control import Controller
    from core.host import PluginHost

    host = host or PluginHost.from_toml()
    if chains is None:
        chains = {name: host.chain(name) for name in args.chain}
    ctl = Controller(chains, sink=sink, presets_dir=args.presets)
    ctl.on_rate = rating_store(host, ctl, getattr(args, "genre", None))
    return ctl


def rating_store(host: Any, ctl: Any, genre: str | None) -> Any:
    """``on_rate`` for a Controller: the live configuration and its ratings go to memory.

    Without a memory plugin (ENABLE_MEMORY_LEARNING=false or not loaded) the rating is
    kept in ``ratings.jsonl`` beside the presets; a memory service that fails is
    reported to the sender as an error, and nothing is half-stored.
    """
    from core.hookspecs import RATINGS

    def store(r: dict[str, Any]) -> None:
        ratings = {k: r[k] for k in (*RATINGS, "directions") if k in r}
        try:
            stored = host.pm.hook.mixbridge_live_rated(config=r["config"], ratings=ratings, genre=genre)
        except Exception as e:  # noqa: BLE001 - any storage failure becomes a reply, never a dead server
            raise BridgeError(f"rating not stored: memory service failed: {type(e).__name__}: {e}") from None
        if stored is None:
            ctl.save_rating(r)

    return store


def _wait_forever() -> None:
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass


def serve_osc(ctl: Any, args: argparse.Namespace, stats: Any = None) -> Any:
    """Start OSC (and OSCQuery, the web page when asked) for ``ctl``; returns the function that stops them."""
    from bridge.osc import OSCServer

    srv = OSCServer(ctl, host=args.host, port=args.port, allow=args.allow, tcp_port=args.tcp_port).start()
    query = None
    if args.oscquery is not None:
        from bridge.oscquery import OSCQueryServer

        query = OSCQueryServer(ctl, host=args.host, port=args.oscquery, osc_port=srv.port).start()
        print(f"OSCQuery on http://{args.host}:{query.port}/", flush=True)
    web = None
    if args.web is not None:
        from bridge.web import serve_web

        web = serve_web(ctl, args.host, args.web, stats=stats)
        print(f"web surface on {web.url}", flush=True)
    tcp = f" and tcp://{srv.host}:{srv.tcp.port}" if srv.tcp is not None else ""
    print(f"OSC on udp://{srv.host}:{srv.port}{tcp} for {', '.join(ctl.chains)}; {len(ctl.targets())} addresses "
          "(send /mixbridge/list); Ctrl-C stops", flush=True)

    def stop() -> None:
        if web is not None:
            web.stop()
        if query is not None:
            query.stop()
        srv.stop()

    return stop


def cmd_live(args: argparse.Namespace) -> int:
    from app.live_cli import run_live
    from core.host import PluginHost

    host = PluginHost.from_toml()

    def start(engine: Any) -> Any:
        ctl = _controller(args, host, {args.chain: engine.chain}, sink=engine)
        return None if args.no_osc else serve_osc(ctl, args, stats=engine.stats)

    return run_live(args, host, start)


def cmd_osc(args: argparse.Namespace) -> int:
    stop = serve_osc(_controller(args), args)
    _wait_forever()
    stop()
    return 0


def cmd_midi(args: argparse.Namespace) -> int:
    from bridge.midi import MidiBridge

    ctl = _controller(args)
    bridge = MidiBridge(ctl, mapping_path=args.map)
    if args.learn:
        bridge.arm(args.learn)
    bridge.open(args.port, output=args.output)
    print(f"MIDI input {bridge.port_name!r}; {len(bridge.mappings)} mappings from {args.map}; Ctrl-C stops",
          flush=True)
    _wait_forever()
    bridge.close()
    return 0


def cmd_surface(args: argparse.Namespace) -> int:
    from bridge.surface import open_stage_control

    ctl = _controller(args)
    session = open_stage_control(ctl, osc_port=args.osc_port)
    files.write_text(args.output, json.dumps(session, indent=2))
    print(f"wrote {args.output}: {len(ctl.targets())} controls for {', '.join(args.chain)}")
    return 0


def bench_osc(args: argparse.Namespace) -> dict[str, Any]:
    """Throughput and arrival-to-block delay with the fused chain running in real-time blocks."""
    import socket

    import numpy as np

    from bridge.control import Controller
    from bridge.osc import OSCServer, build_message
    from core.host import PluginHost
    from rt.fuse import FusedChain

    sr, block = 48000, args.block
    chain = PluginHost.from_toml().chain(args.bench_chain)
    chain.prepare(sr, block, 2)
    fused = FusedChain(chain, 2, 2)
    ctl = Controller({args.bench_chain: chain}, sink=fused.post, presets_dir="/nonexistent")
    target = next(t for t in ctl.targets() if t.param.scale == "lin" and t.param.max > t.param.min)
    values = np.linspace(target.param.min, target.param.max, 97)
    msgs = [build_message(target.address, [float(v)]) for v in values]
    x = np.zeros((block, 2), np.float32)
    y = np.zeros_like(x)
    blocks: list[tuple[float, int]] = []  # (block start, changes applied so far)
    stop = threading.Event()

    def audio() -> None:  # real-time pacing: one block per block period, as a sound card would ask
        period = block / sr
        t_next = time.perf_counter()
        while not stop.is_set():
            t_next += period
            t0 = time.perf_counter()
            fused.call(x, y)
            blocks.append((t0, int(fused.qctl[1])))
            delay = t_next - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    out: dict[str, Any] = {"chain": args.bench_chain, "block": block, "sample_rate": sr, "address": target.address}
    with OSCServer(ctl, port=0) as srv:
        cl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = threading.Thread(target=audio, daemon=True)
        t.start()
        # throughput: as fast as the server takes them (paced in windows so the kernel drops none)
        n = args.messages
        t0 = time.perf_counter()
        for i in range(n):
            cl.sendto(msgs[i % len(msgs)], (srv.host, srv.port))
            if i % 64 == 63:
                while srv.handled < i - 64:
                    time.sleep(0)
        while srv.handled < n:
            time.sleep(0.0005)
        out["messages_per_s"] = n / (time.perf_counter() - t0)
        # delay at a steady rate: arrival (server clock) to the start of the block that applied it
        time.sleep(0.05)
        base = int(fused.qctl[0])
        srv.applied_at.clear()
        srv.record = True
        blocks.clear()
        rate, count = args.rate, int(args.rate * args.seconds)
        # a separate process sends, as a surface would: its Python does not compete with the server's
        sender = subprocess.run(
            [sys.executable, "-c", _SENDER, srv.host, str(srv.port), str(rate), str(count),
             target.address, str(target.param.min), str(target.param.max)],
            check=True, capture_output=True, text=True,
        )
        time.sleep(0.05)
        stop.set()
        t.join()
    arrivals = np.array([a for a, _ in srv.applied_at])
    bstart = np.array([b for b, _ in blocks])
    bcount = np.array([c for _, c in blocks])
    k = base + np.arange(len(arrivals))  # the k-th change is applied by the first block with count > k
    j = np.searchsorted(bcount, k, side="right")
    ok = j < len(bstart)
    delay_ms = 1000 * (bstart[j[ok]] - arrivals[ok])
    blocks_late = j[ok] - np.searchsorted(bstart, arrivals[ok], side="left")
    out.update(
        rate_msg_per_s=rate, sent=count, applied=int(ok.sum()),
        block_ms=1000 * block / sr,
        delay_ms={"median": float(np.median(delay_ms)), "p99": float(np.percentile(delay_ms, 99)),
                  "max": float(delay_ms.max())},
        sender_max_late_ms=1000 * float(sender.stdout.strip() or 0),
        applied_in_next_block_pct=float(100 * np.mean(blocks_late == 0)),
    )
    return out


_SENDER = """
import socket, sys, time
from pythonosc.osc_message_builder import OscMessageBuilder
host, port, rate, count, address, lo, hi = sys.argv[1:]
rate, count, lo, hi = int(rate), int(count), float(lo), float(hi)
msgs = []
for k in range(97):
    b = OscMessageBuilder(address)
    b.add_arg(lo + (hi - lo) * k / 96)
    msgs.append(b.build().dgram)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.perf_counter()
late = 0.0
for i in range(count):
    when = start + i / rate
    while (now := time.perf_counter()) < when:
        time.sleep(max(0.0, when - now - 0.0005))
    late = max(late, now - when)
    sock.sendto(msgs[i % 97], (host, int(port)))
print(late)
"""


def cmd_bench_osc(args: argparse.Namespace) -> int:
    res = bench_osc(args)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        d = res["delay_ms"]
        print(f"OSC -> {res['chain']} chain, {res['block']}-frame blocks ({res['block_ms']:.2f} ms) "
              f"at {res['sample_rate']} Hz")
        print(f"  handled: {res['messages_per_s']:,.0f} messages/s while the engine runs")
        print(f"  at {res['rate_msg_per_s']} msg/s: {res['applied']}/{res['sent']} applied; arrival -> applying block "
              f"median {d['median']:.3f} ms, p99 {d['p99']:.3f} ms, max {d['max']:.3f} ms; "
              f"{res['applied_in_next_block_pct']:.1f}% in the next block")
    return 0


def _chain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chain", action="append", required=True, help="named chain from plugins.toml (repeatable)")
    _control_args(p)


def _control_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--presets", default=None, help="presets directory (default: DATA_DIR/presets)")
    p.add_argument("--genre", default=None, help="genre the ratings sent to /mixbridge/rate are learned for")


def _osc_args(p: argparse.ArgumentParser, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=port, help=f"OSC UDP port (default {port}; 0 picks a free one)")
    p.add_argument("--allow", nargs="*", default=None, help="client addresses/networks allowed (default: all)")
    p.add_argument("--tcp-port", type=int, default=None,
                   help="also take OSC over TCP on this port (SLIP or size-prefixed framing)")
    p.add_argument("--oscquery", type=int, default=None, metavar="HTTP_PORT", help="also serve OSCQuery on this port")
    p.add_argument("--web", type=int, default=None, metavar="PORT", help="also serve the web control page on this port")


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    from app.live_cli import stream_args

    p = sub.add_parser("live", help="run a chain live between two devices, steered over OSC, until Ctrl-C")
    stream_args(p)
    p.add_argument("--chain", required=True, help="a named chain from plugins.toml")
    p.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    _control_args(p)
    _osc_args(p, 9000)
    p.add_argument("--no-osc", action="store_true", help="run without the OSC server")
    p.set_defaults(func=cmd_live)

    p = sub.add_parser("osc", help="OSC control of named chains without audio (set up a surface)")
    _chain_args(p)
    _osc_args(p, 9000)
    p.set_defaults(func=cmd_osc)

    p = sub.add_parser("midi", help="MIDI control (CC, 14-bit CC, notes, program change) of named chains")
    _chain_args(p)
    p.add_argument("--port", default=None, help="input port name (substring); default: a virtual port 'mixbridge'")
    p.add_argument("--output", default=None, help="output port for feedback (motor faders, LED rings)")
    p.add_argument("--map", default="midi.toml", help="mapping TOML (learned mappings are saved here)")
    p.add_argument("--learn", default=None, metavar="ADDRESS", help="arm ADDRESS: the next CC binds to it")
    p.set_defaults(func=cmd_midi)

    p = sub.add_parser("surface", help="write a control-surface layout from a chain's parameters")
    _chain_args(p)
    p.add_argument("--format", choices=["open-stage-control"], default="open-stage-control")
    p.add_argument("-o", "--output", required=True, type=output_path)
    p.add_argument("--osc-port", type=int, default=9000, help="mixbridge's OSC port the surface sends to")
    p.set_defaults(func=cmd_surface)

    p = bench.add_parser("osc", help="OSC messages/s and arrival-to-block delay with the engine running")
    p.add_argument("--bench-chain", default="vocal")
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--rate", type=int, default=1000, help="messages per second for the delay test")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_osc)
