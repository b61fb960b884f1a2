"""Bounds on what OSC clients can make the server hold or send: subscribers and list replies.

A UDP sender's address can be spoofed, so nothing a datagram asks for may grow
without bound or be sent at a rate the sender does not pay for: subscriptions are
capped, checked against the allow-list and expire unless renewed; ``/mixbridge/list``
(the one reply many times larger than its request) is rate-limited per source and
overall.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Sequence

from bridge.osc_wire import Addr
from core.errors import BridgeError

MAX_SUBSCRIBERS = 32
SUBSCRIPTION_TTL_S = 300.0  # a subscriber renews (subscribes again) within 5 minutes or is dropped
LIST_INTERVAL_S = 1.0  # one /list per source address per second
LIST_PER_S = 20  # and at most 20 /list replies per second in all
MAX_TRACKED = 1024  # sources remembered by the /list limiter (spoofed sources must not grow it)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Subscriptions:
    """The feedback targets: at most ``cap``, each expiring ``ttl_s`` after its last (re)subscribe.

    Parameters
    ----------
    allow : list of networks, or None
        The server's allow-list; a target must be on it (when there is one).
    loopback_only : bool
        The server listens on loopback: targets elsewhere are refused unless the
        allow-list names them.
    cap, ttl_s : int, float
    clock : callable
        Seconds, monotonic (a test may pass its own).
    """

    def __init__(self, allow: Sequence[Network] | None, loopback_only: bool, cap: int = MAX_SUBSCRIBERS,
                 ttl_s: float = SUBSCRIPTION_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.allow = allow
        self.loopback_only = loopback_only
        self.cap = cap
        self.ttl_s = ttl_s
        self.clock = clock
        self._until: dict[Addr, float] = {}
        self._lock = threading.Lock()  # UDP, TCP and feedback threads all touch the list

    def check(self, target: Addr) -> None:
        """Raise BridgeError unless feedback may be sent to ``target``."""
        try:
            ip = ipaddress.ip_address(target[0])
        except ValueError:
            raise BridgeError(f"subscriber host {target[0]!r}: give an IP address, not a name") from None
        if ip.is_multicast or ip.is_unspecified or ip == ipaddress.ip_address("255.255.255.255"):
            raise BridgeError(f"subscriber {target[0]}: not a unicast address")
        if self.allow is not None:
            if not any(ip in n for n in self.allow):
                raise BridgeError(f"subscriber {target[0]}: not on the allow-list")
        elif self.loopback_only and not ip.is_loopback:
            raise BridgeError(f"subscriber {target[0]}: the server listens on loopback; "
                              "allow other targets with --allow")

    def add(self, target: Addr) -> None:
        """Subscribe or renew ``target``; BridgeError when refused or the list is full."""
        self.check(target)
        now = self.clock()
        with self._lock:
            self._expire(now)
            if target not in self._until and len(self._until) >= self.cap:
                raise BridgeError(f"subscriber list full ({self.cap}); unsubscribe one or wait for one to expire "
                                  f"({self.ttl_s:.0f} s without renewal)")
            self._until[target] = now + self.ttl_s

    def discard(self, target: Addr) -> None:
        with self._lock:
            self._until.pop(target, None)

    def current(self) -> list[Addr]:
        """The live subscribers (expired ones dropped)."""
        with self._lock:
            self._expire(self.clock())
            return list(self._until)

    def _expire(self, now: float) -> None:
        for t in [t for t, until in self._until.items() if until <= now]:
            del self._until[t]

    def __len__(self) -> int:
        return len(self.current())

    def __contains__(self, target: object) -> bool:
        return target in self.current()


class ListLimiter:
    """Whether a ``/mixbridge/list`` from a UDP source may be answered now.

    One per source per ``interval_s`` and ``per_s`` in all: a spoofed request can
    make the server send a list to a victim at most once a second, and all spoofers
    together at most ``per_s`` lists a second. Refused requests get no reply at all
    (an error would still be traffic to the victim). TCP clients are not limited:
    the handshake proves their address.
    """

    def __init__(self, interval_s: float = LIST_INTERVAL_S, per_s: int = LIST_PER_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.per_s = per_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._recent: list[float] = []
        self._lock = threading.Lock()

    def allow(self, addr: Addr) -> bool:
        now = self.clock()
        with self._lock:
            self._recent = [t for t in self._recent if now - t < 1.0]
            if len(self._recent) >= self.per_s or now - self._last.get(addr[0], -1e9) < self.interval_s:
                return False
            if len(self._last) >= MAX_TRACKED:
                self._last = {a: t for a, t in self._last.items() if now - t < self.interval_s}
                if len(self._last) >= MAX_TRACKED:
                    return False
            self._last[addr[0]] = now
            self._recent.append(now)
            return True
