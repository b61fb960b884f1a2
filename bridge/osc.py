"""OSC over UDP (and TCP): a socket loop that never dies, atomic bundles, rate-limited feedback.

The address space is documented in the README (OSC, OSCQuery and MIDI). Packets are
parsed strictly by :mod:`bridge.osc_check` and replies built by python-osc; the loop
is ours so that a malformed packet costs one ``/mixbridge/error`` (or nothing, when
it cannot even be parsed) and never the server. What a client can make the server
hold or send is bounded by :mod:`bridge.osc_limits` and :class:`bridge.osc_tcp.TCPLimits`.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from bridge.control import PREFIX, Controller
from bridge.osc_check import NUMBER_TAGS, Message, parse_packet
from bridge.osc_limits import MAX_SUBSCRIBERS, SUBSCRIPTION_TTL_S, ListLimiter, Subscriptions
from bridge.osc_tcp import Connection, TCPLimits, TCPListener
from bridge.osc_wire import Addr, build_bundle, build_message, osc_string
from core.errors import BridgeError, ParameterError

__all__ = ["OSCServer", "build_bundle", "build_message"]

log = logging.getLogger(__name__)
FEEDBACK_INTERVAL_S = 0.02  # at most one feedback value per address per 20 ms: surfaces drown otherwise
MAX_BUNDLE_BYTES = 1200  # stay under a typical MTU so a feedback bundle is never fragmented
MAX_ERROR_TEXT = 200  # an error reply never echoes more of the request than this (per field)
TAG_NAMES = {"T": "true", "F": "false", "N": "nil", "I": "infinitum", "r": "rgba colour", "m": "MIDI message",
             "s": "string", "S": "symbol", "c": "char", "b": "blob", "t": "time tag", "[": "array"}


class OSCServer:
    """OSC control of a :class:`Controller` over UDP, and over TCP when ``tcp_port`` is given.

    Parameters
    ----------
    controller : Controller
    host, port : str, int
        Where to listen (default 127.0.0.1:9000; port 0 picks a free one, see ``.port``).
    allow : sequence of str, optional
        Client addresses or networks ("192.168.1.0/24") allowed to talk to the server
        and to receive feedback; packets from anyone else are dropped. Default: everyone
        who can reach ``host`` (and, on loopback, loopback subscribers only).
    tcp_port : int, optional
        Also accept OSC over TCP on ``host`` (SLIP or size-prefixed, see
        :mod:`bridge.osc_tcp`; 0 picks a free port, see ``.tcp.port``).
    tcp_limits : TCPLimits, optional
        Connection cap, frame size and idle timeout for TCP (defaults: 64, 64 KiB, 300 s).
    max_subscribers, subscription_ttl_s : int, float
        At most this many feedback targets, each dropped unless renewed within the TTL.

    Examples
    --------
    >>> with OSCServer(Controller({"vocal": chain}), port=9000) as srv:   # doctest: +SKIP
    ...     srv.serve_until(stop_event)
    """

    def __init__(self, controller: Controller, host: str = "127.0.0.1", port: int = 9000,
                 allow: Sequence[str] | None = None, tcp_port: int | None = None,
                 tcp_limits: TCPLimits | None = None, max_subscribers: int = MAX_SUBSCRIBERS,
                 subscription_ttl_s: float = SUBSCRIPTION_TTL_S) -> None:
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
        try:
            self.tcp = TCPListener(self, host, tcp_port, tcp_limits) if tcp_port is not None else None
        except BridgeError:
            self.sock.close()
            raise
        self.subscribers = Subscriptions(self.allow, ipaddress.ip_address(self.host).is_loopback,
                                         max_subscribers, subscription_ttl_s)
        self.list_limiter = ListLimiter()
        self._pending: dict[str, float] = {}
        self._sent: dict[str, float] = {}
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.handled = 0  # packets processed (valid or not)
        self.applied_at: list[tuple[float, int]] = []  # (arrival, batch size) kept only when .record is set
        self.record = False
        controller.listeners.append(self._on_change)

    @property
    def tcp_peers(self) -> dict[Addr, Connection]:
        """The open TCP connections, by client address (their replies go back over the stream)."""
        return self.tcp.connections if self.tcp is not None else {}

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> OSCServer:
        """Serve UDP, send feedback and (with ``tcp_port``) serve TCP, each on a daemon thread."""
        targets = [self._serve, self._feedback_loop] + ([self.tcp.serve] if self.tcp is not None else [])
        for target in targets:
            t = threading.Thread(target=target, name=f"osc-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.tcp is not None:
            self.tcp.stop()
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
        try:
            if self.tcp is None or not self.tcp.send(addr, data):
                self.sock.sendto(data, addr)
        except OSError as e:
            log.debug("send to %s:%d failed: %s", addr[0], addr[1], e)

    def reply(self, addr: Addr, address: str, *args: Any) -> None:
        self._send(build_message(address, args), addr)

    def error(self, addr: Addr, address: str, reason: str) -> None:
        """Answer ``/mixbridge/error address reason``, each cut to MAX_ERROR_TEXT characters."""
        address, reason = (t if len(t) <= MAX_ERROR_TEXT else t[: MAX_ERROR_TEXT - 1] + "…" for t in (address, reason))
        log.info("OSC error for %s from %s:%d: %s", address, addr[0], addr[1], reason)
        self.reply(addr, f"{PREFIX}/error", address, reason)

    def forget(self, addr: Addr) -> None:
        """A TCP client went away: no more feedback to it."""
        self.subscribers.discard(addr)

    def handle(self, data: bytes, addr: Addr) -> None:
        """Process one datagram from ``addr``: commands answer, sets apply as one batch."""
        arrival = time.perf_counter()
        self.handled += 1
        if not self.allowed(addr):
            return
        try:
            messages = parse_packet(data)
        except ParameterError as e:
            self.error(addr, "", f"malformed OSC packet ({len(data)} bytes): {e}")
            return
        sets: list[Message] = []
        for m in messages:
            if m.address.startswith(f"{PREFIX}/") and m.address.count("/") >= 4:
                sets.append(m)
            else:
                self.command(m, addr)
        if not sets:
            return
        for m in sets:
            bad = next((t for t in m.tags if t not in NUMBER_TAGS), None)
            if bad is not None:
                self.error(addr, m.address, f"{m.address}: expected a number, got OSC type {bad!r} "
                                            f"({TAG_NAMES.get(bad, 'not a number')})")
                return
        requests = [(m.address, m.args) for m in sets]
        try:
            changes = self.controller.changes(requests)
        except (ParameterError, BridgeError) as e:
            bad_address = next((a for a, args in requests if not self._valid(a, args)), requests[0][0])
            self.error(addr, bad_address, str(e))
            return
        try:
            self.controller.apply(changes, source=f"osc {addr[0]}:{addr[1]}")
        except Exception as e:  # the engine refused (queue full): say so, nothing half-applied
            self.error(addr, requests[0][0], str(e))
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

    def command(self, m: Message, addr: Addr) -> None:
        """The non-parameter addresses: list, get, subscribe, presets, rate, ping, stats."""
        ctl = self.controller
        address, args = m.address, m.args
        try:
            if address == f"{PREFIX}/ping":
                self._send(osc_string(f"{PREFIX}/pong") + m.body, addr)  # the arguments echoed byte for byte
            elif address == f"{PREFIX}/list":
                self._expect(m, "")
                if addr not in self.tcp_peers and not self.list_limiter.allow(addr):
                    log.info("OSC /list from %s:%d: over the rate limit, not answered", *addr)
                    return
                for d in ctl.describe():
                    self.reply(addr, f"{PREFIX}/list", d["address"], float(d["min"]), float(d["max"]),
                               float(d["default"]), str(d["unit"]), float(d["value"]))
                self.reply(addr, f"{PREFIX}/list/end", len(ctl.targets()))
            elif address == f"{PREFIX}/get":
                self._expect(m, "s")
                self.reply(addr, args[0], ctl.get(args[0]))
            elif address == f"{PREFIX}/subscribe":
                self.subscribers.add(self._peer(m, addr))
                self.reply(addr, f"{PREFIX}/ok", address)
            elif address == f"{PREFIX}/unsubscribe":
                self.subscribers.discard(self._peer(m, addr))
                self.reply(addr, f"{PREFIX}/ok", address)
            elif address == f"{PREFIX}/preset/save":
                self._expect(m, "s")
                ctl.save_preset(args[0])
                self.reply(addr, f"{PREFIX}/ok", address, args[0])
            elif address == f"{PREFIX}/preset/load":
                self._expect(m, "s")
                ctl.load_preset(args[0], source=f"osc {addr[0]}:{addr[1]}")
                self.reply(addr, f"{PREFIX}/ok", address, args[0])
            elif address == f"{PREFIX}/preset/list":
                self._expect(m, "")
                self.reply(addr, f"{PREFIX}/preset/list", *ctl.list_presets())
            elif address == f"{PREFIX}/rate":
                stars = len(m.tags.rstrip("s"))  # the stars, then words saying which way the mix is off
                bad = next((t for t in m.tags[:stars] if t not in NUMBER_TAGS), None)
                if bad is not None:
                    raise ParameterError(f"rate: ratings are numbers 1-5, got OSC type {bad!r} "
                                         f"({TAG_NAMES.get(bad, 'not a number')})")
                ctl.rate(args[:stars], args[stars:])
                self.reply(addr, f"{PREFIX}/ok", address)
            elif address == f"{PREFIX}/midi/learn":
                self._expect(m, "s")
                if ctl.on_learn is None:
                    raise BridgeError(f"{address}: no MIDI bridge is running (start `mixbridge midi`)")
                ctl.on_learn(args[0])
                self.reply(addr, f"{PREFIX}/ok", address, args[0])
            elif address == f"{PREFIX}/stats":
                self._expect(m, "")
                s = ctl.stats()
                self.reply(addr, f"{PREFIX}/stats", float(s.get("load", 0.0)), int(s.get("xruns", 0)),
                           float(s.get("total_latency_ms", 0.0)))
            else:
                raise ParameterError(f"{address}: unknown address")
        except (ParameterError, BridgeError) as e:
            self.error(addr, address, str(e))

    @staticmethod
    def _expect(m: Message, tags: str) -> None:
        """Raise ParameterError unless ``m`` has exactly the argument types ``tags`` ("s": one string)."""
        n = len(tags)
        if len(m.args) != n:
            raise ParameterError(f"{m.address}: expected {n} argument{'s' if n != 1 else ''}, got {len(m.args)}")
        if m.tags.replace("S", "s") != tags:
            raise ParameterError(f"{m.address}: expected {'string ' * n}arguments, got OSC types {m.tags!r}")

    @staticmethod
    def _peer(m: Message, addr: Addr) -> Addr:
        if not m.args:
            return addr
        if m.tags in ("si", "Si", "sh", "Sh") and 0 < m.args[1] < 65536:
            return (m.args[0], m.args[1])
        raise ParameterError(f"{m.address}: expected no arguments or host (string) and port (int 1-65535), "
                             f"got OSC types {m.tags!r}")

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
        subscribers = self.subscribers.current()
        if not fresh or not subscribers:
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
        for sub in subscribers:
            for b in bundles:
                self._send(b, sub)
