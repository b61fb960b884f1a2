"""`mixbridge surface`: an Open Stage Control session with every parameter."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import main


def test_open_stage_control_session_covers_every_parameter(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from core.host import PluginHost

    out = tmp_path / "vocal.json"
    monkeypatch.setenv("MIXBRIDGE_DATA_DIR", str(tmp_path))
    assert main(["surface", "--chain", "vocal", "-o", str(out), "--osc-port", "9100"]) == 0
    session = json.loads(out.read_text())
    assert session["createdWith"] == "Open Stage Control" and session["type"] == "session"
    (tab,) = session["content"]["tabs"]
    widgets = {w["address"]: w for panel in tab["widgets"] for w in panel["widgets"]}
    chain = PluginHost.from_toml().chain("vocal")
    expected = {f"/mixbridge/vocal/{s.label}/{p.name}" for s in chain for p in s.processor.params}
    expected |= {f"/mixbridge/vocal/{s.label}/{k}" for s in chain for k in ("bypass", "mix")}
    assert set(widgets) == expected
    comp = chain["compressor"].processor
    w = widgets["/mixbridge/vocal/compressor/threshold_db"]
    p = comp.param("threshold_db")
    assert (w["type"], w["range"], w["unit"], w["target"]) == ("fader", {"min": p.min, "max": p.max}, "dB",
                                                               "127.0.0.1:9100")
    assert widgets["/mixbridge/vocal/eq/b3_freq_hz"]["logScale"] is True
    assert widgets["/mixbridge/vocal/eq/b1_type"]["type"] == "dropdown"
    assert (widgets["/mixbridge/vocal/limiter/bypass"]["type"], widgets["/mixbridge/vocal/limiter/bypass"]["on"]) == (
        "toggle", 1)
