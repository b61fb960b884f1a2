"""OSC over real UDP: liblo's oscsend/oscdump as outside peers, python-osc for the rest."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pythonosc.osc_packet import OscPacket

from bridge.control import Controller
from bridge.osc import OSCServer, build_bundle, build_message
from core.chain import Chain, Slot
from core.host import PluginHost
from rt.fuse import FusedChain

GAIN = "/mixbridge/trim/gain/gain_db"


class Client:
    """A python-osc message builder on a bound UDP socket, so replies come back to it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2.0)
        self.server = ("127.0.0.1", port)

    def send(self, address: str, *args: Any) -> None:
        self.sock.sendto(build_message(address, args), self.server)

    def raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def recv(self) -> list[tuple[str, list[Any]]]:
        data, _ = self.sock.recvfrom(65536)
        return [(m.message.address, list(m.message.params)) for m in OscPacket(data).messages]

    def ask_raw(self, data: bytes) -> tuple[str, list[Any]]:
        self.raw(data)
        return self.recv()[0]

    def ask(self, address: str, *args: Any) -> tuple[str, list[Any]]:
        self.send(address, *args)
        return self.recv()[0]


@pytest.fixture
def ctl(host: PluginHost, tmp_path: Path) -> Controller:
    return Controller({"trim": host.chain("trim"), "vocal": host.chain("vocal")}, presets_dir=tmp_path / "presets")


@pytest.fixture
def server(ctl: Controller) -> Iterator[OSCServer]:
    with OSCServer(ctl, port=0) as srv:
        yield srv


@pytest.fixture
def client(server: OSCServer) -> Client:
    return Client(server.port)


def wait_handled(server: OSCServer, n: int, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while server.handled < n and time.monotonic() < end:
        time.sleep(0.001)
    assert server.handled >= n


@pytest.mark.skipif(not shutil.which("oscsend") or not shutil.which("oscdump"), reason="liblo-tools not installed")
def test_liblo_oscsend_sets_and_oscdump_gets_feedback(ctl: Controller, server: OSCServer, client: Client) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    dump_port = probe.getsockname()[1]
    probe.close()
    dump = subprocess.Popen(["stdbuf", "-oL", "oscdump", str(dump_port)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.2)
        assert client.ask("/mixbridge/subscribe", "127.0.0.1", dump_port) == ("/mixbridge/ok", ["/mixbridge/subscribe"])
        subprocess.run(["oscsend", "localhost", str(server.port), GAIN, "f", "6.5"], check=True, timeout=5)
        wait_handled(server, 2)
        assert ctl.chains["trim"][0].processor.get("gain_db") == 6.5
        line = dump.stdout.readline()  # type: ignore[union-attr]
        assert GAIN in line and "6.5" in line, line
    finally:
        dump.terminate()
        dump.wait()


def test_list_get_ping_stats(ctl: Controller, client: Client) -> None:
    client.send("/mixbridge/list")
    rows = []
    while True:
        (addr, args), = client.recv()
        if addr == "/mixbridge/list/end":
            assert args == [len(rows)]
            break
        rows.append(args)
    by_addr = {r[0]: r for r in rows}
    assert len(rows) == len(ctl.targets()) == 3 + 2 + sum(len(s.processor.params) + 2 for s in ctl.chains["vocal"])
    assert by_addr[GAIN][1:] == [-60.0, 24.0, 0.0, "dB", 0.0]
    assert client.ask("/mixbridge/get", "/mixbridge/vocal/1/threshold_db") == (
        "/mixbridge/vocal/1/threshold_db", [-20.0])
    assert client.ask("/mixbridge/ping", 7) == ("/mixbridge/pong", [7])
    addr, (load, xruns, latency_ms) = client.ask("/mixbridge/stats")
    assert (addr, load, xruns) == ("/mixbridge/stats", 0.0, 0)


def test_set_by_index_label_norm_bypass_mix(ctl: Controller, server: OSCServer, client: Client) -> None:
    comp = ctl.chains["vocal"][1]
    client.send("/mixbridge/vocal/1/threshold_db", -30.0)
    client.send("/mixbridge/vocal/compressor/ratio/norm", 0.5)
    client.send("/mixbridge/vocal/compressor/bypass", 1)
    client.send("/mixbridge/vocal/2/mix", 0.25)
    wait_handled(server, 4)
    p = comp.processor.param("ratio")
    assert comp.processor.get("threshold_db") == -30.0
    assert comp.processor.get("ratio") == pytest.approx(p.from_norm(0.5))
    assert comp.bypass and ctl.chains["vocal"][2].mix == 0.25


@pytest.mark.parametrize(
    ("address", "args", "reason"),
    [
        ("/mixbridge/trim/gain/nope", [1.0], "unknown parameter 'nope'"),
        ("/mixbridge/nochain/gain/gain_db", [1.0], "no chain 'nochain'"),
        ("/mixbridge/trim/7/gain_db", [1.0], "no slot 7"),
        ("/mixbridge/whatever", [], "unknown address"),
        (GAIN, [], "expected 1 argument, got 0"),
        (GAIN, [1.0, 2.0], "expected 1 argument, got 2"),
        (GAIN, ["loud"], "expected a number"),
        (GAIN, [30.0], "outside [-60, 24] dB"),
        (GAIN, [float("nan")], "must be finite"),
        (GAIN, [float("inf")], "must be finite"),
        (GAIN + "/norm", [1.5], "outside [0, 1]"),
        ("/mixbridge/trim/gain/bypass", [2], "bypass is 0 or 1"),
        ("/mixbridge/get", [], "expected 1 argument"),
        ("/mixbridge/get", ["/mixbridge/trim/gain/x"], "unknown parameter"),
        ("/mixbridge/subscribe", ["host"], "host (string) and port"),
        ("/mixbridge/preset/load", ["missing"], "no preset 'missing'"),
        ("/mixbridge/preset/save", ["../evil"], "use letters, digits"),
        ("/mixbridge/rate", [6], "overall must be a number from 1 to 5"),
        ("/mixbridge/rate", [], "expected 1 to 6 ratings"),
        ("/mixbridge/midi/learn", [GAIN], "no MIDI bridge is running"),
    ],
)
def test_every_error_gets_an_error_reply_and_changes_nothing(
    ctl: Controller, client: Client, address: str, args: list[Any], reason: str
) -> None:
    before = ctl.snapshot()
    addr, (where, why) = client.ask(address, *args)
    assert addr == "/mixbridge/error" and where == address
    assert reason in why, why
    assert ctl.snapshot() == before


def test_malformed_packet_gets_error(client: Client) -> None:
    client.raw(b"/mixbridge/trim\x00\x00\x00\x00,f\x00\x00")  # type tag says float, no float follows
    addr, (where, why) = client.recv()[0]
    assert addr == "/mixbridge/error" and "malformed" in why


@pytest.mark.parametrize("damage", ["cut 1", "cut 2", "cut 3", "cut 4", "junk after", "bundle element cut",
                                    "bundle size lies", "bad tag"])
def test_damaged_packets_change_nothing(ctl: Controller, client: Client, damage: str) -> None:
    """python-osc alone reads a float cut by 4 bytes as 0.0 and ignores trailing bytes;
    every damaged packet must be refused whole."""
    good = build_message(GAIN, [-7.0])
    other = build_message("/mixbridge/vocal/compressor/ratio", [5.0])
    packet = {
        "cut 1": good[:-1], "cut 2": good[:-2], "cut 3": good[:-3], "cut 4": good[:-4],
        "junk after": good + b"junk",
        "bundle element cut": build_bundle([other, good])[:-4],
        "bundle size lies": build_bundle([other])[:16] + struct.pack(">i", 64) + other,
        "bad tag": good.replace(b",f\x00\x00", b",q\x00\x00"),
    }[damage]
    client.send(GAIN, -3.0)  # so that a damaged -7.0 read as 0.0 would show
    assert client.ask("/mixbridge/get", GAIN) == (GAIN, [-3.0])
    before = ctl.snapshot()
    addr, (where, why) = client.ask_raw(packet)
    assert addr == "/mixbridge/error" and "malformed" in why, why
    assert ctl.snapshot() == before


def test_presets_roundtrip_and_rate(ctl: Controller, client: Client, tmp_path: Path) -> None:
    client.send(GAIN, -6.0)
    assert client.ask("/mixbridge/preset/save", "quiet") == ("/mixbridge/ok", ["/mixbridge/preset/save", "quiet"])
    client.send(GAIN, 3.0)
    client.send("/mixbridge/vocal/eq/bypass", 1)
    client.ask("/mixbridge/ping")  # ordered after the sets on one socket and one server thread
    assert client.ask("/mixbridge/preset/list") == ("/mixbridge/preset/list", ["quiet"])
    client.ask("/mixbridge/preset/load", "quiet")
    assert ctl.get(GAIN) == -6.0 and not ctl.chains["vocal"][0].bypass
    got: list[dict[str, Any]] = []
    ctl.on_rate = got.append
    assert client.ask("/mixbridge/rate", 4, 5.0, 3) == ("/mixbridge/ok", ["/mixbridge/rate"])
    assert {k: got[0][k] for k in ("overall", "vocals_clarity", "music_balance")} == {
        "overall": 4.0, "vocals_clarity": 5.0, "music_balance": 3.0}
    assert got[0]["config"]["trim/gain/gain_db"] == -6.0


def test_feedback_is_deduplicated_rate_limited_bundled(ctl: Controller, server: OSCServer, client: Client) -> None:
    sub = Client(server.port)
    assert sub.ask("/mixbridge/subscribe") == ("/mixbridge/ok", ["/mixbridge/subscribe"])
    for v in np.linspace(-10.0, 0.0, 200):  # a fader sweep: 200 values inside a few intervals
        ctl.set(GAIN, float(v), source="test")
    ctl.set("/mixbridge/trim/gain/pan", 0.5, source="midi")  # any source reaches subscribers
    values: dict[str, list[float]] = {}
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        sub.sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            data, _ = sub.sock.recvfrom(65536)
        except TimeoutError:
            break
        assert data.startswith(b"#bundle\x00")
        for m in OscPacket(data).messages:
            values.setdefault(m.message.address, []).append(m.message.params[0])
    assert values[GAIN][-1] == 0.0 and len(values[GAIN]) < 20  # at most one per 20 ms interval
    assert values["/mixbridge/trim/gain/pan"] == [0.5]
    ctl.set(GAIN, 0.0)  # unchanged value: nothing sent
    server.flush()
    sub.sock.settimeout(0.1)
    with pytest.raises(TimeoutError):
        sub.sock.recvfrom(65536)


def two_gains(host: PluginHost) -> tuple[Chain, FusedChain]:
    chain = Chain([Slot(host.create("gain"), "a"), Slot(host.create("gain"), "b")], name="ab")
    chain.prepare(48000, 64, 2)
    return chain, FusedChain(chain, 2, 2)


def test_bundle_applies_atomically_in_the_next_block(host: PluginHost, tmp_path: Path) -> None:
    chain, fused = two_gains(host)
    ctl = Controller({"ab": chain}, sink=fused.post, presets_dir=tmp_path)
    with OSCServer(ctl, port=0) as srv:
        c = Client(srv.port)
        c.raw(build_bundle([build_message("/mixbridge/ab/a/gain_db", [-6.0]),
                            build_message("/mixbridge/ab/b/gain_db", [30.0])]))  # b out of range
        addr, (where, why) = c.recv()[0]
        assert (addr, where) == ("/mixbridge/error", "/mixbridge/ab/b/gain_db") and "outside" in why
        assert fused.qctl[0] == 0  # nothing queued from a bundle with an error
        c.raw(build_bundle([build_message("/mixbridge/ab/a/gain_db", [-6.0]),
                            build_message("/mixbridge/ab/b/gain_db", [-12.0])]))
        wait_handled(srv, 2)
    assert fused.qctl[0] == 2
    assert chain[0].processor.targets[0] == 0.0 and chain[1].processor.targets[0] == 0.0  # not before a block
    x = np.ones((64, 2), np.float32)
    y = np.zeros_like(x)
    fused.call(x, y)
    assert chain[0].processor.targets[0] == -6.0 and chain[1].processor.targets[0] == -12.0  # same block


def fuzz_packets(rng: np.random.Generator, n: int) -> Iterator[bytes]:
    valid = build_message(GAIN, [-3.0])
    for i in range(n):
        k = i % 5
        if k == 0:
            yield rng.bytes(int(rng.integers(0, 200)))
        elif k == 1:
            yield valid[: int(rng.integers(0, len(valid) - 4))]  # truncated (the value never complete)
        elif k == 2:
            yield b"#bundle\x00" + rng.bytes(int(rng.integers(0, 64)))
        elif k == 3:
            yield b"/mixbridge/" + rng.bytes(int(rng.integers(0, 40)))
        else:
            bad = [float("nan"), 1e9, "x", b"blob"][i % 4]
            yield build_message(GAIN, [bad]) if not isinstance(bad, bytes) else (
                GAIN.encode() + b"\x00" * (4 - len(GAIN) % 4) + b",b\x00\x00" + struct.pack(">i", 4) + bad)


def render(host: PluginHost, fuzz: bool) -> tuple[np.ndarray, int]:
    chain = host.chain("trim")
    chain.prepare(48000, 64, 2)
    fused = FusedChain(chain, 2, 2)
    ctl = Controller({"trim": chain}, sink=fused.post, presets_dir="/nonexistent")
    x = np.random.default_rng(1).standard_normal((48000 * 2, 2)).astype(np.float32) * 0.1
    y = np.zeros_like(x)
    with OSCServer(ctl, port=0) as srv:
        c = Client(srv.port)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)

        def audio() -> None:
            for s in range(0, len(x), 64):
                fused.call(x[s : s + 64], y[s : s + 64])

        t = threading.Thread(target=audio)
        t.start()
        sent = 0
        if fuzz:
            for p in fuzz_packets(np.random.default_rng(0), 10_000):
                c.raw(p)
                sent += 1
                if sent % 100 == 0:  # pace to the server so the kernel never drops one
                    wait_handled(srv, sent)
            wait_handled(srv, sent)
        t.join()
        assert fused.qctl[0] == 0  # no fuzz packet ever reached the audio thread
        c.sock.settimeout(0.01)
        while True:  # drain the error replies, then a valid message still works
            try:
                c.sock.recvfrom(65536)
            except TimeoutError:
                break
        c.sock.settimeout(2.0)
        assert c.ask("/mixbridge/ping") == ("/mixbridge/pong", [])
        c.send(GAIN, -3.0)
        c.ask("/mixbridge/ping")
        assert fused.qctl[0] == 1
        return y, srv.handled


def test_fuzz_10000_packets_while_audio_runs(host: PluginHost) -> None:
    clean, _ = render(host, fuzz=False)
    fuzzed, handled = render(host, fuzz=True)
    assert handled == 10_000 + 3
    np.testing.assert_array_equal(fuzzed, clean)


def test_mixbridge_osc_command_serves(tmp_path: Path) -> None:
    import sys

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "osc", "--chain", "trim", "--port", str(port),
                             "--presets", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert "OSC on udp://127.0.0.1:" in proc.stdout.readline()  # type: ignore[union-attr]
        subprocess.run(["oscsend", "localhost", str(port), GAIN, "f", "-7"], check=True, timeout=5)
        c = Client(port)
        assert c.ask("/mixbridge/get", GAIN) == (GAIN, [-7.0])
    finally:
        proc.terminate()
        proc.wait(5)


def test_binds_loopback_and_allow_list_drops_strangers(ctl: Controller) -> None:
    with OSCServer(ctl, port=0, allow=["10.0.0.0/8"]) as srv:
        assert srv.host == "127.0.0.1"
        c = Client(srv.port)
        c.send(GAIN, -9.0)
        c.send("/mixbridge/ping")
        wait_handled(srv, 2)
        c.sock.settimeout(0.1)
        with pytest.raises(TimeoutError):
            c.recv()
        assert ctl.get(GAIN) == 0.0
    with OSCServer(ctl, port=0, allow=["127.0.0.1"]) as srv:
        c = Client(srv.port)
        c.send(GAIN, -9.0)
        assert c.ask("/mixbridge/ping") == ("/mixbridge/pong", [])
        assert ctl.get(GAIN) == -9.0


def test_unsubscribe_stops_feedback(ctl: Controller, server: OSCServer, client: Client) -> None:
    client.ask("/mixbridge/subscribe")
    ctl.set(GAIN, -1.0)
    server.flush()
    (addr, args), = client.recv()
    assert (addr, args) == (GAIN, [-1.0])
    assert client.ask("/mixbridge/unsubscribe") == ("/mixbridge/ok", ["/mixbridge/unsubscribe"])
    ctl.set(GAIN, -2.0)
    server.flush()
    client.sock.settimeout(0.1)
    with pytest.raises(TimeoutError):
        client.recv()


@pytest.fixture
def rated(host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, str]]:
    """An OSC server whose /mixbridge/rate goes to a memory service on a fresh SQLite file."""
    from app.control_cli import rating_store

    url = f"sqlite:///{tmp_path / 'memory.db'}"
    monkeypatch.setenv("MIXBRIDGE_DATABASE_URL", url)
    from memory import recorder

    recorder.service()  # opened (migrations run) before the first rating, whose reply waits at most 2 s
    ctl = Controller({"vocal": host.chain("vocal")}, presets_dir=tmp_path / "presets")
    ctl.on_rate = rating_store(host, ctl, "pop")
    with OSCServer(ctl, port=0) as srv:
        yield Client(srv.port), url


def test_rate_stores_the_live_configuration_in_memory(rated: tuple[Client, str]) -> None:
    from memory.service import MemoryService

    c, url = rated
    c.send("/mixbridge/vocal/compressor/ratio", 5.0)
    c.send("/mixbridge/vocal/eq/bypass", 1)
    assert c.ask("/mixbridge/rate", 4.4, 5, 2.0) == ("/mixbridge/ok", ["/mixbridge/rate"])
    mem = MemoryService(url)
    stats = mem.stats()
    assert stats["counts"]["mixing_feedback"] == 1
    assert stats["mean_overall_rating"] == 4.0  # surfaces send floats; memory keeps whole stars
    (config,) = [c for c in mem.list_configs(genre="pop") if c["config_type"] == "manual"]  # + the learned one
    assert config["config"]["vocal/compressor/ratio"] == 5.0  # Settings: the OSC address of what was heard
    assert not any(k.startswith("vocal/eq/") for k in config["config"])  # a bypassed slot is not what was heard


def test_rate_with_words_says_which_way_the_mix_is_off(rated: tuple[Client, str]) -> None:
    from sqlalchemy import select

    from memory.models import MixingFeedback
    from memory.service import MemoryService

    c, url = rated
    assert c.ask("/mixbridge/rate", 3, "narrow", "dark") == ("/mixbridge/ok", ["/mixbridge/rate"])
    address, args = c.ask("/mixbridge/rate", 3, "sideways")
    assert address == "/mixbridge/error" and "'sideways' is not a direction" in args[1]
    address, _ = c.ask("/mixbridge/rate", "wide", 3)  # words come after the stars
    assert address == "/mixbridge/error"
    with MemoryService(url).Session() as s:
        (fb,) = s.scalars(select(MixingFeedback)).all()
    assert fb.overall == 3 and fb.directions == {"stereo_width": -1, "eq_quality": -1}


def test_rate_with_memory_down_is_journaled_not_lost(rated: tuple[Client, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from core.settings import data_dir
    from memory.db import database_url
    from memory.journal import journal_path

    c, _ = rated
    url = "postgresql://nobody@127.0.0.1:9/none"
    monkeypatch.setenv("MIXBRIDGE_DATABASE_URL", url)
    assert c.ask("/mixbridge/rate", 3) == ("/mixbridge/ok", ["/mixbridge/rate"])
    entries = [json.loads(line) for line in journal_path(data_dir(), database_url()).read_text().splitlines()]
    assert [e["kind"] for e in entries] == ["render", "rating"] and entries[1]["args"]["overall"] == 3
    assert c.ask("/mixbridge/ping") == ("/mixbridge/pong", [])  # the server lives on


def test_rate_without_memory_learning_goes_to_a_file(rated: tuple[Client, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    c, _ = rated
    monkeypatch.setenv("ENABLE_MEMORY_LEARNING", "false")
    assert c.ask("/mixbridge/rate", 5, 4) == ("/mixbridge/ok", ["/mixbridge/rate"])
    (line,) = (tmp_path / "ratings.jsonl").read_text().splitlines()
    got = json.loads(line)
    assert (got["overall"], got["vocals_clarity"]) == (5.0, 4.0)
    assert got["config"]["vocal/compressor/ratio"] == 3.0


def raw_message(address: str, tags: str, payload: bytes = b"") -> bytes:
    """An OSC message built by hand, for type tags python-osc's builder cannot write."""
    def pad(s: str) -> bytes:
        return s.encode() + b"\0" * (4 - len(s.encode()) % 4)

    return pad(address) + pad("," + tags) + payload


@pytest.mark.parametrize(
    ("tags", "payload"),
    [("T", b""), ("F", b""), ("N", b""), ("I", b""), ("r", b"\x00\x00\x00\x05"), ("m", b"\x00\x90\x3c\x40"),
     ("c", b"\x00\x00\x00A"), ("If", struct.pack(">f", -7.0)), ("cf", b"\x00\x00\x00A" + struct.pack(">f", -7.0))],
)
def test_tags_that_are_not_numbers_never_set_a_parameter(ctl: Controller, client: Client, tags: str,
                                                         payload: bytes) -> None:
    """python-osc reads T as True (1.0), r as an int and skips I and c (shifting the next argument)."""
    client.send(GAIN, -3.0)
    assert client.ask("/mixbridge/get", GAIN) == (GAIN, [-3.0])
    before = ctl.snapshot()
    addr, (where, why) = client.ask_raw(raw_message(GAIN, tags, payload))
    assert (addr, where) == ("/mixbridge/error", GAIN)
    assert f"expected a number, got OSC type {tags[0]!r}" in why, why
    assert ctl.snapshot() == before
    addr, (where, why) = client.ask_raw(raw_message("/mixbridge/rate", tags, payload))
    assert addr == "/mixbridge/error" and "ratings are numbers" in why


def test_ping_echoes_every_argument_type_byte_for_byte(client: Client) -> None:
    tags = "TFNIrmcdhtsS[if]b"
    payload = (b"\x01\x02\x03\x04" + b"\x00\x90\x3c\x40" + b"\x00\x00\x00A" + struct.pack(">d", 0.1)
               + struct.pack(">q", -(2**40)) + b"\x00" * 7 + b"\x01" + b"hi\x00\x00" + b"sym\x00"
               + struct.pack(">if", 3, 0.5) + struct.pack(">i", 3) + b"abc\x00")
    client.raw(raw_message("/mixbridge/ping", tags, payload))
    data, _ = client.sock.recvfrom(65536)
    assert data == raw_message("/mixbridge/pong", tags, payload)


@pytest.mark.parametrize("name", [".", "..", "../evil", "a/b", "a.b", "x\n", "", " lead", "-x", "x" * 65, "é"])
def test_preset_names_outside_the_safe_pattern_are_refused(ctl: Controller, client: Client, tmp_path: Path,
                                                           name: str) -> None:
    for address in ("/mixbridge/preset/save", "/mixbridge/preset/load"):
        addr, (where, why) = client.ask(address, name)
        assert (addr, where) == ("/mixbridge/error", address) and "use letters, digits" in why, why
    assert not (tmp_path / "presets").exists() or not any((tmp_path / "presets").iterdir())


def test_preset_name_with_spaces_roundtrips(ctl: Controller, client: Client) -> None:
    client.send(GAIN, -4.0)
    assert client.ask("/mixbridge/preset/save", "Verse 2_b-x") == ("/mixbridge/ok", ["/mixbridge/preset/save",
                                                                                      "Verse 2_b-x"])
    client.send(GAIN, 1.0)
    client.ask("/mixbridge/preset/load", "Verse 2_b-x")
    assert ctl.get(GAIN) == -4.0


@pytest.mark.parametrize(("text", "reason"), [
    ("[1, 2]", "expected a mapping of 'chain/slot/param' to values"),
    ('"x"', "expected a mapping of 'chain/slot/param' to values"),
    ('{"trim": [1]}', "settings key 'trim': expected 'chain/slot/param'"),
    ('{"trim": {"gain": {"params": {"gain_db": 1}}}}', "settings key 'trim': expected 'chain/slot/param'"),
    ('{"trim/gain/gain_db": [1]}', "expected a finite number or a choice name"),
    ('{"trim/gain/gain_db": null}', "expected a finite number or a choice name"),
])
def test_preset_of_the_wrong_shape_answers_an_error(ctl: Controller, client: Client, tmp_path: Path,
                                                    text: str, reason: str) -> None:
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "bad.json").write_text(text)
    before = ctl.snapshot()
    addr, (where, why) = client.ask("/mixbridge/preset/load", "bad")
    assert (addr, where) == ("/mixbridge/error", "/mixbridge/preset/load") and reason in why, why
    assert ctl.snapshot() == before


def test_error_replies_do_not_echo_a_long_request(client: Client) -> None:
    address = "/mixbridge/" + "x" * 10_000
    client.send(address)
    data, _ = client.sock.recvfrom(65536)
    (where, why) = OscPacket(data).messages[0].message.params
    assert len(data) < 600 and where.startswith("/mixbridge/xxx") and len(where) <= 200


def test_subscribers_are_capped_and_a_renewal_does_not_count(server: OSCServer, client: Client) -> None:
    ports = range(40000, 40000 + server.subscribers.cap)
    for p in ports:
        assert client.ask("/mixbridge/subscribe", "127.0.0.1", p) == ("/mixbridge/ok", ["/mixbridge/subscribe"])
    addr, (where, why) = client.ask("/mixbridge/subscribe", "127.0.0.1", 50000)
    assert (addr, where) == ("/mixbridge/error", "/mixbridge/subscribe") and "list full (32)" in why
    assert client.ask("/mixbridge/subscribe", "127.0.0.1", 40000)[0] == "/mixbridge/ok"  # renewal
    assert client.ask("/mixbridge/unsubscribe", "127.0.0.1", 40001)[0] == "/mixbridge/ok"
    assert client.ask("/mixbridge/subscribe", "127.0.0.1", 50000)[0] == "/mixbridge/ok"
    assert len(server.subscribers) == 32


@pytest.mark.parametrize(("allow", "target", "reason"), [
    (None, "192.168.1.7", "listens on loopback"),
    (None, "localhost", "give an IP address"),
    (None, "255.255.255.255", "not a unicast address"),
    (None, "224.0.0.1", "not a unicast address"),
    (["127.0.0.1", "10.0.0.0/8"], "192.168.1.7", "not on the allow-list"),
])
def test_subscriber_targets_are_checked(ctl: Controller, allow: list[str] | None, target: str, reason: str) -> None:
    with OSCServer(ctl, port=0, allow=allow) as srv:
        addr, (where, why) = Client(srv.port).ask("/mixbridge/subscribe", target, 9001)
        assert (addr, where) == ("/mixbridge/error", "/mixbridge/subscribe") and reason in why, why
        assert len(srv.subscribers) == 0


def test_allow_list_lets_a_listed_remote_subscriber_in(ctl: Controller) -> None:
    with OSCServer(ctl, port=0, allow=["127.0.0.1", "10.0.0.0/8"]) as srv:
        assert Client(srv.port).ask("/mixbridge/subscribe", "10.1.2.3", 9001)[0] == "/mixbridge/ok"
        assert ("10.1.2.3", 9001) in srv.subscribers


def test_subscriptions_expire_unless_renewed(ctl: Controller, server: OSCServer, client: Client) -> None:
    now = [0.0]
    server.subscribers.clock = lambda: now[0]
    client.ask("/mixbridge/subscribe")
    now[0] = 299.0
    client.ask("/mixbridge/subscribe")  # renewed: good until 599
    now[0] = 500.0
    ctl.set(GAIN, -1.0)
    server.flush()
    assert client.recv() == [(GAIN, [-1.0])]
    now[0] = 600.0  # not renewed in time: dropped
    ctl.set(GAIN, -2.0)
    server.flush()
    client.sock.settimeout(0.1)
    with pytest.raises(TimeoutError):
        client.recv()
    assert len(server.subscribers) == 0


def test_list_is_answered_once_a_second_per_udp_source(ctl: Controller, server: OSCServer, client: Client) -> None:
    """A spoofed /list makes the server send about 100x its size to the victim: once a second at most."""
    request = build_message("/mixbridge/list")
    client.raw(request)
    replies = []
    while not replies or replies[-1][0] != "/mixbridge/list/end":
        replies += client.recv()
    sent = sum(len(build_message(a, args)) for a, args in replies)
    assert sent / len(request) > 50  # the amplification the limit is for
    client.raw(request)  # within the second: dropped, not even an error
    assert client.ask("/mixbridge/ping") == ("/mixbridge/pong", [])
    later = time.monotonic() + 1.0  # a second on
    server.list_limiter.clock = lambda: later
    client.raw(request)
    assert client.recv()[0][0] == "/mixbridge/list"


def test_list_limiter_bounds_all_sources_and_its_memory() -> None:
    from bridge.osc_limits import MAX_TRACKED, ListLimiter

    now = [100.0]
    lim = ListLimiter(clock=lambda: now[0])
    assert sum(lim.allow((f"10.0.{i // 256}.{i % 256}", 1)) for i in range(100)) == 20  # 20 a second in all
    for second in range(200):
        now[0] = 101.0 + second
        for i in range(20):
            lim.allow((f"10.{second}.0.{i}", 1))
    assert len(lim._last) <= MAX_TRACKED
    now[0] += 1.0
    assert lim.allow(("10.0.0.1", 1))  # long after its last /list
