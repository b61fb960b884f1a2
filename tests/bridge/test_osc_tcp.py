"""OSC over real TCP: python-osc's TCP client (OSC 1.1 SLIP and OSC 1.0 size prefix) as the peer."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_packet import OscPacket
from pythonosc.tcp_client import SimpleTCPClient

from bridge.control import Controller
from bridge.osc import OSCServer, build_message
from bridge.osc_tcp import Deframer, FramingError
from core.host import PluginHost

GAIN = "/mixbridge/trim/gain/gain_db"


@pytest.fixture
def server(host: PluginHost, tmp_path: Path) -> Iterator[OSCServer]:
    ctl = Controller({"trim": host.chain("trim")}, presets_dir=tmp_path / "presets")
    with OSCServer(ctl, port=0, tcp_port=0) as srv:
        yield srv


def messages(client: SimpleTCPClient, timeout: float = 2.0) -> list[tuple[str, list[Any]]]:
    """Every message in the next packets the server sends back (bundles unpacked)."""
    return [(m.message.address, list(m.message.params))
            for raw in client.receive(timeout) for m in OscPacket(raw).messages]


@pytest.mark.parametrize("mode", ["1.1", "1.0"])
def test_set_and_get_over_tcp_in_either_framing(server: OSCServer, mode: str) -> None:
    assert server.tcp is not None
    client = SimpleTCPClient("127.0.0.1", server.tcp.port, mode=mode)
    try:
        client.send_message(GAIN, -7.5)
        client.send_message("/mixbridge/get", GAIN)
        assert messages(client) == [(GAIN, [-7.5])]
        assert server.controller.get(GAIN) == -7.5
        client.send_message(GAIN, 99.0)  # out of range: an error back over the stream, nothing changes
        (address, (where, reason)), = messages(client)
        assert (address, where) == ("/mixbridge/error", GAIN) and "outside" in reason
        assert server.controller.get(GAIN) == -7.5
    finally:
        client.close()


def test_tcp_subscriber_gets_feedback_from_a_udp_change(server: OSCServer) -> None:
    assert server.tcp is not None
    sub = SimpleTCPClient("127.0.0.1", server.tcp.port)
    try:
        sub.send_message("/mixbridge/subscribe", [])
        assert messages(sub) == [("/mixbridge/ok", ["/mixbridge/subscribe"])]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(build_message(GAIN, [-3.0]), ("127.0.0.1", server.port))
            assert messages(sub) == [(GAIN, [-3.0])]  # a bundle, over the TCP stream
    finally:
        sub.close()
    end = time.monotonic() + 2.0
    while server.subscribers and time.monotonic() < end:  # a closed connection stops its feedback
        time.sleep(0.01)
    assert not server.subscribers and not server.tcp_peers


def test_a_broken_stream_is_answered_and_closed_and_others_carry_on(server: OSCServer) -> None:
    assert server.tcp is not None
    with socket.create_connection(("127.0.0.1", server.tcp.port), timeout=2.0) as bad:
        bad.sendall(struct.pack(">i", 1 << 20) + b"x" * 16)  # a 1 MB size prefix
        size = struct.unpack(">i", bad.recv(4))[0]
        reply = OscPacket(bad.recv(size)).messages[0].message
        assert reply.address == "/mixbridge/error" and "size prefix" in reply.params[1]
        assert bad.recv(1) == b""  # closed by the server
    good = SimpleTCPClient("127.0.0.1", server.tcp.port)
    try:
        good.send_message("/mixbridge/ping", [])
        assert messages(good) == [("/mixbridge/pong", [])]
    finally:
        good.close()


def test_deframer_splits_packets_across_chunk_borders() -> None:
    a, b = build_message("/a", [1]), build_message("/b", ["x"])
    stream = struct.pack(">i", len(a)) + a + struct.pack(">i", len(b)) + b
    d = Deframer(use_slip=False)
    assert [p for i in range(len(stream)) for p in d.feed(stream[i : i + 1])] == [a, b]
    esc = b"\xc0\xdb"  # bytes SLIP must escape
    s = Deframer(use_slip=True)
    framed = b"\xc0" + esc.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"
    assert s.feed(framed[:2]) == [] and s.feed(framed[2:] + b"\xc0\xc0") == [esc]
    with pytest.raises(FramingError, match="escape"):
        Deframer(use_slip=True).feed(b"\xc0\xdb\x01\xc0")


def test_allow_list_refuses_tcp_strangers(host: PluginHost, tmp_path: Path) -> None:
    ctl = Controller({"trim": host.chain("trim")}, presets_dir=tmp_path / "presets")
    with OSCServer(ctl, port=0, tcp_port=0, allow=["10.0.0.0/8"]) as srv:
        assert srv.tcp is not None
        m = build_message(GAIN, [-9.0])
        with socket.create_connection(("127.0.0.1", srv.tcp.port), timeout=2.0) as c:
            try:
                c.sendall(struct.pack(">i", len(m)) + m)
                closed = c.recv(1) == b""
            except (ConnectionResetError, BrokenPipeError):  # the server closed first: also refused
                closed = True
            assert closed
        time.sleep(0.2)
        assert ctl.get(GAIN) == 0.0 and srv.handled == 0


def limited(host: PluginHost, tmp_path: Path, **limits: Any) -> OSCServer:
    from bridge.osc_tcp import TCPLimits

    ctl = Controller({"trim": host.chain("trim")}, presets_dir=tmp_path / "presets")
    return OSCServer(ctl, port=0, tcp_port=0, tcp_limits=TCPLimits(**limits))


def ping(port: int, mode: str = "1.0") -> list[tuple[str, list[Any]]]:
    c = SimpleTCPClient("127.0.0.1", port, mode=mode)
    try:
        c.send_message("/mixbridge/ping", [1])
        return messages(c)
    finally:
        c.close()


def closed_by_server(sock: socket.socket, timeout: float = 2.0) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_connections_are_served_by_one_thread_and_capped(host: PluginHost, tmp_path: Path) -> None:
    import threading

    with limited(host, tmp_path, max_connections=8) as srv:
        assert srv.tcp is not None
        threads = threading.active_count()
        silent = [socket.create_connection(("127.0.0.1", srv.tcp.port)) for _ in range(20)]
        try:
            assert ping(srv.tcp.port) == [("/mixbridge/pong", [1])]  # takes the place of a silent one
            assert threading.active_count() == threads
            assert len(srv.tcp_peers) <= 8 and srv.tcp.displaced >= 13
            assert sum(closed_by_server(s, 0.5) for s in silent) >= 13
        finally:
            for s in silent:
                s.close()
        active = []
        for _ in range(8):  # connections that have spoken hold their place
            c = SimpleTCPClient("127.0.0.1", srv.tcp.port)
            c.send_message("/mixbridge/ping", [])
            assert messages(c) == [("/mixbridge/pong", [])]
            active.append(c)
        try:
            with socket.create_connection(("127.0.0.1", srv.tcp.port)) as ninth:
                assert closed_by_server(ninth)
            assert srv.tcp.refused >= 1
        finally:
            for c in active:
                c.close()


@pytest.mark.parametrize("use_slip", [True, False])
def test_an_oversized_frame_is_refused_before_it_is_buffered_whole(host: PluginHost, tmp_path: Path,
                                                                   use_slip: bool) -> None:
    with limited(host, tmp_path, max_frame=4096) as srv:
        assert srv.tcp is not None
        with socket.create_connection(("127.0.0.1", srv.tcp.port), timeout=2.0) as c:
            head = b"\xc0" if use_slip else struct.pack(">i", 5000)
            c.sendall(head + b"/abc" * 1100)  # 4,400 bytes of a frame that never ends
            reply = c.recv(65536)
            raw = reply.strip(b"\xc0") if use_slip else reply[4:]
            msg = OscPacket(raw).messages[0].message
            assert msg.address == "/mixbridge/error" and "4096" in msg.params[1]
            assert closed_by_server(c)
        end = time.monotonic() + 2.0
        while srv.tcp_peers and time.monotonic() < end:  # gone once the client closes too (or after 1 s)
            time.sleep(0.01)
        assert srv.tcp.framing_errors == 1 and not srv.tcp_peers
        assert ping(srv.tcp.port) == [("/mixbridge/pong", [1])]


def test_idle_connections_are_closed_and_active_ones_kept(host: PluginHost, tmp_path: Path) -> None:
    with limited(host, tmp_path, idle_timeout_s=0.3) as srv:
        assert srv.tcp is not None
        idle = socket.create_connection(("127.0.0.1", srv.tcp.port))
        busy = SimpleTCPClient("127.0.0.1", srv.tcp.port)
        try:
            for _ in range(6):  # 0.6 s of a ping every 0.1 s
                busy.send_message("/mixbridge/ping", [])
                assert messages(busy) == [("/mixbridge/pong", [])]
                time.sleep(0.1)
            assert closed_by_server(idle) and srv.tcp.idle_closed == 1
        finally:
            idle.close()
            busy.close()


def test_a_client_that_never_reads_its_feedback_is_dropped(host: PluginHost, tmp_path: Path) -> None:
    from bridge.osc_tcp import MAX_OUT

    with limited(host, tmp_path) as srv:
        assert srv.tcp is not None
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.connect(("127.0.0.1", srv.tcp.port))
        m = build_message("/mixbridge/subscribe")
        c.sendall(struct.pack(">i", len(m)) + m)
        end = time.monotonic() + 2.0
        while not srv.subscribers and time.monotonic() < end:
            time.sleep(0.01)
        addr = c.getsockname()
        big = build_message("/x", [b"\0" * 60000])
        for _ in range(200):  # 12 MB at a client that reads nothing
            srv._send(big, addr)
            if not srv.tcp_peers:
                break
        end = time.monotonic() + 2.0
        while srv.tcp_peers and time.monotonic() < end:
            time.sleep(0.01)
        assert srv.tcp.dropped_slow == 1 and not srv.tcp_peers and not srv.subscribers
        assert MAX_OUT <= 256 * 1024
        c.close()
