"""pedalboard's effects through the processor contract, and VST3/AU loading errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pedalboard
import pytest

from core.chain import Chain
from core.errors import PluginLoadError, RealtimeError
from core.host import PluginHost
from plugins.pedalboard_fx import BLOCK, EFFECTS, RANGES, load_plugin

SR = 48000


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_params_are_pedalboards_declared_attributes(host: PluginHost, name: str) -> None:
    proc = host.create(name)
    cls = getattr(pedalboard, EFFECTS[name])
    probe = cls()
    floats = {
        a
        for a in dir(cls)
        if not a.startswith("_") and isinstance(getattr(cls, a), property) and isinstance(getattr(probe, a), float)
    }
    assert {p.name for p in proc.params} == floats & set(RANGES)
    for p in proc.params:
        lo, hi = RANGES[p.name][:2]
        assert p.default == pytest.approx(min(max(getattr(probe, p.name), lo), hi))
    assert proc.realtime is False


def test_output_is_pedalboards_own_delayed_by_one_block(host: PluginHost) -> None:
    rng = np.random.default_rng(4)
    x = (0.2 * rng.standard_normal((2, 20 * BLOCK))).astype(np.float32)
    proc = host.create("pb_reverb", room_size=0.8, wet_level=0.5)
    proc.prepare(SR, 300, 2)
    y = x.copy()
    i = 0
    for n in [1, 299, 17, 300, 45] * 100:
        if i >= y.shape[1]:
            break
        proc.process(y[:, i : i + n])
        i += n
    direct = pedalboard.Reverb(room_size=0.8, wet_level=0.5)
    ref = np.concatenate(
        [direct.process(x[:, k : k + BLOCK], SR, buffer_size=BLOCK, reset=False) for k in range(0, x.shape[1], BLOCK)],
        axis=1,
    )
    assert proc.latency == BLOCK
    assert not y[:, :BLOCK].any()
    np.testing.assert_allclose(y[:, BLOCK:], ref[:, :-BLOCK], atol=1e-6)


def test_parameter_change_reaches_pedalboard(host: PluginHost) -> None:
    proc = host.create("pb_gain", gain_db=0.0)
    proc.prepare(SR, BLOCK, 1)
    x = np.full((1, 4 * BLOCK), 0.1, np.float32)
    proc.process(x[:, : 2 * BLOCK])
    proc.set("gain_db", -20.0)
    proc.process(x[:, 2 * BLOCK :])
    # the block handed to pedalboard after the change comes out one block later
    assert x[0, 3 * BLOCK - 1] == pytest.approx(0.1, rel=1e-5)
    assert x[0, -1] == pytest.approx(0.01, rel=1e-3)


def test_live_chain_refuses_offline_wrappers(host: PluginHost) -> None:
    chain = Chain([host.create("eq"), host.create("pb_chorus")], name="live")
    with pytest.raises(RealtimeError, match="pb_chorus"):
        chain.check_realtime()


def test_load_plugin_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(PluginLoadError, match="missing.vst3.*does not exist"):
        load_plugin(tmp_path / "missing.vst3")
    junk = tmp_path / "junk.vst3"
    junk.write_text("not a plugin")
    with pytest.raises(PluginLoadError, match="junk.vst3"):
        load_plugin(junk)
