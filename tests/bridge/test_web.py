"""The web surface in a real headless browser (Debian's chromium and chromedriver, driven by selenium).

Screenshots go to each test's tmp_path and, when MIXBRIDGE_ARTIFACTS is set, to
``$MIXBRIDGE_ARTIFACTS/web/``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from bridge.control import Controller
from bridge.midi import MidiBridge
from bridge.osc import OSCServer, build_message
from bridge.web import MAX_CLIENTS, MAX_MESSAGE_BYTES, WebServer, serve_web
from core.chain import Chain
from core.host import PluginHost
from rt.engine import Engine

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver)")
COMP = "/mixbridge/vocal/compressor"
EQ = "/mixbridge/vocal/eq"
SR, BLOCK = 48000, 128

Browser = Callable[[], Any]


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Opens headless chromium sessions; all are closed after the test."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the test extra)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []

    def open_one() -> Any:
        opts = Options()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1300"):
            opts.add_argument(arg)
        d = webdriver.Chrome(service=Service(DRIVER), options=opts)
        drivers.append(d)
        return d

    yield open_one
    for d in drivers:
        d.quit()


def screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("MIXBRIDGE_ARTIFACTS"):
        keep = Path(os.environ["MIXBRIDGE_ARTIFACTS"]) / "web"
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep / path.name)
    return path


def wait(driver: Any, condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda _: condition())


def open_page(browser: Browser, web: WebServer) -> Any:
    d = browser()
    d.get(web.url)
    wait(d, lambda: d.find_element("id", "connection").text == "connected")
    return d


def control(d: Any, address: str, kind: str = "input[type=range]") -> Any:
    return d.find_element("css selector", f'{kind}[data-address="{address}"]')


def position(ctl: Controller, address: str) -> int:
    """Where the page's fader (0..1000) must sit for the control's current value."""
    return round(1000 * ctl.resolve(address).param.to_norm(ctl.get(address)))


@needs_browser
@pytest.mark.slow
def test_page_from_the_declarations_fader_applies_in_the_engine_and_meters(
        host: PluginHost, browser: Browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    chain = Chain([host.create("compressor")], name="vocal")  # one kernel: the callback compiles quicker
    engine = Engine(chain, SR, BLOCK, 2)
    fused = engine.build()
    ctl = Controller({"vocal": chain}, sink=engine, presets_dir=tmp_path / "presets")
    ctl.set(f"{COMP}/threshold_db", -30.0)
    ctl.set(f"{COMP}/ratio", 8.0)
    t = np.arange(SR // 2) / SR
    x = np.repeat(0.5 * np.sin(2 * np.pi * 440 * t)[:, None], 2, 1).astype(np.float32)  # -6 dBFS, into the compressor
    y = np.zeros_like(x)
    for i in range(0, len(x), BLOCK):
        fused.call(x[i : i + BLOCK], y[i : i + BLOCK])
    rated: list[dict[str, Any]] = []
    ctl.on_rate = rated.append
    web = serve_web(ctl, port=0, stats=engine.stats)
    try:
        d = open_page(browser, web)
        # one control per declared value: faders for numbers, dropdowns for choices, a bypass toggle per slot
        kinds = {"range": 0, "select": 0, "checkbox": 0}
        for t_ in ctl.targets():
            kinds["checkbox" if t_.param.name == "bypass" else "select" if t_.param.choices else "range"] += 1
        assert len(d.find_elements("css selector", "input[type=range][data-address]")) == kinds["range"]
        assert len(d.find_elements("css selector", "select[data-address]")) == kinds["select"]
        assert len(d.find_elements("css selector", "input[type=checkbox][data-address]")) == kinds["checkbox"]
        thr = control(d, f"{COMP}/threshold_db")
        row = thr.find_element("xpath", "..")
        assert row.find_element("css selector", ".unit").text == "dB"
        assert row.find_element("css selector", "label").text == "threshold_db"
        assert row.find_element("css selector", "input[type=number]").get_attribute("value") == "-30.00"
        assert control(d, f"{COMP}/detector", "select").get_attribute("value") == "0"  # "peak"
        # meters: what the engine measured (a -6 dBFS sine in, the compressor reducing it)
        gr = chain["compressor"].processor.gain_reduction_db
        stats = engine.stats()
        assert gr > 5.0
        wait(d, lambda: d.find_element("id", "in-db").text == f"{stats['input_peak_db']:.1f} dB")
        assert stats["input_peak_db"] == pytest.approx(-6.02, abs=0.05)
        assert d.find_element("id", "out-db").text == f"{stats['output_peak_db']:.1f} dB"
        assert d.find_element("id", "xruns").text == "0"
        card = d.find_element("css selector", '[data-slot="vocal/compressor"]')
        assert card.find_element("css selector", ".gr").text == f"GR {gr:.1f} dB"
        screenshot(d, tmp_path, "web-engine")
        # moving a fader: the keyboard's End and a mouse drag, each reaching the chain's own targets
        thr.click()
        thr.send_keys(Keys.END)
        wait(d, lambda: chain["compressor"].processor.get("threshold_db") == 0.0)
        attack = control(d, f"{COMP}/attack_ms")
        before = chain["compressor"].processor.get("attack_ms")
        ActionChains(d).drag_and_drop_by_offset(attack, -attack.size["width"] // 4, 0).perform()
        wait(d, lambda: chain["compressor"].processor.get("attack_ms") != before)
        p = ctl.resolve(f"{COMP}/attack_ms").param
        moved = int(attack.get_attribute("value"))
        assert chain["compressor"].processor.get("attack_ms") == pytest.approx(p.from_norm(moved / 1000), rel=1e-9)
        assert moved < 1000 * p.to_norm(before)
        # the bypass toggle and the rating buttons
        control(d, f"{COMP}/bypass", "input[type=checkbox]").click()
        wait(d, lambda: chain["compressor"].bypass)
        d.find_element("css selector", '[data-rate="4"]').click()
        wait(d, lambda: d.find_element("id", "message").text == "rated 4/5: stored")
        assert rated[0]["overall"] == 4.0 and rated[0]["config"] == {}  # the only slot is bypassed: nothing heard
        screenshot(d, tmp_path, "web-after-moves")
    finally:
        web.stop()


@needs_browser
@pytest.mark.slow
def test_osc_over_udp_moves_the_fader_and_meters_are_na_without_audio(
        host: PluginHost, browser: Browser, tmp_path: Path) -> None:
    ctl = Controller({"vocal": host.chain("vocal")}, presets_dir=tmp_path)
    web = serve_web(ctl, port=0)
    osc = OSCServer(ctl, port=0).start()
    try:
        d = open_page(browser, web)
        wait(d, lambda: d.find_element("css selector", '[data-slot="vocal/compressor"] .gr').text == "GR n/a")
        assert [d.find_element("id", i).text for i in ("in-db", "out-db", "load", "xruns")] == ["n/a"] * 4
        address = f"{COMP}/threshold_db"
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.sendto(build_message(address, [-42.5]), (osc.host, osc.port))
        wait(d, lambda: control(d, address).get_attribute("value") == str(position(ctl, address)))
        assert ctl.get(address) == -42.5 and position(ctl, address) == 292
        box = control(d, address).find_element("xpath", "..").find_element("css selector", "input[type=number]")
        assert box.get_attribute("value") == "-42.50"
        sock.sendto(build_message(f"{EQ}/b3_freq_hz/norm", [0.25]), (osc.host, osc.port))  # log: 20 Hz * 1000^0.25
        wait(d, lambda: control(d, f"{EQ}/b3_freq_hz").get_attribute("value") == "250")
        assert ctl.get(f"{EQ}/b3_freq_hz") == pytest.approx(20 * 1000**0.25)
        # a log fader sits where the log mapping puts it: 1 kHz on 20 Hz..20 kHz is at 0.566, not 0.049
        ctl.set(f"{EQ}/b2_freq_hz", 1000.0, source="midi")
        wait(d, lambda: control(d, f"{EQ}/b2_freq_hz").get_attribute("value") == "566")
        assert control(d, f"{EQ}/b2_freq_hz").get_attribute("data-scale") == "log"
        assert control(d, f"{EQ}/b2_type", "select").get_attribute("value") == "1"  # "peak"
        ends = control(d, f"{EQ}/b2_freq_hz").find_element("xpath", "..").find_element("css selector", ".ends")
        assert ends.text.split() == ["20", "Hz", "log", "20000", "Hz"]
        sock.close()
        screenshot(d, tmp_path, "web-osc")
    finally:
        osc.stop()
        web.stop()


@needs_browser
@pytest.mark.slow
def test_two_pages_stay_in_sync_with_each_other_midi_and_presets(
        host: PluginHost, browser: Browser, tmp_path: Path) -> None:
    ctl = Controller({"vocal": host.chain("vocal")}, presets_dir=tmp_path / "presets")
    web = serve_web(ctl, port=0)
    try:
        a, b = open_page(browser, web), open_page(browser, web)
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.support.ui import Select

        Select(control(a, f"{EQ}/b2_type", "select")).select_by_visible_text("low_shelf")
        wait(b, lambda: control(b, f"{EQ}/b2_type", "select").get_attribute("value") == "2")
        assert ctl.get(f"{EQ}/b2_type") == 2.0
        gain = f"{EQ}/b3_gain_db"
        fader = control(b, gain)  # a click a quarter of the way in: about -12 dB on -24..24
        ActionChains(b).move_to_element_with_offset(fader, -fader.size["width"] // 4, 0).click().perform()
        wait(b, lambda: ctl.get(gain) < -6.0)
        moved = fader.get_attribute("value")
        assert ctl.get(gain) == pytest.approx(-24 + 48 * int(moved) / 1000, abs=1e-9)
        wait(a, lambda: control(a, gain).get_attribute("value") == moved)
        (tmp_path / "midi.toml").write_text(f'[[cc]]\nchannel = 1\ncc = 7\naddress = "{gain}"\n')
        MidiBridge(ctl, tmp_path / "midi.toml").feed([0xB0, 7, 32])  # as the port callback delivers a CC
        saved = ctl.get(gain)
        assert saved == pytest.approx(-24 + 48 * 32 / 127)
        for d in (a, b):
            wait(d, lambda d=d: control(d, gain).get_attribute("value") == str(round(1000 * 32 / 127)))
        a.find_element("id", "preset-name").send_keys("warm")
        a.find_element("id", "preset-save").click()
        wait(b, lambda: [o.text for o in b.find_elements("css selector", "#preset-list option")] == ["warm"])
        ctl.set(gain, 9.0, source="osc")
        wait(a, lambda: control(a, gain).get_attribute("value") == str(position(ctl, gain)))
        b.find_element("id", "preset-load").click()
        wait(a, lambda: control(a, gain).get_attribute("value") == str(round(1000 * 32 / 127)))
        assert ctl.get(gain) == saved
        screenshot(a, tmp_path, "web-sync-a")
        screenshot(b, tmp_path, "web-sync-b")
    finally:
        web.stop()


def next_reply(ws: Any, op: str) -> dict[str, Any]:
    """The next message of kind ``op``, past the meters and preset lists the server sends unasked."""
    while (msg := json.loads(ws.recv(timeout=2)))["op"] != op:
        assert msg["op"] in ("meters", "presets"), msg
    return msg


def test_bad_websocket_messages_are_refused_and_the_server_goes_on(host: PluginHost, tmp_path: Path) -> None:
    ctl = Controller({"vocal": host.chain("vocal")}, presets_dir=tmp_path)
    rated: list[dict[str, Any]] = []
    ctl.on_rate = rated.append
    web = serve_web(ctl, port=0)
    url = f"ws://127.0.0.1:{web.port}/ws"
    before = ctl.snapshot()
    try:
        with connect(url) as ws:
            first = json.loads(ws.recv(timeout=2))
            assert first["op"] == "values" and first["values"][f"{COMP}/threshold_db"] == -20.0
            bad: list[tuple[str | bytes, str]] = [
                ("not json", "not JSON"),
                (b"\x00\x01", "binary frames are not taken"),
                ("[1, 2]", 'expected a JSON object with an "op" string'),
                ('{"op": "explode"}', "unknown op 'explode'"),
                ('{"op": "set", "address": "/mixbridge/vocal/compressor/threshold_db"}', "set: expected fields"),
                ('{"op": "set", "address": "/mixbridge/vocal/compressor/threshold_db", "value": "-3"}',
                 "value must be int or float"),
                ('{"op": "set", "address": "/mixbridge/vocal/compressor/threshold_db", "value": true}',
                 "value must be int or float"),
                ('{"op": "set", "address": "/mixbridge/vocal/compressor/threshold_db", "value": 12}',
                 "threshold_db: 12 is outside [-60, 0] dB"),
                ('{"op": "set", "address": "/mixbridge/vocal/compressor/threshold_db", "value": 1e999}',
                 "must be finite"),
                ('{"op": "set", "address": "/mixbridge/nope/x/y", "value": 1}', "no chain 'nope'"),
                ('{"op": "set", "address": "/mixbridge/vocal/compressor/bypass", "value": 0.5}', "bypass is 0 or 1"),
                ('{"op": "preset_load", "name": "../../etc/passwd"}', "use letters, digits"),
                ('{"op": "preset_load", "name": "missing"}', "no preset 'missing'"),
                ('{"op": "rate", "overall": 7}', "overall must be a number from 1 to 5"),
                ('{"op": "presets", "extra": 1}', "presets: expected fields nothing else, got extra"),
            ]
            for frame, reason in bad:
                ws.send(frame)
                reply = next_reply(ws, "error")
                assert reason in reply["error"], (frame, reply)
            assert ctl.snapshot() == before and rated == []
            ws.send('{"op": "set", "address": "/mixbridge/vocal/compressor/threshold_db", "value": -12}')
            reply = next_reply(ws, "values")
            assert reply["values"] == {f"{COMP}/threshold_db": -12.0}
            ws.send("x" * (MAX_MESSAGE_BYTES + 1))  # too big: that connection closes with 1009
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=2)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        # bounded clients: the next one past MAX_CLIENTS is turned away, the others keep working
        with ExitStack() as stack:
            conns = [stack.enter_context(connect(url)) for _ in range(MAX_CLIENTS)]
            with connect(url) as extra, pytest.raises(ConnectionClosed) as closed:
                extra.recv(timeout=2)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            assert json.loads(conns[-1].recv(timeout=2))["op"] == "values"
        # a page from another origin cannot open the websocket; plain HTTP: the page, the tree, 404s
        with pytest.raises(Exception, match="403"):
            connect(url, origin="http://evil.example")  # type: ignore[arg-type]
        base = f"http://127.0.0.1:{web.port}"
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "app.js" in page.text and "default-src 'self'" in page.headers[
            "content-security-policy"]
        assert httpx.get(base + "/tree").json()["CONTENTS"]["mixbridge"]["CONTENTS"]["vocal"]["FULL_PATH"] == \
            "/mixbridge/vocal"
        assert httpx.get(base + "/../pyproject.toml").status_code == 404
        assert httpx.get(base + "/web.py").status_code == 404
    finally:
        web.stop()
    assert ctl.listeners == []


def test_a_taken_port_is_a_clear_error(host: PluginHost, tmp_path: Path) -> None:
    ctl = Controller({"trim": host.chain("trim")}, presets_dir=tmp_path)
    first = serve_web(ctl, port=0)
    try:
        with pytest.raises(Exception, match=f"cannot serve the web surface on 127.0.0.1:{first.port}"):
            serve_web(ctl, port=first.port)
    finally:
        first.stop()


def test_osc_command_web_flag_serves_the_page(host: PluginHost, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from app.control_cli import mixbridge_commands, serve_osc

    parser = argparse.ArgumentParser()
    sub, bench = parser.add_subparsers(), argparse.ArgumentParser().add_subparsers()
    mixbridge_commands(sub, bench)
    args = parser.parse_args(["osc", "--chain", "vocal", "--port", "0", "--web", "0"])
    ctl = Controller({"vocal": host.chain("vocal")}, presets_dir=tmp_path)
    stop = serve_osc(ctl, args)
    try:
        url = next(w for w in capsys.readouterr().out.split() if w.startswith("http://"))
        assert httpx.get(url).status_code == 200
        assert httpx.get(url + "tree").json()["CONTENTS"]["mixbridge"]["CONTENTS"]["vocal"]["ACCESS"] == 0
    finally:
        stop()
    assert ctl.listeners == []
