"""OSC over TCP, for surfaces and DAWs that prefer a stream to datagrams.

Each connection speaks one of the two framings in use, told apart by its first
byte: OSC 1.1's SLIP (a packet between two END bytes, 0xC0) or OSC 1.0's 32-bit
big-endian size prefix (whose first byte is 0 for any sane packet). Replies and
feedback to a TCP client go back over its connection in its framing. Packets go
through the same :meth:`bridge.osc.OSCServer.handle` as UDP ones, so every rule
(allow-list, strict parsing, atomic bundles, errors) is the same.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from typing import TYPE_CHECKING

from pythonosc import slip

from core.errors import BridgeError

if TYPE_CHECKING:
    from bridge.osc import OSCServer

log = logging.getLogger(__name__)
Addr = tuple[str, int]
MAX_PACKET = 65536  # the largest UDP packet the server takes: the same bound over TCP


class FramingError(Exception):
    """The byte stream is not OSC over TCP; the connection is closed."""


class TCPPeer:
    """One client connection's writing side: frames a packet and sends it whole."""

    def __init__(self, sock: socket.socket, use_slip: bool) -> None:
        self.sock = sock
        self.slip = use_slip
        self._lock = threading.Lock()  # replies (reader thread) and feedback (its own thread) interleave

    def send(self, packet: bytes) -> None:
        frame = slip.encode(packet) if self.slip else struct.pack(">i", len(packet)) + packet
        with self._lock:
            self.sock.sendall(frame)


class Deframer:
    """Splits one connection's byte stream into OSC packets, in the framing it was opened with."""

    def __init__(self, use_slip: bool) -> None:
        self.slip = use_slip
        self.buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The packets completed by ``chunk``.

        Raises FramingError on a size prefix outside 1..MAX_PACKET, a bad SLIP escape
        or an over-long SLIP frame.
        """
        self.buf += chunk
        if self.slip:
            *frames, self.buf = self.buf.split(slip.END)  # the last piece is not closed yet
            if len(self.buf) > 2 * MAX_PACKET:
                raise FramingError(f"SLIP frame longer than {MAX_PACKET} bytes")
            try:
                return [slip.decode(slip.END + f + slip.END) for f in frames if f]
            except slip.ProtocolError:
                raise FramingError("bad SLIP escape sequence") from None
        out = []
        while len(self.buf) >= 4:
            (size,) = struct.unpack(">i", self.buf[:4])
            if not 0 < size <= MAX_PACKET:
                raise FramingError(f"size prefix {size}: expected 1..{MAX_PACKET} (OSC 1.0 over TCP)")
            if len(self.buf) < 4 + size:
                break
            out.append(self.buf[4 : 4 + size])
            self.buf = self.buf[4 + size :]
        return out


class TCPListener:
    """Accepts connections for an :class:`~bridge.osc.OSCServer`; a reader thread per client."""

    def __init__(self, server: OSCServer, host: str, port: int) -> None:
        self.server = server
        try:
            self.sock = socket.create_server((host, port))
        except OSError as e:
            raise BridgeError(f"cannot listen for OSC over TCP on {host}:{port}: {e.strerror}") from None
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]

    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError as e:
                log.debug("accept: %s", e)
                continue
            if not self.server.allowed(addr[:2]):
                conn.close()  # not on the allow-list: no connection, as UDP packets get no answer
                continue
            threading.Thread(target=self._client, args=(conn, addr[:2], stop), name="osc-tcp-client",
                             daemon=True).start()
        self.sock.close()

    def _client(self, conn: socket.socket, addr: Addr, stop: threading.Event) -> None:
        conn.settimeout(0.1)

        def recv() -> bytes:
            while not stop.is_set():
                try:
                    return conn.recv(65536)
                except TimeoutError:
                    continue
            return b""

        try:
            deframer: Deframer | None = None
            while chunk := recv():
                if deframer is None:
                    deframer = Deframer(chunk[0] == slip.END[0])
                    self.server.tcp_peers[addr] = TCPPeer(conn, deframer.slip)
                for packet in deframer.feed(chunk):
                    self.server.handle(packet, addr)
        except FramingError as e:
            log.info("OSC over TCP from %s:%d: %s; closing", *addr, e)
            self.server.error(addr, "", f"malformed OSC stream: {e}")
        except OSError as e:
            log.debug("OSC over TCP from %s:%d: %s", *addr, e)
        finally:
            self.server.tcp_peers.pop(addr, None)
            self.server.subscribers.discard(addr)
            conn.close()
