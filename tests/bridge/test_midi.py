"""MIDI: the port callback's parser fed raw messages (no ALSA sequencer on this machine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.control import Controller
from bridge.midi import MidiBridge, load_mappings
from core.errors import BridgeError
from core.host import PluginHost

THR = "/mixbridge/vocal/compressor/threshold_db"
FREQ = "/mixbridge/vocal/eq/b3_freq_hz"
BYP = "/mixbridge/vocal/compressor/bypass"


@pytest.fixture
def ctl(host: PluginHost, tmp_path: Path) -> Controller:
    return Controller({"vocal": host.chain("vocal")}, presets_dir=tmp_path / "presets")


@pytest.fixture
def midi(ctl: Controller, tmp_path: Path) -> MidiBridge:
    path = tmp_path / "midi.toml"
    path.write_text(f"""
[[cc]]
channel = 2
cc = 7
address = "{THR}"

[[cc14]]
msb = 1
address = "{FREQ}"

[[note]]
note = 36
address = "{BYP}"

[[program]]
program = 3
preset = "verse"
""")
    return MidiBridge(ctl, path)


def test_cc_7bit_maps_over_the_param_scale(ctl: Controller, midi: MidiBridge) -> None:
    p = ctl.resolve(THR).param
    midi.feed([0xB1, 7, 127])  # channel 2
    assert ctl.get(THR) == p.max
    midi.feed([0xB1, 7, 64])
    assert ctl.get(THR) == pytest.approx(p.from_norm(64 / 127))
    midi.feed([0xB0, 7, 0])  # channel 1: not mapped
    assert ctl.get(THR) == pytest.approx(p.from_norm(64 / 127))


def test_cc_14bit_pair_resolves_16383_steps(ctl: Controller, midi: MidiBridge) -> None:
    p = ctl.resolve(FREQ).param  # log scale: 14 bits matter
    midi.feed([0xB0, 1, 0x40])
    midi.feed([0xB0, 33, 0x01])
    assert ctl.get(FREQ) == pytest.approx(p.from_norm(((0x40 << 7) | 1) / 16383))
    assert ctl.get(FREQ) != pytest.approx(p.from_norm(0x40 / 127), rel=1e-6)


def test_note_toggles_bypass_and_program_loads_preset(ctl: Controller, midi: MidiBridge) -> None:
    midi.feed([0x90, 36, 100])
    assert ctl.get(BYP) == 1.0
    midi.feed([0x80, 36, 0])  # note off: no toggle
    midi.feed([0x90, 36, 0])  # note on with velocity 0 is a note off
    assert ctl.get(BYP) == 1.0
    midi.feed([0x90, 36, 1])
    assert ctl.get(BYP) == 0.0
    ctl.set(THR, -33.0)
    ctl.save_preset("verse")
    ctl.set(THR, -5.0)
    midi.feed([0xC0, 3])
    assert ctl.get(THR) == -33.0
    midi.feed([0xF8])  # clock: ignored
    midi.feed([0xC0, 4])  # unmapped program
    assert midi.errors == []


def test_learn_binds_next_cc_and_saves(ctl: Controller, midi: MidiBridge) -> None:
    mix = "/mixbridge/vocal/limiter/mix"
    midi.arm(mix)
    midi.feed([0xB3, 20, 99])  # the learning CC itself changes nothing
    assert ctl.get(mix) == 1.0
    midi.feed([0xB3, 20, 0])
    assert ctl.get(mix) == 0.0
    again = load_mappings(midi.mapping_path)
    assert [(m.kind, m.channel, m.number, m.address) for m in again if m.address == mix] == [("cc", 3, 20, mix)]
    assert len(again) == 5


def test_feedback_messages_for_faders(ctl: Controller, midi: MidiBridge) -> None:
    p = ctl.resolve(FREQ).param
    msgs = midi.feedback_messages([(FREQ, p.from_norm(0.5)), (THR, ctl.resolve(THR).param.max)])
    v = round(0.5 * 16383)
    assert msgs == [[0xB0, 1, v >> 7], [0xB0, 33, v & 0x7F], [0xB1, 7, 127]]


def test_bad_mapping_file_is_named(tmp_path: Path, ctl: Controller) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[cc]]\ncc = 200\naddress = 'x'\n")
    with pytest.raises(BridgeError, match=r"\[\[cc\]\] #1: cc must be an integer 0-127"):
        MidiBridge(ctl, bad)


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
def test_without_midi_subsystem_it_says_so(midi: MidiBridge) -> None:
    with pytest.raises(BridgeError, match="no MIDI subsystem: /dev/snd/seq is missing"):
        midi.open()


def test_osc_arms_midi_learn(ctl: Controller, midi: MidiBridge) -> None:
    from bridge.osc import OSCServer
    from tests.bridge.test_osc import Client

    with OSCServer(ctl, port=0) as srv:
        c = Client(srv.port)
        assert c.ask("/mixbridge/midi/learn", THR) == ("/mixbridge/ok", ["/mixbridge/midi/learn", THR])
    midi.feed([0xB0, 21, 5])
    midi.feed([0xB0, 21, 127])
    assert ctl.get(THR) == ctl.resolve(THR).param.max
