"""Strict parsing of OSC 1.0 packets (python-osc's parser is too lenient for a control surface).

python-osc zero-pads a truncated float (a message cut by four bytes sets 0.0), ignores
bytes after the last argument, skips bundle elements it cannot read, and skips the
tags it does not know (``c``, ``I``) without consuming their bytes, so the next
argument is read from the wrong place. A control surface must never move a fader
because a datagram was damaged, so every packet is walked here and refused whole on
the first inconsistency; the walk also yields the arguments with their type tags, so
that ``T``/``F``/``N``/``I``/``r`` are never mistaken for numbers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from core.errors import ParameterError

FIXED = {"i": 4, "f": 4, "c": 4, "r": 4, "m": 4, "d": 8, "h": 8, "t": 8,
         "T": 0, "F": 0, "N": 0, "I": 0, "[": 0, "]": 0}
NUMBER_TAGS = "ifhd"  # the only tags that carry a number a parameter may take
CONSTANT = {"T": True, "F": False, "N": None, "I": float("inf")}
MAX_DEPTH = 8


@dataclass(frozen=True)
class Message:
    """One parsed OSC message: its address, type tags (without the comma), arguments and bytes.

    Arrays (``[...]``) are nested lists in ``args``; their brackets stay in ``tags``.
    """

    address: str
    tags: str
    args: list[Any]
    dgram: bytes

    @property
    def body(self) -> bytes:
        """The bytes after the address (type tags and arguments), to echo them unchanged."""
        return self.dgram[(len(self.address.encode()) + 4) & ~3:]


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


def _fixed(tag: str, raw: bytes) -> Any:
    if tag == "i":
        return struct.unpack(">i", raw)[0]
    if tag == "f":
        return struct.unpack(">f", raw)[0]
    if tag == "d":
        return struct.unpack(">d", raw)[0]
    if tag == "h":
        return struct.unpack(">q", raw)[0]
    if tag == "c":
        return chr(struct.unpack(">I", raw)[0] & 0x10FFFF)
    if tag in "rt":
        return int.from_bytes(raw, "big")
    return bytes(raw)  # m: four MIDI bytes


def parse_message(data: bytes) -> Message:
    """``data`` as exactly one well-formed OSC message; ParameterError says what is wrong."""
    address, pos = _string(data, 0, "address")
    if not address.startswith("/"):
        raise ParameterError(f"address {address!r} does not start with '/'")
    if pos == len(data):
        return Message(address, "", [], data)  # OSC 1.0 allows a message without a type tag string
    tags, pos = _string(data, pos, "type tags")
    if not tags.startswith(","):
        raise ParameterError(f"{address}: type tags {tags!r} do not start with ','")
    args: list[Any] = []
    stack = [args]
    for tag in tags[1:]:
        if tag == "[":
            stack.append([])
            stack[-2].append(stack[-1])
        elif tag == "]":
            if len(stack) == 1:
                raise ParameterError(f"{address}: ']' without '[' in type tags {tags!r}")
            stack.pop()
        elif tag in CONSTANT:
            stack[-1].append(CONSTANT[tag])
        elif tag in FIXED:
            if pos + FIXED[tag] > len(data):
                raise ParameterError(f"{address}: truncated: a {tag!r} argument at byte {pos} does not fit")
            stack[-1].append(_fixed(tag, data[pos : pos + FIXED[tag]]))
            pos += FIXED[tag]
        elif tag in "sS":
            s, pos = _string(data, pos, f"{address}: string argument")
            stack[-1].append(s)
        elif tag == "b":
            if pos + 4 > len(data):
                raise ParameterError(f"{address}: blob size missing")
            size = struct.unpack(">i", data[pos : pos + 4])[0]
            end = pos + 4 + ((size + 3) & ~3)
            if size < 0 or end > len(data):
                raise ParameterError(f"{address}: blob size {size} does not fit the packet")
            stack[-1].append(data[pos + 4 : pos + 4 + size])
            pos = end
        else:
            raise ParameterError(f"{address}: unknown type tag {tag!r}")
    if len(stack) != 1:
        raise ParameterError(f"{address}: '[' without ']' in type tags {tags!r}")
    if pos != len(data):
        raise ParameterError(f"{address}: {len(data) - pos} bytes after the last argument")
    return Message(address, tags[1:], args, data)


def parse_packet(data: bytes, depth: int = 0) -> list[Message]:
    """The messages of an OSC message or bundle, in order, checked whole before any is returned.

    Bundle time tags are ignored: everything applies at once, as it arrives.
    """
    if len(data) % 4:
        raise ParameterError(f"packet size {len(data)} is not a multiple of 4")
    if not data.startswith(b"#bundle\0"):
        return [parse_message(data)]
    if depth >= MAX_DEPTH:
        raise ParameterError(f"bundles nested deeper than {MAX_DEPTH}")
    if len(data) < 16:
        raise ParameterError("bundle without a time tag")
    out: list[Message] = []
    pos = 16
    while pos < len(data):
        if pos + 4 > len(data):
            raise ParameterError(f"bundle element size missing at byte {pos}")
        size = struct.unpack(">i", data[pos : pos + 4])[0]
        if size <= 0 or size % 4 or pos + 4 + size > len(data):
            raise ParameterError(f"bundle element at byte {pos}: size {size} does not fit the packet")
        out += parse_packet(data[pos + 4 : pos + 4 + size], depth + 1)
        pos += 4 + size
    return out

