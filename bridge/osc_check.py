"""Structural check of an OSC 1.0 packet before python-osc parses it.

python-osc is lenient: it zero-pads a truncated float (a message cut by four bytes
sets 0.0), ignores bytes after the last argument and skips bundle elements it cannot
read. A control surface must never move a fader because a datagram was damaged, so
every packet is walked here first and refused whole on the first inconsistency.
"""

from __future__ import annotations

import struct

from core.errors import ParameterError

FIXED = {"i": 4, "f": 4, "c": 4, "r": 4, "m": 4, "d": 8, "h": 8, "t": 8,
         "T": 0, "F": 0, "N": 0, "I": 0, "[": 0, "]": 0}
MAX_DEPTH = 8


def _string(data: bytes, pos: int, what: str) -> tuple[str, int]:
    """An OSC string at ``pos``: NUL-terminated, padded to 4 bytes with NULs."""
    end = data.find(b"\0", pos)
    if end < 0:
        raise ParameterError(f"{what} at byte {pos} has no terminating NUL")
    nxt = (end + 4) & ~3
    if nxt > len(data) or data[end:nxt].strip(b"\0"):
        raise ParameterError(f"{what} at byte {pos} is not padded to 4 bytes")
    try:
        return data[pos:end].decode("utf-8"), nxt
    except UnicodeDecodeError:
        raise ParameterError(f"{what} at byte {pos} is not UTF-8") from None


def check_message(data: bytes) -> None:
    """Raise ParameterError unless ``data`` is exactly one well-formed OSC message."""
    address, pos = _string(data, 0, "address")
    if not address.startswith("/"):
        raise ParameterError(f"address {address!r} does not start with '/'")
    if pos == len(data):
        return  # OSC 1.0 allows a message without a type tag string (no arguments)
    tags, pos = _string(data, pos, "type tags")
    if not tags.startswith(","):
        raise ParameterError(f"{address}: type tags {tags!r} do not start with ','")
    for tag in tags[1:]:
        if tag in FIXED:
            pos += FIXED[tag]
        elif tag in "sS":
            _, pos = _string(data, pos, f"{address}: string argument")
        elif tag == "b":
            if pos + 4 > len(data):
                raise ParameterError(f"{address}: blob size missing")
            size = struct.unpack(">i", data[pos : pos + 4])[0]
            if size < 0:
                raise ParameterError(f"{address}: negative blob size {size}")
            pos += 4 + ((size + 3) & ~3)
        else:
            raise ParameterError(f"{address}: unknown type tag {tag!r}")
        if pos > len(data):
            raise ParameterError(f"{address}: truncated: arguments need {pos} bytes, the packet has {len(data)}")
    if pos != len(data):
        raise ParameterError(f"{address}: {len(data) - pos} bytes after the last argument")


def check_packet(data: bytes, depth: int = 0) -> None:
    """Raise ParameterError unless ``data`` is a well-formed OSC message or bundle (checked whole)."""
    if len(data) % 4:
        raise ParameterError(f"packet size {len(data)} is not a multiple of 4")
    if not data.startswith(b"#bundle\0"):
        check_message(data)
        return
    if depth >= MAX_DEPTH:
        raise ParameterError(f"bundles nested deeper than {MAX_DEPTH}")
    if len(data) < 16:
        raise ParameterError("bundle without a time tag")
    pos = 16
    while pos < len(data):
        if pos + 4 > len(data):
            raise ParameterError(f"bundle element size missing at byte {pos}")
        size = struct.unpack(">i", data[pos : pos + 4])[0]
        if size <= 0 or size % 4 or pos + 4 + size > len(data):
            raise ParameterError(f"bundle element at byte {pos}: size {size} does not fit the packet")
        check_packet(data[pos + 4 : pos + 4 + size], depth + 1)
        pos += 4 + size
