"""MIDI control: CC (7-bit and 14-bit pairs), notes and program changes, learn, feedback.

Mappings live in a TOML file::

    [[cc]]                  # 7-bit: 0..127 over the parameter's 0..1 (its scale)
    channel = 1             # 1-16; omit for any channel
    cc = 7
    address = "/mixbridge/vocal/compressor/threshold_db"

    [[cc14]]                # 14-bit pair: MSB controller 0-31, LSB = MSB + 32
    msb = 1
    address = "/mixbridge/vocal/eq/b3_freq_hz"

    [[note]]                # note-on toggles a bypass, or loads a preset
    note = 36
    address = "/mixbridge/vocal/compressor/bypass"

    [[program]]             # program change N loads a preset
    program = 0
    preset = "verse"

The port callback and the tests use the same :meth:`MidiBridge.feed`.
"""

from __future__ import annotations

import logging
import os
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.control import Controller
from core.errors import BridgeError, ParameterError

log = logging.getLogger(__name__)
VIRTUAL_PORT = "mixbridge"
KINDS = ("cc", "cc14", "note", "program")


@dataclass
class Mapping:
    """One binding: ``kind`` ``number`` on ``channel`` (0-15, None = any) to an address or preset."""

    kind: str
    number: int
    channel: int | None = None
    address: str = ""
    preset: str = ""

    def matches(self, kind: str, channel: int, number: int) -> bool:
        return self.kind == kind and self.number == number and self.channel in (None, channel)

    def to_toml(self) -> str:
        key = {"cc": "cc", "cc14": "msb", "note": "note", "program": "program"}[self.kind]
        lines = [f"[[{self.kind}]]"]
        if self.channel is not None:
            lines.append(f"channel = {self.channel + 1}")
        lines.append(f"{key} = {self.number}")
        if self.address:
            lines.append(f'address = "{self.address}"')
        if self.preset:
            lines.append(f'preset = "{self.preset}"')
        return "\n".join(lines) + "\n"


def load_mappings(path: Path) -> list[Mapping]:
    """Read a mapping TOML; a missing file is an empty mapping."""
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise BridgeError(f"MIDI mappings {path}: {e}") from None
    out = []
    for kind in KINDS:
        key = {"cc": "cc", "cc14": "msb", "note": "note", "program": "program"}[kind]
        limit = 31 if kind == "cc14" else 127
        for i, m in enumerate(data.get(kind, [])):
            where = f"{path}: [[{kind}]] #{i + 1}"
            number = m.get(key)
            if not isinstance(number, int) or not 0 <= number <= limit:
                raise BridgeError(f"{where}: {key} must be an integer 0-{limit}, got {number!r}")
            ch = m.get("channel")
            if ch is not None and (not isinstance(ch, int) or not 1 <= ch <= 16):
                raise BridgeError(f"{where}: channel must be 1-16, got {ch!r}")
            if not (m.get("address") or m.get("preset")):
                raise BridgeError(f"{where}: needs an address or a preset")
            out.append(Mapping(kind, number, None if ch is None else ch - 1, m.get("address", ""), m.get("preset", "")))
    return out


class MidiBridge:
    """Raw MIDI bytes to controller changes, and controller changes back to CC feedback.

    Parameters
    ----------
    controller : Controller
    mapping_path : path
        TOML mappings; MIDI learn saves here.

    Examples
    --------
    >>> midi = MidiBridge(ctl, "midi.toml")           # doctest: +SKIP
    >>> midi.feed([0xB0, 7, 127])                      # CC 7 on channel 1 at full scale  # doctest: +SKIP
    """

    def __init__(self, controller: Controller, mapping_path: str | Path = "midi.toml") -> None:
        self.controller = controller
        self.mapping_path = Path(mapping_path)
        self.mappings = load_mappings(self.mapping_path)
        for m in self.mappings:
            if m.address:
                controller.resolve(m.address)  # a typo fails at start, naming the address
        self.armed: str | None = None
        self._msb: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()
        self.midi_in: Any = None
        self.midi_out: Any = None
        self.port_name = ""
        self.errors: list[str] = []
        controller.listeners.append(self._feedback)
        controller.on_learn = self.arm  # `/mixbridge/midi/learn <address>` arms from a surface

    # -- learn --------------------------------------------------------------------------
    def arm(self, address: str) -> None:
        """The next CC received binds to ``address`` (replacing that CC's old binding)."""
        self.controller.resolve(address)
        self.armed = address

    def save(self) -> None:
        from core import files

        body = "\n".join(m.to_toml() for m in self.mappings)
        files.write_text(self.mapping_path, "# mixbridge MIDI mappings (see bridge/midi.py)\n\n" + body)

    # -- parsing --------------------------------------------------------------------------
    def feed(self, message: list[int] | tuple[int, ...]) -> None:
        """Handle one MIDI message (status byte first), as the port callback delivers it."""
        if not message or not 0x80 <= message[0] <= 0xEF:
            return  # system messages (clock, sysex) carry no control here
        status, channel = message[0] & 0xF0, message[0] & 0x0F
        data = list(message[1:3])
        try:
            if status == 0xB0 and len(data) == 2:
                self._cc(channel, data[0], data[1])
            elif status == 0x90 and len(data) == 2 and data[1] > 0:
                for m in self._find("note", channel, data[0]):
                    self._trigger(m)
            elif status == 0xC0 and data:
                for m in self._find("program", channel, data[0]):
                    self._trigger(m)
        except (ParameterError, BridgeError) as e:  # a bad mapping must not kill the port thread
            self.errors.append(str(e))
            log.warning("MIDI %s: %s", message, e)

    def _find(self, kind: str, channel: int, number: int) -> list[Mapping]:
        return [m for m in self.mappings if m.matches(kind, channel, number)]

    def _cc(self, channel: int, cc: int, value: int) -> None:
        if self.armed is not None:
            with self._lock:
                address, self.armed = self.armed, None
                self.mappings = [m for m in self.mappings if not m.matches("cc", channel, cc)]
                self.mappings.append(Mapping("cc", cc, channel, address))
                self.save()
            log.info("MIDI learn: CC %d channel %d -> %s", cc, channel + 1, address)
            return
        if cc < 32:
            self._msb[(channel, cc)] = value
            for m in self._find("cc14", channel, cc):
                self._set(m.address, value / 127.0)  # coarse until the LSB arrives
        elif cc < 64:
            msb = self._msb.get((channel, cc - 32))
            if msb is not None:
                for m in self._find("cc14", channel, cc - 32):
                    self._set(m.address, ((msb << 7) | value) / 16383.0)
        for m in self._find("cc", channel, cc):
            self._set(m.address, value / 127.0)

    def _set(self, address: str, x: float) -> None:
        t = self.controller.resolve(address)
        if address.endswith("/bypass"):
            self.controller.set(address, int(x >= 0.5), source="midi")
        elif address.endswith("/mix") or t.norm:
            self.controller.set(address, x, source="midi")
        else:
            self.controller.set(address + "/norm", x, source="midi")

    def _trigger(self, m: Mapping) -> None:
        if m.preset:
            self.controller.load_preset(m.preset, source="midi")
        elif m.address.endswith("/bypass"):
            self.controller.set(m.address, 1 - int(self.controller.get(m.address)), source="midi")
        else:
            self.controller.set(m.address + ("" if m.address.endswith("/mix") else "/norm"), 1.0, source="midi")

    # -- feedback -------------------------------------------------------------------------
    def feedback_messages(self, changes: list[tuple[str, float]]) -> list[list[int]]:
        """CC messages that move motor faders / LED rings to the changed values."""
        out: list[list[int]] = []
        for address, value in changes:
            for m in self.mappings:
                if m.address != address or m.kind not in ("cc", "cc14"):
                    continue
                t = self.controller.resolve(address)
                x = value if address.endswith(("/bypass", "/mix")) else t.param.to_norm(value)
                ch = m.channel or 0
                if m.kind == "cc":
                    out.append([0xB0 | ch, m.number, round(x * 127)])
                else:
                    v = round(x * 16383)
                    out += [[0xB0 | ch, m.number, v >> 7], [0xB0 | ch, m.number + 32, v & 0x7F]]
        return out

    def _feedback(self, changes: list[tuple[str, float]], source: str) -> None:
        if self.midi_out is None or source == "midi":  # never echo a fader's own move back at it
            return
        for msg in self.feedback_messages(changes):
            self.midi_out.send_message(msg)

    # -- ports ----------------------------------------------------------------------------
    def open(self, name: str | None = None, output: str | None = None) -> None:
        """Open input port ``name`` (a substring), or a virtual port "mixbridge"; feedback to ``output``."""
        if not os.path.exists("/dev/snd/seq"):
            raise BridgeError(
                "no MIDI subsystem: /dev/snd/seq is missing (load the ALSA sequencer: `modprobe snd-seq`, "
                "or run in a container with /dev/snd); OSC control keeps working without MIDI"
            )
        import rtmidi

        try:
            midi_in = rtmidi.MidiIn()
            if name is None:
                midi_in.open_virtual_port(VIRTUAL_PORT)
                self.port_name = VIRTUAL_PORT
            else:
                midi_in.open_port(_port_index(midi_in.get_ports(), name, "input"))
                self.port_name = name
            midi_in.set_callback(lambda event, _data: self.feed(event[0]))
            if output is not None:
                midi_out = rtmidi.MidiOut()
                midi_out.open_port(_port_index(midi_out.get_ports(), output, "output"))
                self.midi_out = midi_out
        except rtmidi.SystemError as e:
            raise BridgeError(f"MIDI unavailable: {e}") from None
        self.midi_in = midi_in

    def close(self) -> None:
        for port in (self.midi_in, self.midi_out):
            if port is not None:
                port.close_port()
        if self._feedback in self.controller.listeners:
            self.controller.listeners.remove(self._feedback)
        if self.controller.on_learn == self.arm:
            self.controller.on_learn = None


def _port_index(ports: list[str], name: str, what: str) -> int:
    for i, p in enumerate(ports):
        if name.lower() in p.lower():
            return i
    raise BridgeError(f"no MIDI {what} port matching {name!r} (ports: {', '.join(ports) or 'none'})")
