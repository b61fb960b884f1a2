"""The Controller behind every surface: presets as one batch, the engine as sink, stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.control import Controller
from core.errors import BridgeError
from core.host import PluginHost
from rt.engine import Engine
from tests.bridge.test_osc import Client

EQ = "/mixbridge/vocal/eq"


def test_toml_preset_with_choice_names_and_a_bad_preset_changes_nothing(host: PluginHost, tmp_path: Path) -> None:
    ctl = Controller({"vocal": host.chain("vocal")}, presets_dir=tmp_path)
    (tmp_path / "air.toml").write_text(
        '"vocal/eq/bypass" = 0\n"vocal/eq/mix" = 0.5\n"vocal/eq/b1_type" = "low_shelf"\n"vocal/eq/b3_gain_db" = 4.5\n')
    (tmp_path / "bad.toml").write_text("\"vocal/eq/b3_gain_db\" = 1.0\n\"vocal/eq/b3_freq_hz\" = -5.0\n")
    eq = ctl.chains["vocal"]["eq"]
    ctl.load_preset("air")
    assert eq.processor.get("b1_type") == eq.processor.param("b1_type").choices.index("low_shelf")
    assert (eq.processor.get("b3_gain_db"), eq.mix) == (4.5, 0.5)
    before = ctl.snapshot()
    with pytest.raises(BridgeError, match=r"preset 'bad': .*b3_freq_hz: -5 is outside"):
        ctl.load_preset("bad")
    assert ctl.snapshot() == before  # b3_gain_db = 1.0 came first and was not applied either
    assert ctl.list_presets() == ["air", "bad"]


def test_engine_as_sink_preset_in_one_block_and_stats(host: PluginHost, tmp_path: Path) -> None:
    from bridge.osc import OSCServer

    chain = host.chain("vocal")
    eng = Engine(chain, blocksize=64)
    fused = eng.build()
    ctl = Controller({"vocal": chain}, sink=eng, presets_dir=tmp_path)
    ctl.set(f"{EQ}/b3_gain_db", -3.0)  # no stream running: the engine applies at once
    assert chain["eq"].processor.get("b3_gain_db") == -3.0
    ctl.save_preset("p")
    ctl.set(f"{EQ}/b3_gain_db", 6.0)
    ctl.set("/mixbridge/vocal/limiter/bypass", 1)
    ctl.sink = fused.post  # as with a running stream: queued for the next block
    before = int(fused.qctl[0])
    fed: list[int] = []
    ctl.listeners.append(lambda changes, source: fed.append(len(changes)))
    ctl.load_preset("p")
    n = int(fused.qctl[0]) - before
    assert fed == [n] and n == len(ctl.targets())  # one batch, every value
    assert chain["eq"].processor.get("b3_gain_db") == 6.0
    x = np.zeros((64, 2), np.float32)
    y = np.zeros_like(x)
    for _ in range(10):
        fused.call(x, y)
    assert chain["eq"].processor.get("b3_gain_db") == -3.0 and not chain["limiter"].bypass
    ctl.sink = eng
    with OSCServer(ctl, port=0) as srv:
        addr, (load, xruns, latency_ms) = Client(srv.port).ask("/mixbridge/stats")
    s = eng.stats()
    assert (addr, xruns) == ("/mixbridge/stats", 0) and s["callbacks"] == 10
    assert load == pytest.approx(s["load"], rel=1e-5) and load > 0
    assert latency_ms == pytest.approx(1000 * chain.latency / 48000, rel=1e-5)
