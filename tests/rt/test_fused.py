"""The fused callback: the very function PortAudio calls, driven offline."""

import numpy as np
import pytest

from core.chain import Chain
from core.errors import RealtimeError
from core.host import PluginHost
from core.processor import Processor
from rt.fuse import CALLBACKS, IN_PEAK, NONFINITE, OUT_PEAK, PEAK_FALL_S, FusedChain
from rt.offline import run_offline

SR = 48000


def signal(frames: int = SR, channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(frames) / SR
    x = 0.4 * np.sin(2 * np.pi * 330 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t)) + 0.05 * rng.standard_normal(frames)
    return np.repeat(x[None], channels, 0).astype(np.float32)


def chain_process(chain: Chain, x: np.ndarray, block: int) -> np.ndarray:
    y = x.copy()
    for i in range(0, y.shape[1], block):
        chain.process(y[:, i : i + block])
    return y


@pytest.mark.parametrize("block", [32, 128])
def test_fused_equals_chain_bit_for_bit(host: PluginHost, block: int) -> None:
    x = signal()
    a, b = host.chain("vocal"), host.chain("vocal")
    a[1].set_mix(0.6)
    b[1].set_mix(0.6)
    a.prepare(SR, block, 2)
    expected = chain_process(a, x, block)
    got = run_offline(b, x, SR, block)
    np.testing.assert_array_equal(got, expected)


def test_bundle_lands_in_one_block_and_bypass_crossfades(host: PluginHost) -> None:
    chain = Chain([host.create("gain"), host.create("gain")])
    chain.prepare(SR, 64, 1)
    fused = FusedChain(chain, 1, 1)
    x = np.ones((SR // 2, 1), np.float32)
    out = np.zeros_like(x)
    fused.call(x[:64], out[:64])
    g0, g1 = chain[0].processor, chain[1].processor
    fused.post([(g0.targets, 0, -6.0), (g1.targets, 0, -6.0), (chain[1].ctrl, 0, 1.0)])
    assert g0.targets[0] == 0.0  # nothing changes until the audio thread takes the batch
    fused.call(x[64:128], out[64:128])
    assert g0.targets[0] == g1.targets[0] == -6.0 and chain[1].ctrl[0] == 1.0
    assert int(fused.stats[CALLBACKS]) == 2
    for i in range(128, x.shape[0], 64):
        fused.call(x[i : i + 64], out[i : i + 64])
    assert out[-1, 0] == pytest.approx(10 ** (-6 / 20), rel=1e-4)  # second gain bypassed: -6 dB total
    assert np.abs(np.diff(out[:, 0])).max() < 0.01  # glides, no steps


def test_peak_meters_hold_the_block_peak_and_fall(host: PluginHost) -> None:
    chain = Chain([host.create("gain")])
    chain.prepare(SR, 64, 2)
    chain[0].processor.set("gain_db", -6.0)
    chain[0].processor.reset()  # start at -6 dB, no glide
    fused = FusedChain(chain, 2, 2)
    x = np.zeros((64, 2), np.float32)
    x[10, 1] = -0.5  # one sample on one channel sets the block's peak
    y = np.zeros_like(x)
    fused.call(x, y)
    assert fused.stats[IN_PEAK] == 0.5
    assert fused.stats[OUT_PEAK] == pytest.approx(0.5 * 10 ** (-6 / 20), rel=1e-5)
    for _ in range(75):  # 100 ms of silence: the held peak falls exponentially
        fused.call(np.zeros_like(x), y)
    assert fused.stats[IN_PEAK] == pytest.approx(0.5 * np.exp(-75 * 64 / (PEAK_FALL_S * SR)), rel=1e-9)
    eng_db = 20 * np.log10(fused.stats[IN_PEAK])
    assert -7.3 < eng_db < -7.2  # -6.02 dBFS less 100 ms at ~12.4 dB/s


def test_non_finite_samples_are_silenced_and_counted() -> None:
    from numba import njit

    @njit
    def poison(audio, sidechain, targets, current, coefs):  # type: ignore[no-untyped-def]
        audio[0, 3] = np.nan
        audio[1, 5] = np.inf

    class Poison(Processor):
        name = "poison"
        kernel = poison

    chain = Chain([Poison()])
    chain.prepare(SR, 16, 2)
    fused = FusedChain(chain, 2, 2)
    x = np.full((16, 2), 0.5, np.float32)
    out = np.zeros_like(x)
    fused.call(x, out)
    assert np.isfinite(out).all() and out[3, 0] == 0.0 and out[5, 1] == 0.0 and out[0, 0] == 0.5
    assert fused.stats[NONFINITE] == 2


def test_division_by_zero_in_a_kernel_is_silenced_not_raised() -> None:
    """An outside plugin's kernel divides by a parameter a surface set to 0: no exception can
    leave the C callback; the infinities are silenced and counted, and the next block runs."""
    from numba import njit

    from core.params import Param

    @njit
    def divide(audio, sidechain, targets, current, coefs):  # type: ignore[no-untyped-def]
        for c in range(audio.shape[0]):
            for i in range(audio.shape[1]):
                audio[c, i] = audio[c, i] / targets[0]

    class Divide(Processor):
        name = "divide"
        params = (Param("d", 1.0, 0.0, 2.0),)
        kernel = divide

    chain = Chain([Divide(d=0.0)])
    chain.prepare(SR, 16, 2)
    fused = FusedChain(chain, 2, 2)
    x = np.full((16, 2), 0.5, np.float32)
    out = np.ones_like(x)
    fused.call(x, out)
    assert (out == 0.0).all() and fused.stats[NONFINITE] == 32
    fused.post([(chain[0].processor.targets, 0, 2.0)])
    fused.call(x, out)
    assert fused.stats[CALLBACKS] == 2 and fused.stats[NONFINITE] == 32 and np.isfinite(out).all()


def test_offline_processors_are_refused_live(host: PluginHost) -> None:
    chain = Chain([host.create("pb_reverb")], name="fx")
    chain.prepare(SR, 64, 2)
    with pytest.raises(RealtimeError, match="pb_reverb is offline only"):
        FusedChain(chain, 2, 2)


def test_unknown_target_is_refused(host: PluginHost) -> None:
    chain = Chain([host.create("gain")])
    chain.prepare(SR, 64, 1)
    fused = FusedChain(chain, 1, 1)
    with pytest.raises(RealtimeError, match="not part of the running chain"):
        fused.post([(np.zeros(3), 0, 1.0)])
