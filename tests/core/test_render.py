import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import AudioFileError, SessionError
from core.host import PluginHost, PluginsConfig
from core.render import render
from core.session import Loudness, Master, Session, Track

SR = 48000


@pytest.fixture(scope="module")
def thost() -> PluginHost:
    modules = ["plugins.gain", "plugins.limiter", "tests.core.procs"]
    return PluginHost(PluginsConfig(modules=modules, entry_points=False))


def tone(freq: float, seconds: float, amp: float = 0.3, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = amp * np.sin(2 * np.pi * freq * t)
    return np.repeat(x[None], channels, axis=0).astype(np.float32)


def session(tmp_path: Path, tracks: list[Track], loud: bool = False, master: list | None = None) -> Session:
    return Session(name="t", sample_rate=SR, tracks=tracks, tail_s=0.0, base_dir=tmp_path,
                   master=Master(processors=master or [], loudness=Loudness(enabled=loud)))


def write(tmp_path: Path, name: str, x: np.ndarray) -> str:
    sf.write(str(tmp_path / name), x.T, SR, subtype="FLOAT")
    return name


def test_block_size_does_not_change_the_output(tmp_path: Path, thost: PluginHost, rng: np.random.Generator) -> None:
    noise = (0.2 * rng.standard_normal((2, SR))).astype(np.float32)
    tracks = [
        Track("v", write(tmp_path, "v.wav", tone(220, 1.0)), pan=-0.3,
              processors=[{"plugin": "gain", "params": {"gain_db": -3.0}}]),
        Track("m", write(tmp_path, "m.wav", noise), processors=[
            {"plugin": "test_delay"}, {"plugin": "gain", "params": {"gain_db": 2.0}, "mix": 0.7}]),
    ]
    s = session(tmp_path, tracks, master=[{"plugin": "gain", "params": {"pan": 0.1}}])
    a = render(s, thost, block_size=64).audio
    b = render(s, thost, block_size=1024).audio
    assert a.shape == b.shape == (2, SR)
    assert np.abs(a - b).max() < 1e-6


def test_latency_is_compensated_before_the_sum(tmp_path: Path, thost: PluginHost) -> None:
    click = np.zeros((1, 4800), np.float32)
    click[0, 100] = 0.5
    tracks = [
        Track("a", write(tmp_path, "a.wav", click), pan=-1.0, processors=[{"plugin": "test_delay"}]),
        Track("b", write(tmp_path, "b.wav", click), pan=1.0, processors=[{"plugin": "gain"}]),
    ]
    r = render(session(tmp_path, tracks), thost, block_size=128)
    assert r.report["latency_samples"] == {"a": 32, "b": 0, "master": 0}
    left, right = r.audio
    assert np.argmax(np.abs(left)) == np.argmax(np.abs(right)) == 100
    # hard-panned mono keeps its level (constant-power pan: 1.0 at the side it is panned to)
    assert left[100] == pytest.approx(0.5, abs=1e-6) and right[100] == pytest.approx(0.5, abs=1e-6)


def test_sidechain_listener_hears_the_same_block(tmp_path: Path, thost: PluginHost) -> None:
    v = tone(440, 0.5)
    tracks = [
        Track("music", write(tmp_path, "m.wav", tone(100, 0.5, channels=2)),
              processors=[{"plugin": "test_sidechain_copy", "sidechain": "vocals"}]),
        Track("vocals", write(tmp_path, "v.wav", v),
              processors=[{"plugin": "gain", "params": {"gain_db": -6.0}}]),
    ]
    r = render(session(tmp_path, tracks), thost, block_size=100)
    # music became a copy of the processed vocal: the sum is twice the centred vocal at -6 dB
    g = 10 ** (-6 / 20) * np.cos(np.pi / 4)
    expected = g * v[0] + 10 ** (-6 / 20) * v[0]
    np.testing.assert_allclose(r.audio[0], expected, atol=1e-5)


def test_sidechain_errors(tmp_path: Path, thost: PluginHost) -> None:
    f = write(tmp_path, "x.wav", tone(100, 0.1))
    loop = [Track("a", f, processors=[{"plugin": "test_sidechain_copy", "sidechain": "b"}]),
            Track("b", f, processors=[{"plugin": "test_sidechain_copy", "sidechain": "a"}])]
    with pytest.raises(SessionError, match="sidechain cycle: a -> b -> a"):
        render(session(tmp_path, loop), thost)
    missing = [Track("a", f, processors=[{"plugin": "test_sidechain_copy", "sidechain": "vox"}])]
    with pytest.raises(SessionError, match="sidechain 'vox' is not a track"):
        render(session(tmp_path, missing), thost)


def test_bad_sources_and_plugins_name_the_track(tmp_path: Path, thost: PluginHost) -> None:
    with pytest.raises(AudioFileError, match=r"tracks\[0\] \(v\).source: .*no such audio file"):
        render(session(tmp_path, [Track("v", "missing.wav")]), thost)
    f = write(tmp_path, "x.wav", tone(100, 0.1))
    with pytest.raises(SessionError, match=r"tracks\[0\] \(v\).processors\[0\]: unknown plugin 'reverbb'"):
        render(session(tmp_path, [Track("v", f, processors=[{"plugin": "reverbb"}])]), thost)
    with pytest.raises(SessionError, match=r"tracks\[0\] \(v\).chain = 'vocal9': no such chain"):
        render(session(tmp_path, [Track("v", f, chain="vocal9")]), thost)


def test_outputs_and_report(tmp_path: Path, thost: PluginHost) -> None:
    s = session(tmp_path, [Track("v", write(tmp_path, "v.wav", tone(1000, 2.0, 0.1, 2)))], loud=True)
    r = render(s, thost, output=tmp_path / "out" / "mix.wav")
    rep = json.loads((tmp_path / "out" / "mix.json").read_text())
    assert rep["output"].endswith("mix.wav") and sf.info(rep["output"]).frames == 2 * SR
    assert [st["stage"] for st in rep["stages"]] == ["load", "track:v", "master", "loudness"]
    assert rep["loudness"]["after"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.1)
    assert rep["loudness"]["after"]["true_peak_dbtp"] <= -1.0 + 0.05
    assert r.report == rep


def test_whole_track_stages_see_the_whole_track(tmp_path: Path, thost: PluginHost) -> None:
    x = tone(300, 1.0, 0.1) * np.linspace(0.1, 1.0, SR, dtype=np.float32)  # peak only at the very end
    procs = [{"plugin": "gain", "params": {"gain_db": 6.0}}, {"plugin": "test_normalize"},
             {"plugin": "test_delay"}, {"plugin": "gain", "params": {"gain_db": -6.0}}]
    s = session(tmp_path, [Track("v", write(tmp_path, "v.wav", x), processors=procs)])
    a = render(s, thost, block_size=64)
    b = render(s, thost, block_size=1000)
    np.testing.assert_allclose(a.audio, b.audio, atol=1e-6)
    # normalised over the whole track (a block-wise stage would have hit 0.5 in every block)
    peak = np.max(np.abs(a.audio[0]))
    assert peak == pytest.approx(0.5 * 10 ** (-6 / 20) * np.cos(np.pi / 4), rel=1e-3)
    assert np.max(np.abs(a.audio[0, : SR // 2])) < 0.6 * peak
    track = next(st for st in a.report["stages"] if st["stage"] == "track:v")
    assert track["processors"] == ["gain", "test_normalize", "test_delay", "gain2"]
    assert a.report["latency_samples"]["v"] == 32  # the delay after the stage is still compensated
