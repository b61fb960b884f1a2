"""Third-party plugins in chains and sessions: real Debian LV2 plugins (swh-lv2) through lilv,
and the clear errors of VST3/AU where nothing can load."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter, sosfreqz

from core.chain import Chain
from core.errors import ParameterError, PluginLoadError, SessionError
from core.host import PluginHost
from core.session import Session

AMP = "http://plugin.org.uk/swh-plugins/amp"
PARA = "http://plugin.org.uk/swh-plugins/singlePara"
SR = 48000


def _installed(uri: str) -> bool:
    from plugins.lilv import lilv

    try:
        return bool(lilv().plugin(uri))
    except PluginLoadError:
        return False


needs_swh = pytest.mark.skipif(not (_installed(AMP) and _installed(PARA)), reason="needs swh-lv2 and liblilv-0-0")


def noise(channels: int = 2, frames: int = 4096, level: float = 0.2) -> np.ndarray:
    return (level * np.random.default_rng(9).standard_normal((channels, frames))).astype(np.float32)


def blocks(proc_or_chain, x: np.ndarray, block: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    y = x.copy()
    for i in range(0, y.shape[1], block):
        proc_or_chain.process(y[:, i : i + block])
    return y


@needs_swh
@pytest.mark.parametrize("gain_db", [-70.0, -6.0, 0.0, 12.5])
def test_lv2_amp_multiplies_by_its_gain(host: PluginHost, gain_db: float) -> None:
    amp = host.create("lv2", AMP, gain=gain_db)
    amp.prepare(SR, 128, 2)
    x = noise()
    y = blocks(amp, x, 100)  # blocks shorter than max_block, and a short last one
    np.testing.assert_allclose(y, x * np.float32(10 ** (gain_db / 20)), rtol=1e-6, atol=1e-9)


@needs_swh
def test_lv2_parametric_matches_its_documented_rbj_peaking_filter(host: PluginHost) -> None:
    """swh singlePara is the RBJ cookbook peaking EQ with bandwidth in octaves (swh util/biquad.h)."""
    gain, fc, bw = 9.0, 1000.0, 1.0
    eq = host.create("lv2", PARA, gain=gain, fc=fc, bw=bw)
    eq.prepare(SR, 256, 2)
    x = noise(frames=SR // 2)
    y = blocks(eq, x, 256)
    w = 2 * np.pi * fc / SR
    A, alpha = 10 ** (gain / 40), np.sin(w) * np.sinh(np.log(2) / 2 * bw * w / np.sin(w))
    b = [1 + alpha * A, -2 * np.cos(w), 1 - alpha * A]
    a = [1 + alpha / A, -2 * np.cos(w), 1 - alpha / A]
    expected = lfilter(b, a, x.astype(np.float64), axis=1)
    assert np.max(np.abs(y - expected)) < 2e-5  # float32 state inside the plugin
    _, h = sosfreqz(np.concatenate([b, a])[None] / a[0], worN=[fc], fs=SR)
    assert 20 * np.log10(abs(h[0])) == pytest.approx(gain, abs=1e-6)


@needs_swh
def test_lv2_params_are_declared_from_the_plugin(host: PluginHost) -> None:
    eq = host.create("lv2", PARA)
    by = {p.name: p for p in eq.params}
    assert set(by) == {"gain", "fc", "bw"}
    assert (by["gain"].min, by["gain"].max, by["gain"].unit) == (-70.0, 30.0, "dB")
    # fc's range is a fraction of the sample rate (lv2:sampleRate): declared at 44.1 kHz
    assert by["fc"].unit == "Hz" and by["fc"].max == pytest.approx(0.4 * 44100, rel=1e-6) and by["fc"].default == 440.0
    with pytest.raises(ParameterError, match=r"gain: 40 is outside \[-70, 30\] dB"):
        eq.set("gain", 40.0)
    described = eq.describe()
    assert described["name"] == "lv2" and described["uri"] == PARA and described["realtime"] is True


@needs_swh
def test_lv2_slot_in_a_session_chain_is_steered_by_its_settings_key(host: PluginHost, tmp_path: Path) -> None:
    spec = [{"plugin": "eq"}, {"plugin": "lv2", "uri": AMP, "label": "amp", "params": {"gain": -6.0}}]
    s = Session.from_dict({"session": {"name": "t"},
                           "tracks": [{"name": "vocals", "source": "v.wav", "processors": spec}]})
    applied, missing = s.apply_settings({"vocals/amp/gain": -12.0})
    assert applied == ["vocals/amp/gain"] and not missing
    saved = Session.load(s.save(tmp_path / "s.toml"))
    chain = host.build_chain(saved.tracks[0].processors, "vocals")
    assert chain["amp"].describe()["uri"] == AMP and chain["amp"].processor.get("gain") == -12.0
    chain.prepare(SR, 256, 2)
    x = noise()
    np.testing.assert_allclose(blocks(chain, x, 256), x * np.float32(10 ** (-12 / 20)), rtol=1e-6, atol=1e-9)


@pytest.mark.slow
@needs_swh
def test_lv2_in_the_fused_callback_equals_the_python_chain(host: PluginHost) -> None:
    """The plugin's C run() called from the compiled PortAudio callback: no Python per block."""
    from rt.offline import run_offline

    def chain() -> Chain:
        return host.build_chain([{"plugin": "lv2", "uri": PARA, "params": {"gain": -8.0, "fc": 3000.0}},
                                 {"plugin": "lv2", "uri": AMP, "params": {"gain": 4.0}}], "t")

    x = noise(frames=SR // 4)
    a = chain()
    a.prepare(SR, 64, 2)
    expected = blocks(a, x, 64)
    got = run_offline(chain(), x, SR, 64)
    np.testing.assert_array_equal(got, expected)


@needs_swh
def test_lv2_reset_is_deterministic_and_instances_are_independent(host: PluginHost) -> None:
    eq = host.create("lv2", PARA, gain=12.0, fc=200.0)
    eq.prepare(SR, 256, 2)
    x = noise()
    x[1] = 0.0  # the right channel's instance must stay silent whatever the left one does
    first = blocks(eq, x, 256)
    eq.reset()
    np.testing.assert_array_equal(blocks(eq, x, 256), first)
    assert not first[1].any() and first[0].any()


def test_slot_errors_name_the_slot_and_the_plugin(host: PluginHost, tmp_path: Path) -> None:
    cases = [
        ({"plugin": "lv2"}, "needs uri"),
        ({"plugin": "lv2", "uri": "urn:nothing:here"}, "urn:nothing:here.*no installed LV2 plugin"),
        ({"plugin": "vst3", "path": str(tmp_path / "Missing.vst3")}, "Missing.vst3.*does not exist"),
        ({"plugin": "vst3", "path": str(tmp_path / "comp.so")}, "a vst3 plugin is a .vst3 file"),
        ({"plugin": "eq", "path": "/x.vst3"}, "'eq' takes no path or uri"),
    ]
    if sys.platform != "darwin":
        cases.append(({"plugin": "au", "path": "/Library/Audio/Plug-Ins/Components/X.component"},
                      "Audio Units load only on macOS"))
    for spec, message in cases:
        with pytest.raises(SessionError, match=rf"chains.t\[0\]: .*{message}"):
            host.build_chain([spec], "t", "chains.t")
    with pytest.raises(SessionError, match="give 'path' or 'uri', not both"):
        host.build_chain([{"plugin": "lv2", "uri": AMP, "path": "/x"}], "t")
    junk = tmp_path / "junk.vst3"
    junk.write_text("not a plugin")
    with pytest.raises(SessionError, match="junk.vst3.*pedalboard cannot load it"):
        host.build_chain([{"plugin": "vst3", "path": str(junk)}], "t")


@needs_swh
def test_lv2_plugin_that_does_not_fit_the_channels_is_refused(host: PluginHost) -> None:
    dj = host.create("lv2", "http://plugin.org.uk/swh-plugins/dj_eq")  # stereo in, stereo out
    with pytest.raises(ParameterError, match="2 audio in / 2 out does not fit a 3-channel chain"):
        dj.prepare(SR, 128, 3)


@needs_swh
def test_discover_lists_installed_lv2_plugins_with_their_params() -> None:
    from plugins.external import discover

    found = discover()
    amp = next(p for p in found["lv2"] if p["uri"] == AMP)
    assert amp["params"] == ["gain"] and (amp["audio_in"], amp["audio_out"]) == (1, 1)
    assert found["au"] == [] or sys.platform == "darwin"
