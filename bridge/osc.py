"""OSC over UDP (and TCP): a socket loop that never dies, atomic bundles, rate-limited feedback.

The address space is documented in the README (OSC, OSCQuery and MIDI). python-osc parses and builds the
packets; the loop is ours so that a malformed packet costs one ``/mixbridge/error``
(or nothing, when it cannot even be parsed) and never the server.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from bridge.control import PREFIX, Controller
from bridge.osc_check import check_packet
from bridge.osc_tcp import Addr, TCPListener, TCPPeer
from core.errors import BridgeError, ParameterError

log = logging.getLogger(__name__)
FEEDBACK_INTERVAL_S = 0.02  # at most one feedback value per address per 20 ms: surfaces drown otherwise
MAX_BUNDLE_BYTES = 1200  # stay under a typical MTU so a feedback bundle is never fragmented


def build_message(address: str, args: Iterable[Any] = ()) -> bytes:
    """One OSC message as bytes (float, int, str, bool as python-osc infers them)."""
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def build_bundle(messages: Sequence[bytes]) -> bytes:
    """An immediate OSC bundle of already-built messages."""
    from pythonosc.osc_message import OscMessage

    b = OscBundleBuilder(IMMEDIATELY)
    for m in messages:
        b.add_content(OscMessage(m))
    return b.build().dgram


class OSCServer:
    """OSC control of a :class:`Controller` over UDP, and over TCP when ``tcp_port`` is given.

    Parameters
    ----------
    controller : Controller
    host, port : str, int
        Where to listen (default 127.0.0.1:9000; port 0 picks a free one, see ``.port``).
    allow : sequence of str, optional
        Client addresses or networks ("192.168.1.0/24") allowed to talk to the server;
        packets from anyone else are dropped. Default: everyone who can reach ``host``.
    tcp_port : int, optional
        Also accept OSC over TCP on ``host`` (SLIP or size-prefixed, see
        :mod:`bridge.osc_tcp`; 0 picks a free port, see ``.tcp.port``).

    Examples
    --------
    >>> with OSCServer(Controller({"vocal": chain}), port=9000) as srv:   # doctest: +SKIP
    ...     srv.serve_until(stop_event)
    """

    def __init__(self, controller: Controller, host: str = "127.0.0.1", port: int = 9000,
                 allow: Sequence[str] | None = None, tcp_port: int | None = None) -> None:
        self.controller = controller
        self.allow = [ipaddress.ip_network(a, strict=False) for a in allow] if allow else None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError as e:
            self.sock.close()
            raise BridgeError(f"cannot listen for OSC on {host}:{port}: {e.strerror}") from None
        self.sock.settimeout(0.1)
        self.host, self.port = self.sock.getsockname()
        self.tcp_peers: dict[Addr, TCPPeer] = {}  # TCP clients: their replies go back over the stream
        try:
            self.tcp = TCPListener(self, host, tcp_port) if tcp_port is not None else None
        except BridgeError:
            self.sock.close()
            raise
        self.subscribers: set[Addr] = set()
        self._pending: dict[str, float] = {}
        self._sent: dict[str, float] = {}
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.handled = 0  # packets processed (valid or not)
        self.applied_at: list[tuple[float, int]] = []  # (arrival, batch size) kept only when .record is set
        self.record = False
        controller.listeners.append(self._on_change)

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> OSCServer:
        """Serve and send feedback on two daemon threads."""
        for target in (self._serve, self._feedback_loop):
            t = threading.Thread(target=target, name=f"osc-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)
        if self.tcp is not None:
            t = threading.Thread(target=self.tcp.serve, args=(self._stop,), name="osc-tcp", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        if self._on_change in self.controller.listeners:
            self.controller.listeners.remove(self._on_change)
        self.sock.close()

    def __enter__(self) -> OSCServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError as e:  # e.g. ICMP port unreachable from a gone subscriber
                log.debug("recvfrom: %s", e)
                continue
            try:
                self.handle(data, addr)
            except Exception:  # a bug in one handler must not take the surface down
                log.exception("OSC packet from %s:%d", *addr)

    # -- packets ----------------------------------------------------------------------
    def _send(self, data: bytes, addr: Addr) -> None:
        peer = self.tcp_peers.get(addr)
        try:
            if peer is not None:
                peer.send(data)
            else:
                self.sock.sendto(data, addr)
        except OSError as e:
            log.debug("send to %s:%d failed: %s", addr[0], addr[1], e)

    def reply(self, addr: Addr, address: str, *args: Any) -> None:
        self._send(build_message(address, args), addr)

    def error(self, addr: Addr, address: str, reason: str) -> None:
        log.info("OSC error for %s from %s:%d: %s", address, addr[0], addr[1], reason)
        self.reply(addr, f"{PREFIX}/error", address, reason)

    def handle(self, data: bytes, addr: Addr) -> None:
        """Process one datagram from ``addr``: commands answer, sets apply as one batch."""
        arrival = time.perf_counter()
        self.handled += 1
        if not self.allowed(addr):
            return
        try:
            check_packet(data)  # python-osc alone would take a truncated float as 0.0
            messages = [(m.message.address, list(m.message.params)) for m in OscPacket(data).messages]
        except Exception as e:  # python-osc raises many types on garbage (ParseError, struct, Unicode)
            self.error(addr, "", f"malformed OSC packet ({len(data)} bytes): {e}")
            return
        sets: list[tuple[str, list[Any]]] = []
        for address, args in messages:
            if address.startswith(f"{PREFIX}/") and address.count("/") >= 4:
                sets.append((address, args))
            else:
                self.command(address, args, addr)
        if not sets:
            return
        try:
            changes = self.controller.changes(sets)
        except (ParameterError, BridgeError) as e:
            bad = next((a for a, args in sets if not self._valid(a, args)), sets[0][0])
            self.error(addr, bad, str(e))
            return
        try:
            self.controller.apply(changes, source=f"osc {addr[0]}:{addr[1]}")
        except Exception as e:  # the engine refused (queue full): say so, nothing half-applied
            self.error(addr, sets[0][0], str(e))
            return
        if self.record:
            self.applied_at.append((arrival, len(changes)))

    def allowed(self, addr: Addr) -> bool:
        """Whether ``addr`` may talk to the server (the ``allow`` list; everyone without one)."""
        return self.allow is None or any(ipaddress.ip_address(addr[0]) in n for n in self.allow)

    def _valid(self, address: str, args: list[Any]) -> bool:
        try:
            self.controller.changes([(address, args)])
        except (ParameterError, BridgeError):
            return False
        return True

    def command(self, address: str, args: list[Any], addr: Addr) -> None:
        """The non-parameter addresses: list, get, subscribe, presets, rate, ping, stats."""
        ctl = self.controller
        try:
            if address == f"{PREFIX}/ping":
                self.reply(addr, f"{PREFIX}/pong", *args)
            elif address == f"{PREFIX}/list":
                self._expect(address, args, 0)
                for d in ctl.describe():
                    self.reply(addr, f"{PREFIX}/list", d["address"], float(d["min"]), float(d["max"]),
                               float(d["default"]), str(d["unit"]), float(d["value"]))
                self.reply(addr, f"{PREFIX}/list/end", len(ctl.targets()))
            elif address == f"{PREFIX}/get":
                self._expect(address, args, 1, str)
                self.reply(addr, args[0], ctl.get(args[0]))
            elif address == f"{PREFIX}/subscribe":
                sub = self._peer(address, args, addr)
                self.subscribers.add(sub)
                self.reply(addr, f"{PREFIX}/ok", address)
            elif address == f"{PREFIX}/unsubscribe":
                self.subscribers.discard(self._peer(address, args, addr))
                self.reply(addr, f"{PREFIX}/ok", address)
            elif address == f"{PREFIX}/preset/save":
                self._expect(address, args, 1, str)
                ctl.save_preset(args[0])
                self.reply(addr, f"{PREFIX}/ok", address, args[0])
            elif address == f"{PREFIX}/preset/load":
                self._expect(address, args, 1, str)
                ctl.load_preset(args[0], source=f"osc {addr[0]}:{addr[1]}")
                self.reply(addr, f"{PREFIX}/ok", address, args[0])
            elif address == f"{PREFIX}/preset/list":
                self._expect(address, args, 0)
                self.reply(addr, f"{PREFIX}/preset/list", *ctl.list_presets())
            elif address == f"{PREFIX}/rate":
                ctl.rate(args)
                self.reply(addr, f"{PREFIX}/ok", address)
            elif address == f"{PREFIX}/midi/learn":
                self._expect(address, args, 1, str)
                if ctl.on_learn is None:
                    raise BridgeError(f"{address}: no MIDI bridge is running (start `mixbridge midi`)")
                ctl.on_learn(args[0])
                self.reply(addr, f"{PREFIX}/ok", address, args[0])
            elif address == f"{PREFIX}/stats":
                self._expect(address, args, 0)
                s = ctl.stats()
                self.reply(addr, f"{PREFIX}/stats", float(s.get("load", 0.0)), int(s.get("xruns", 0)),
                           float(s.get("total_latency_ms", 0.0)))
            else:
                raise ParameterError(f"{address}: unknown address")
        except (ParameterError, BridgeError) as e:
            self.error(addr, address, str(e))

    @staticmethod
    def _expect(address: str, args: list[Any], n: int, kind: type | None = None) -> None:
        if len(args) != n:
            raise ParameterError(f"{address}: expected {n} argument{'s' if n != 1 else ''}, got {len(args)}")
        if kind is not None and not all(isinstance(a, kind) for a in args):
            raise ParameterError(f"{address}: expected {kind.__name__} arguments, got {args!r}")

    @staticmethod
    def _peer(address: str, args: list[Any], addr: Addr) -> Addr:
        if not args:
            return addr
        if len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], int) and 0 < args[1] < 65536:
            return (args[0], args[1])
        raise ParameterError(f"{address}: expected no arguments or host (string) and port (int 1-65535), got {args!r}")

    # -- feedback ---------------------------------------------------------------------
    def _on_change(self, changes: list[tuple[str, float]], source: str) -> None:
        with self._pending_lock:
            for address, value in changes:
                self._pending[address] = value  # last value wins within one interval

    def _feedback_loop(self) -> None:
        while not self._stop.wait(FEEDBACK_INTERVAL_S):
            self.flush()

    def flush(self) -> None:
        """Send pending changed values to every subscriber, as bundles under the MTU."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        fresh = [(a, v) for a, v in pending.items() if self._sent.get(a) != v]
        if not fresh or not self.subscribers:
            self._sent.update(fresh)
            return
        self._sent.update(fresh)
        bundles: list[bytes] = []
        batch: list[bytes] = []
        size = 16
        for a, v in fresh:
            m = build_message(a, [v])
            if batch and size + 4 + len(m) > MAX_BUNDLE_BYTES:
                bundles.append(build_bundle(batch))
                batch, size = [], 16
            batch.append(m)
            size += 4 + len(m)
        bundles.append(build_bundle(batch))
        for sub in list(self.subscribers):
            for b in bundles:
                self._send(b, sub)
