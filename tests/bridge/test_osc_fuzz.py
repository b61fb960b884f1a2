"""Fuzz and soak of the OSC server over real UDP and TCP sockets.

Hypothesis writes OSC packets (real and random addresses, every type tag, bundles,
then truncated, bit-flipped or padded with garbage); after each one a ping must come
back (the server lives and has finished with the packet) and a packet answered with
an error must have changed nothing. The soak part floods a server process over TCP
and measures what it holds.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc import slip

from bridge.control import Controller
from bridge.osc import OSCServer
from bridge.osc_check import Message, parse_packet
from bridge.osc_wire import build_message, osc_string
from core.host import PluginHost

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- packets ------------------------------------------------------------------------------
REAL = ["/mixbridge/trim/gain/gain_db", "/mixbridge/trim/0/pan", "/mixbridge/trim/gain/gain_db/norm",
        "/mixbridge/vocal/compressor/ratio", "/mixbridge/vocal/eq/bypass", "/mixbridge/vocal/1/mix",
        "/mixbridge/list", "/mixbridge/get", "/mixbridge/subscribe", "/mixbridge/unsubscribe",
        "/mixbridge/preset/save", "/mixbridge/preset/load", "/mixbridge/preset/list", "/mixbridge/rate",
        "/mixbridge/midi/learn", "/mixbridge/stats", "/mixbridge/ping", "/mixbridge/nope/x/y"]
text = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20)
address = st.one_of(st.sampled_from(REAL), text.map(lambda s: "/" + s), text.map(lambda s: "/mixbridge/" + s))


def arg(tag: str) -> st.SearchStrategy[bytes]:
    """The encoded bytes of one argument for ``tag``."""
    if tag == "i":
        return st.integers(-(2**31), 2**31 - 1).map(lambda v: struct.pack(">i", v))
    if tag == "f":
        return st.floats(width=32).map(lambda v: struct.pack(">f", v))
    if tag == "d":
        return st.floats().map(lambda v: struct.pack(">d", v))
    if tag in "ht":
        return st.binary(min_size=8, max_size=8)
    if tag in "rmc":
        return st.binary(min_size=4, max_size=4)
    if tag in "sS":
        return st.one_of(text, st.sampled_from(["127.0.0.1", "quiet", "..", "/mixbridge/trim/gain/gain_db"])).map(
            osc_string)
    if tag == "b":
        return st.binary(max_size=32).map(lambda b: struct.pack(">i", len(b)) + b + b"\0" * (-len(b) % 4))
    return st.just(b"")  # T F N I


@st.composite
def message(draw: st.DrawFn) -> bytes:
    tags = draw(st.lists(st.sampled_from("iiffdhtrmcsSbTFNI"), max_size=4))
    if draw(st.booleans()) and tags:
        i = draw(st.integers(0, len(tags)))
        tags[i:i] = ["[", "]"] if draw(st.booleans()) else ["["]  # arrays, sometimes unclosed
    payload = b"".join(draw(arg(t)) for t in tags if t not in "[]")
    return osc_string(draw(address)) + osc_string("," + "".join(tags)) + payload


@st.composite
def set_message(draw: st.DrawFn) -> bytes:
    """A well-typed set of a real parameter (often in range), so that fuzzing also changes state."""
    tag = draw(st.sampled_from("fid"))
    value = draw(st.floats(-100, 100) if tag != "i" else st.integers(-100, 100))
    return osc_string(draw(st.sampled_from(REAL[:6]))) + osc_string("," + tag) + struct.pack(
        {"f": ">f", "i": ">i", "d": ">d"}[tag], value)


@st.composite
def bundle(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.one_of(message(), set_message(), message().map(lambda m: b"#bundle\0" + bytes(8) + (
        struct.pack(">i", len(m)) + m))), min_size=1, max_size=4))
    return b"#bundle\0" + draw(st.binary(min_size=8, max_size=8)) + b"".join(struct.pack(">i", len(p)) + p
                                                                           for p in parts)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    p = draw(st.one_of(message(), set_message(), bundle()))
    how = draw(st.sampled_from(["keep", "cut", "flip", "append", "garbage"]))
    if how == "cut":
        return p[: draw(st.integers(0, max(0, len(p) - 1)))]
    if how == "flip" and p:
        i = draw(st.integers(0, len(p) - 1))
        return p[:i] + bytes([p[i] ^ draw(st.integers(1, 255))]) + p[i + 1 :]
    if how == "append":
        return p + draw(st.binary(min_size=1, max_size=12))
    if how == "garbage":
        return draw(st.binary(max_size=96))
    return p


packets = st.one_of(message(), set_message(), bundle(), damaged())


# -- a running server and its clients ----------------------------------------------------
@pytest.fixture(scope="module")
def server(host: PluginHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OSCServer]:
    presets = tmp_path_factory.mktemp("fuzz-presets")
    ctl = Controller({"trim": host.chain("trim"), "vocal": host.chain("vocal")}, presets_dir=presets)
    ctl.on_rate = lambda ratings: None
    with OSCServer(ctl, port=0, tcp_port=0) as srv:
        yield srv


class Peer:
    """A UDP or TCP client that sends a packet, then a ping, and collects what came back before the pong."""

    def __init__(self, srv: OSCServer, kind: str) -> None:
        self.kind, self.srv = kind, srv
        self.tokens = itertools.count()
        self.buf = b""
        self.connect()

    def connect(self) -> None:
        assert self.srv.tcp is not None
        if self.kind == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
        else:
            self.sock = socket.create_connection(("127.0.0.1", self.srv.tcp.port))
        self.sock.settimeout(5.0)
        self.buf = b""

    def send(self, packet: bytes) -> None:
        if self.kind == "udp":
            self.sock.sendto(packet, ("127.0.0.1", self.srv.port))
        elif self.kind == "slip":
            self.sock.sendall(slip.encode(packet))
        elif packet:  # an empty packet has no size-prefixed form (size 0 is a framing error)
            self.sock.sendall(struct.pack(">i", len(packet)) + packet)

    def packets(self) -> Iterator[bytes]:
        while True:
            if self.kind == "udp":
                yield self.sock.recvfrom(65536)[0]
                continue
            if self.kind == "slip":
                while slip.END not in self.buf.lstrip(slip.END):
                    self.buf += self._recv()
                self.buf = self.buf.lstrip(slip.END)
                frame, self.buf = self.buf.split(slip.END, 1)
                yield slip.decode(slip.END + frame + slip.END)
                continue
            while len(self.buf) < 4 or len(self.buf) < 4 + struct.unpack(">i", self.buf[:4])[0]:
                self.buf += self._recv()
            n = struct.unpack(">i", self.buf[:4])[0]
            packet, self.buf = self.buf[4 : 4 + n], self.buf[4 + n :]
            yield packet

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        assert chunk, "the server closed a connection that sent only well-framed packets"
        return chunk

    def exchange(self, packet: bytes) -> list[Message]:
        """Send ``packet`` and a ping; the messages that came back before the pong."""
        token = f"t{next(self.tokens)}"
        self.send(packet)
        self.send(build_message("/mixbridge/ping", [token]))
        got: list[Message] = []
        for raw in self.packets():
            for m in parse_packet(raw):
                if m.address == "/mixbridge/pong" and m.args == [token]:
                    return got
                got.append(m)
        raise AssertionError("unreachable")


def check_answer(srv: OSCServer, peer: Peer, packet: bytes) -> None:
    before = srv.controller.snapshot()
    replies = peer.exchange(packet)
    assert all(t.is_alive() for t in srv._threads)
    loaded = any(m.address == "/mixbridge/ok" and m.args[:1] == ["/mixbridge/preset/load"] for m in replies)
    refused = [m for m in replies if m.address == "/mixbridge/error"
               and (m.args[0] == "" or (m.args[0].startswith("/mixbridge/") and m.args[0].count("/") >= 4))]
    if refused and not loaded:  # a damaged packet or a refused set: nothing changed
        assert srv.controller.snapshot() == before, refused
    srv.subscribers.discard(peer.sock.getsockname())  # fuzzed feedback must not pile up in later replies


@pytest.fixture(scope="module")
def peers(server: OSCServer) -> Iterator[dict[str, Peer]]:
    out = {kind: Peer(server, kind) for kind in ("udp", "slip", "size")}
    yield out
    for p in out.values():
        p.sock.close()


@FUZZ
@given(packet=packets)
def test_udp_fuzz_answers_or_drops_and_refused_packets_change_nothing(server: OSCServer, peers: dict[str, Peer],
                                                                      packet: bytes) -> None:
    check_answer(server, peers["udp"], packet)


@pytest.mark.parametrize("framing", ["slip", "size"])
@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packet=packets)
def test_tcp_fuzz_in_either_framing(server: OSCServer, peers: dict[str, Peer], framing: str, packet: bytes) -> None:
    check_answer(server, peers[framing], packet)


@settings(max_examples=60, deadline=None)
@given(stream=st.binary(min_size=1, max_size=300))
def test_tcp_garbage_streams_are_answered_or_closed(server: OSCServer, stream: bytes) -> None:
    assert server.tcp is not None
    with socket.create_connection(("127.0.0.1", server.tcp.port), timeout=5.0) as c:
        c.sendall(stream)
        c.shutdown(socket.SHUT_WR)  # the server sees the end of the stream and closes its side
        while c.recv(65536):
            pass
    fresh = Peer(server, "size")
    try:
        assert fresh.exchange(build_message("/mixbridge/stats"))[0].address == "/mixbridge/stats"
    finally:
        fresh.sock.close()


# -- soak: a server process under a connection flood ----------------------------------------
SERVE = """
import json, sys
from bridge.control import Controller
from bridge.osc import OSCServer
from core.host import PluginHost, PluginsConfig
cfg = PluginsConfig.load("plugins.toml"); cfg.entry_points = False
ctl = Controller({"trim": PluginHost(cfg).chain("trim")}, presets_dir=sys.argv[1])
srv = OSCServer(ctl, port=0, tcp_port=0).start()
print(json.dumps({"udp": srv.port, "tcp": srv.tcp.port}), flush=True)
sys.stdin.read()
t = srv.tcp
print(json.dumps({k: getattr(t, k) for k in ("accepted", "refused", "displaced", "idle_closed", "framing_errors",
      "dropped_slow")} | {"open": len(t.connections), "buffered": sum(len(c.deframer.buf) for c in
      t.connections.values() if c.deframer)}), flush=True)
srv.stop()
"""


def proc_status(pid: int) -> tuple[float, float]:
    """(resident MB, CPU seconds used) of a process."""
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return rss / 1024, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tcp_ping(port: int) -> float:
    """Seconds from connect to pong on a fresh connection (a legitimate client)."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as c:
        m = build_message("/mixbridge/ping", ["legit"])
        c.sendall(struct.pack(">i", len(m)) + m)
        head = c.recv(4)
        body = c.recv(struct.unpack(">i", head)[0])
    assert parse_packet(body)[0].args == ["legit"]
    return time.perf_counter() - t0


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.mark.slow
def test_tcp_flood_and_half_sent_frames_stay_bounded(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(tmp_path)], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    figures: dict[str, Any] = {}
    try:
        port = json.loads(proc.stdout.readline())["tcp"]
        tcp_ping(port)
        rss0, _ = proc_status(proc.pid)
        flood = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]  # idle connections
        time.sleep(0.5)
        for s in flood:
            s.setblocking(False)
        figures["flood_closed_by_server"] = sum(closed(s) for s in flood)
        figures["legit_ping_under_flood_ms"] = round(1000 * tcp_ping(port), 2)
        _, cpu0 = proc_status(proc.pid)
        time.sleep(1.0)
        figures["cpu_s_per_s_idle_flood"] = round(proc_status(proc.pid)[1] - cpu0, 3)
        for s in flood:
            s.close()
        half = bytes([0xC0]) + b"/abc" * (60_000 // 4)  # 60 KB of a SLIP frame that never ends
        over = bytes([0xC0]) + b"/abc" * (120_000 // 4)  # 120 KB: over the 64 KiB frame cap
        senders = []
        for i in range(500):
            s = socket.create_connection(("127.0.0.1", port))
            s.setblocking(False)
            try:
                s.send(over if i % 5 == 0 else half)
            except OSError:
                pass  # closed by the server already
            senders.append(s)
        time.sleep(1.0)
        rss1, _ = proc_status(proc.pid)
        figures["legit_ping_after_half_sent_ms"] = round(1000 * tcp_ping(port), 2)
        figures["rss_mb_before"], figures["rss_mb_after_500_half_sent"] = round(rss0, 1), round(rss1, 1)
        proc.stdin.close()
        figures |= json.loads(proc.stdout.readline())
        for s in senders:
            s.close()
    finally:
        proc.kill()
        proc.wait(5)
    print("\nOSC TCP soak:", json.dumps(figures))
    assert figures["flood_closed_by_server"] >= 300 - 64
    assert figures["open"] <= 64 and figures["buffered"] <= 64 * 65536
    assert figures["framing_errors"] >= 1  # the 120 KB frames were refused
    assert figures["rss_mb_after_500_half_sent"] - figures["rss_mb_before"] < 32  # was +121 MB
