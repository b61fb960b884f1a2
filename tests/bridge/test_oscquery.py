"""OSCQuery: the JSON tree over real HTTP, a value change over a real websocket."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pythonosc.osc_message import OscMessage
from websockets.sync.client import connect

from bridge.control import Controller
from bridge.oscquery import OSCQueryServer
from core.host import PluginHost

THR = "/mixbridge/vocal/compressor/threshold_db"


def test_tree_over_http_and_listen_over_websocket(host: PluginHost, tmp_path: Path) -> None:
    ctl = Controller({"vocal": host.chain("vocal")}, presets_dir=tmp_path)
    q = OSCQueryServer(ctl, port=0, osc_port=9123).start()
    try:
        base = f"http://127.0.0.1:{q.port}"
        root = httpx.get(base + "/").json()
        comp = root["CONTENTS"]["mixbridge"]["CONTENTS"]["vocal"]["CONTENTS"]["compressor"]
        assert comp["FULL_PATH"] == "/mixbridge/vocal/compressor"
        thr = comp["CONTENTS"]["threshold_db"]
        p = ctl.resolve(THR).param
        assert thr == {"FULL_PATH": THR, "TYPE": "f", "ACCESS": 3, "VALUE": [-20.0],
                       "RANGE": [{"MIN": p.min, "MAX": p.max}], "UNIT": ["dB"], "DESCRIPTION": p.doc, "SCALE": "lin"}
        assert (comp["CONTENTS"]["bypass"]["TYPE"], comp["CONTENTS"]["bypass"]["SCALE"]) == ("i", "toggle")
        eq = root["CONTENTS"]["mixbridge"]["CONTENTS"]["vocal"]["CONTENTS"]["eq"]["CONTENTS"]
        assert (eq["b1_freq_hz"]["SCALE"], eq["b1_type"]["SCALE"]) == ("log", "choice")
        assert eq["b1_type"]["CHOICES"] == list(ctl.resolve("/mixbridge/vocal/eq/b1_type").param.choices)
        assert eq["b1_type"]["RANGE"] == [{"VALS": list(range(len(eq["b1_type"]["CHOICES"])))}]
        leaves = [t.address for t in ctl.targets()]
        assert all(httpx.get(base + a).json()["FULL_PATH"] == a for a in leaves[:5])
        assert httpx.get(base + THR + "?VALUE").json() == {"VALUE": [-20.0]}
        info = httpx.get(base + "/?HOST_INFO").json()
        assert (info["OSC_PORT"], info["OSC_TRANSPORT"], info["EXTENSIONS"]["LISTEN"]) == (9123, "UDP", True)
        assert httpx.get(base + "/mixbridge/nope").status_code == 404
        with connect(f"ws://127.0.0.1:{q.port}/") as ws:
            ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": THR}))
            ws.send(b"not osc")  # ignored, the session goes on
            ctl.set("/mixbridge/vocal/eq/b3_gain_db", 1.0)  # not listened to
            # LISTEN has no reply (a pong only says the frame arrived, not that it was handled):
            # set again until the server has taken it
            for _ in range(40):
                ctl.set(THR, -31.5, source="midi")
                try:
                    frame = ws.recv(timeout=0.05)
                    break
                except TimeoutError:
                    continue
            else:
                pytest.fail("no feedback for a LISTENed address within 2 s")
            msg = OscMessage(frame)
            assert (msg.address, list(msg.params)) == (THR, [-31.5])
        assert httpx.get(base + THR + "?VALUE").json() == {"VALUE": [-31.5]}
    finally:
        q.stop()
