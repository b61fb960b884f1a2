"""OSC packets on the wire: the peer address type and message/bundle builders.

Shared by the UDP server (:mod:`bridge.osc`), the TCP transport (:mod:`bridge.osc_tcp`)
and OSCQuery, so that none of them imports another for these small pieces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

Addr = tuple[str, int]


def build_message(address: str, args: Iterable[Any] = ()) -> bytes:
    """One OSC message as bytes (float, int, str, bool as python-osc infers them)."""
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def build_bundle(messages: Sequence[bytes]) -> bytes:
    """An immediate OSC bundle of already-built messages."""
    b = OscBundleBuilder(IMMEDIATELY)
    for m in messages:
        b.add_content(OscMessage(m))
    return b.build().dgram


def osc_string(text: str) -> bytes:
    """``text`` as an OSC string: UTF-8, NUL-terminated, padded to 4 bytes."""
    raw = text.encode()
    return raw + b"\0" * (4 - len(raw) % 4)
