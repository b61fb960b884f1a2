"""OSC over TCP, for surfaces and DAWs that prefer a stream to datagrams.

Each connection speaks one of the two framings in use, told apart by its first
byte: OSC 1.1's SLIP (a packet between two END bytes, 0xC0) or OSC 1.0's 32-bit
big-endian size prefix (whose first byte is 0 for any sane packet). Replies and
feedback to a TCP client go back over its connection in its framing. Packets go to
the same handler as UDP ones (:meth:`bridge.osc.OSCServer.handle`), so every rule
(allow-list, strict parsing, atomic bundles, errors) is the same.

One selector loop on one thread serves every connection, and what a client can make
it hold is bounded (:class:`TCPLimits`): the number of connections, the size of a
frame (an oversized one is answered ``/mixbridge/error`` and its connection closed),
the bytes waiting to be sent to a client that does not read, and the time a
connection may stay silent. Nothing polls: the loop sleeps until a socket is ready,
a reply is queued from another thread, or the next connection idles out.
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from pythonosc import slip

from bridge.osc_wire import Addr
from core.errors import BridgeError

log = logging.getLogger(__name__)
MAX_PACKET = 65536  # the largest UDP packet the server takes: the same bound over TCP by default
MAX_OUT = 256 * 1024  # bytes queued for a client that does not read before it is dropped
CHUNK = 16384  # bytes read per ready event
CLOSE_GRACE_S = 1.0  # after a closing error reply, how long the peer gets to read it


@dataclass(frozen=True)
class TCPLimits:
    """What OSC-over-TCP clients may hold on the server.

    max_connections : open connections at once; at the cap a new connection takes the
        place of the oldest one that has not sent a whole packet yet, or is closed.
    max_frame : bytes of one OSC packet (decoded); a longer frame is an error.
    idle_timeout_s : a connection that sends nothing for this long is closed (a
        subscriber renews its subscription within 5 minutes anyway).
    """

    max_connections: int = 64
    max_frame: int = MAX_PACKET
    idle_timeout_s: float = 300.0


class FramingError(Exception):
    """The byte stream is not OSC over TCP; the connection is closed."""


class Handler(Protocol):
    """What the transport needs from the OSC server."""

    def allowed(self, addr: Addr) -> bool: ...
    def handle(self, data: bytes, addr: Addr) -> None: ...
    def error(self, addr: Addr, address: str, reason: str) -> None: ...
    def forget(self, addr: Addr) -> None: ...


class Deframer:
    """Splits one connection's byte stream into OSC packets, in the framing it was opened with."""

    def __init__(self, use_slip: bool, max_frame: int = MAX_PACKET) -> None:
        self.slip = use_slip
        self.max_frame = max_frame
        self.buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The packets completed by ``chunk``.

        Raises FramingError on a size prefix outside 1..max_frame, a bad SLIP escape
        or a SLIP frame longer than max_frame, as soon as the bytes show it: an
        oversized frame is never buffered whole.
        """
        self.buf += chunk
        if self.slip:
            *frames, self.buf = self.buf.split(slip.END)  # the last piece is not closed yet
            if len(self.buf) - self.buf.count(slip.ESC) > self.max_frame:  # its decoded length so far
                raise FramingError(f"SLIP frame longer than {self.max_frame} bytes")
            try:
                packets = [slip.decode(slip.END + f + slip.END) for f in frames if f]
            except slip.ProtocolError:
                raise FramingError("bad SLIP escape sequence") from None
            if any(len(p) > self.max_frame for p in packets):
                raise FramingError(f"SLIP frame longer than {self.max_frame} bytes")
            return packets
        out = []
        pos = 0
        while len(self.buf) - pos >= 4:
            (size,) = struct.unpack(">i", self.buf[pos : pos + 4])
            if not 0 < size <= self.max_frame:
                raise FramingError(f"size prefix {size}: expected 1..{self.max_frame} (OSC 1.0 over TCP)")
            if len(self.buf) - pos < 4 + size:
                break
            out.append(self.buf[pos + 4 : pos + 4 + size])
            pos += 4 + size
        self.buf = self.buf[pos:]
        return out


class Connection:
    """One client: its framing, its unsent bytes, when it last spoke.

    ``send`` may be called from any thread (feedback runs on its own); everything
    else belongs to the loop thread.
    """

    def __init__(self, sock: socket.socket, addr: Addr, now: float) -> None:
        self.sock = sock
        self.addr = addr
        self.deframer: Deframer | None = None
        self.last_active = now
        self.packets = 0  # whole packets received: 0 marks a connection that may be displaced
        self.closing_since: float | None = None  # set when answered with an error: no more reading
        self.shut = False  # our side of the stream ended (the error reply is out)
        self.events = 0
        self.out = bytearray()
        self.overflow = False
        self.closed = False
        self._lock = threading.Lock()

    def send(self, packet: bytes) -> bool:
        """Frame and send ``packet`` without blocking; True when bytes were left queued."""
        use_slip = self.deframer is not None and self.deframer.slip
        frame = slip.encode(packet) if use_slip else struct.pack(">i", len(packet)) + packet
        with self._lock:
            if self.closed or self.overflow:
                return False
            if len(self.out) + len(frame) > MAX_OUT:
                self.overflow = True  # not reading: the loop drops it
                return True
            self.out += frame
            self._flush()
            return bool(self.out)

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self.closed or not self.out:
            return
        try:
            n = self.sock.send(self.out)
        except BlockingIOError:
            return
        except OSError:
            self.overflow = True  # broken: the loop closes it
            return
        del self.out[:n]

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self.out.clear()
            self.sock.close()


class TCPListener:
    """Accepts and serves OSC-over-TCP connections for a :class:`Handler` on one selector loop.

    Counters (``accepted``, ``refused``, ``displaced``, ``idle_closed``, ``framing_errors``,
    ``dropped_slow``) say what the limits did.
    """

    def __init__(self, handler: Handler, host: str, port: int, limits: TCPLimits | None = None) -> None:
        self.handler = handler
        self.limits = limits or TCPLimits()
        try:
            self.sock = socket.create_server((host, port), backlog=128)
        except OSError as e:
            raise BridgeError(f"cannot listen for OSC over TCP on {host}:{port}: {e.strerror}") from None
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self.connections: dict[Addr, Connection] = {}
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self.sock, selectors.EVENT_READ, "accept")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.accepted = self.refused = self.displaced = self.idle_closed = 0
        self.framing_errors = self.dropped_slow = 0

    # -- called from any thread --------------------------------------------------------
    def send(self, addr: Addr, packet: bytes) -> bool:
        """Send ``packet`` to the connection from ``addr``; False when there is none."""
        conn = self.connections.get(addr)
        if conn is None:
            return False
        if conn.send(packet) and threading.current_thread() is not self._thread:
            self._wake()  # bytes left over: the loop watches for the socket to drain
        return True

    def stop(self) -> None:
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # a wake-up is already pending (or the loop is gone)

    # -- the loop ------------------------------------------------------------------------
    def serve(self) -> None:
        """Run the loop until :meth:`stop`."""
        self._thread = threading.current_thread()
        try:
            while not self._stopping:
                for key, events in self._sel.select(self._timeout()):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        self._drain_wake()
                    else:
                        conn: Connection = key.data
                        if events & selectors.EVENT_WRITE:
                            conn.flush()
                        if events & selectors.EVENT_READ and not conn.closed:
                            self._read(conn)
                self._tend(time.monotonic())
        finally:
            for conn in list(self.connections.values()):
                self._close(conn)
            self._sel.close()
            self.sock.close()
            self._wake_r.close()
            self._wake_w.close()

    def _timeout(self) -> float | None:
        """Seconds until the next connection idles out or ends its grace (None: none open)."""
        if not self.connections:
            return None
        now = time.monotonic()
        due = min(self._deadline(c) for c in self.connections.values())
        return max(0.0, due - now)

    def _deadline(self, conn: Connection) -> float:
        if conn.closing_since is not None:
            return conn.closing_since + CLOSE_GRACE_S
        return conn.last_active + self.limits.idle_timeout_s

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _accept(self) -> None:
        for _ in range(self.limits.max_connections + 64):  # drain the backlog, a bounded batch a turn
            try:
                sock, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # e.g. out of file descriptors: the backlog waits
                log.warning("OSC over TCP accept: %s", e)
                return
            addr: Addr = peer[:2]
            if not self.handler.allowed(addr):
                sock.close()  # not on the allow-list: no connection, as UDP packets get no answer
                continue
            if len(self.connections) >= self.limits.max_connections and not self._displace():
                self.refused += 1
                sock.close()
                continue
            sock.setblocking(False)
            conn = Connection(sock, addr, time.monotonic())
            self.connections[addr] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)
            conn.events = selectors.EVENT_READ
            self.accepted += 1

    def _displace(self) -> bool:
        """Close the oldest connection that has not sent a whole packet; False when there is none."""
        silent = [c for c in self.connections.values() if c.packets == 0]
        if not silent:
            return False
        self._close(min(silent, key=lambda c: c.last_active))
        self.displaced += 1
        return True

    def _read(self, conn: Connection) -> None:
        try:
            chunk = conn.sock.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError as e:
            log.debug("OSC over TCP from %s:%d: %s", *conn.addr, e)
            chunk = b""
        if not chunk:
            self._close(conn)
            return
        if conn.closing_since is not None:
            return  # answered and closing: what it still sends is dropped
        conn.last_active = time.monotonic()
        if conn.deframer is None:
            conn.deframer = Deframer(chunk[0] == slip.END[0], self.limits.max_frame)
        try:
            packets = conn.deframer.feed(chunk)
        except FramingError as e:
            log.info("OSC over TCP from %s:%d: %s; closing", *conn.addr, e)
            self.framing_errors += 1
            conn.deframer.buf = b""
            conn.closing_since = conn.last_active
            self.handler.error(conn.addr, "", f"malformed OSC stream: {e}")
            return
        for packet in packets:
            conn.packets += 1
            try:
                self.handler.handle(packet, conn.addr)
            except Exception:  # a bug in one handler must not take every connection down
                log.exception("OSC packet over TCP from %s:%d", *conn.addr)

    def _tend(self, now: float) -> None:
        """Close what is due (idle, slow reader, answered and drained), then set each socket's interest."""
        for conn in list(self.connections.values()):
            if conn.overflow:
                self.dropped_slow += 1
                self._close(conn)
                continue
            if conn.closing_since is not None:
                if now >= conn.closing_since + CLOSE_GRACE_S:
                    self._close(conn)
                    continue
                if not conn.out and not conn.shut:
                    conn.shut = True
                    try:
                        conn.sock.shutdown(socket.SHUT_WR)  # the error reply is out: end of stream
                    except OSError:
                        pass
            elif now - conn.last_active >= self.limits.idle_timeout_s:
                self.idle_closed += 1
                self._close(conn)
                continue
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
            if want != conn.events:
                self._sel.modify(conn.sock, want, conn)
                conn.events = want

    def _close(self, conn: Connection) -> None:
        if self.connections.get(conn.addr) is conn:
            del self.connections[conn.addr]
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.close()
        self.handler.forget(conn.addr)
