import numpy as np
import pytest

from core.chain import Chain, Slot
from core.errors import ParameterError, RealtimeError
from core.processor import Processor
from tests.core.procs import Delay

SR = 48000


def gain(host, **kw):  # type: ignore[no-untyped-def]
    return host.create("gain", **kw)


def run(chain: Chain, x: np.ndarray, block: int) -> np.ndarray:
    y = x.copy()
    for i in range(0, y.shape[1], block):
        chain.process(y[:, i : i + block])
    return y


def test_list_behaviour_and_labels(host) -> None:  # type: ignore[no-untyped-def]
    ch = Chain([gain(host), gain(host)], name="c")
    assert [s.label for s in ch] == ["gain", "gain2"]
    ch.insert(0, Slot(gain(host), label="in"))
    assert ch["in"] is ch[0] and ch["1"].label == "gain"
    ch.remove("gain2")
    assert len(ch) == 2
    with pytest.raises(ParameterError, match=r"no slot 'eq' \(slots: in, gain\)"):
        ch["eq"]
    with pytest.raises(ParameterError, match="no slot 5"):
        ch[5]
    with pytest.raises(ParameterError, match="duplicate"):
        ch.append(Slot(gain(host), label="in"))


def test_latency_sums_and_dry_path_is_aligned(host) -> None:  # type: ignore[no-untyped-def]
    ch = Chain([Delay(32), Delay(10)])
    assert ch.latency == 42
    ch[0].set_mix(0.5)  # half dry, half wet: the dry half must be delayed too
    ch.prepare(SR, 64, 1)
    x = np.zeros((1, 256), np.float32)
    x[0, 3] = 1.0
    y = run(ch, x, 64)
    assert np.flatnonzero(np.abs(y[0]) > 1e-6).tolist() == [45]
    assert y[0, 45] == pytest.approx(1.0)


def test_bypass_crossfades_without_steps(host) -> None:  # type: ignore[no-untyped-def]
    ch = Chain([gain(host, gain_db=-24.0)])
    ch.prepare(SR, 128, 1)
    x = np.ones((1, SR // 10), np.float32)
    y1 = run(ch, x[:, :2048], 128)
    assert y1[0, -1] == pytest.approx(10 ** (-24 / 20), rel=1e-4)
    ch[0].set_bypass(True)
    y2 = run(ch, x, 128)
    steps = np.abs(np.diff(np.concatenate([y1[0, -1:], y2[0]])))
    assert steps.max() < 0.01  # a hard switch would jump 0.94
    assert y2[0, -1] == pytest.approx(1.0, abs=1e-5)  # fully bypassed after the fade
    settle = np.argmax(np.abs(y2[0] - 1.0) < 1e-3)
    assert 0.005 * SR < settle < 0.03 * SR  # ~10 ms crossfade


def test_mix_out_of_range_and_sidechain_refused(host) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError, match=r"mix 1.5 is outside \[0, 1\]"):
        Slot(gain(host), mix=1.5)
    with pytest.raises(ParameterError, match="takes no sidechain"):
        Slot(gain(host), sidechain="vocals")


def test_offline_processor_refused_live() -> None:
    class Offline(Processor):
        name = "offline_thing"
        realtime = False

        def process(self, audio, sidechain=None):  # type: ignore[no-untyped-def]
            audio *= 0.5

    ch = Chain([Offline()], name="vox")
    with pytest.raises(RealtimeError, match="offline_thing is offline only"):
        ch.check_realtime()


def test_block_larger_than_prepared_is_refused(host) -> None:  # type: ignore[no-untyped-def]
    ch = Chain([gain(host)])
    ch.prepare(SR, 64, 2)
    with pytest.raises(ValueError, match="exceeds prepared max_block 64"):
        ch.process(np.zeros((2, 65), np.float32))


def test_parameter_jump_glides_at_declared_rate(host) -> None:  # type: ignore[no-untyped-def]
    g = gain(host)
    g.prepare(SR, 256, 1)
    g.set("gain_db", -40.0)
    x = np.ones((1, SR // 5), np.float32)
    for i in range(0, x.shape[1], 256):
        g.process(x[:, i : i + 256])
    db = 20 * np.log10(x[0])
    tau = g.param("gain_db").smoothing_ms * 1e-3 * SR
    # one-pole glide in dB: the remaining distance after n samples is 40 * exp(-n / tau)
    n = np.arange(1, x.shape[1] + 1)
    np.testing.assert_allclose(db, -40.0 * (1 - np.exp(-n / tau)), atol=1e-3)
    assert np.abs(np.diff(db)).max() <= 40.0 / tau * 1.001
