"""The vocal and master chains in plugins.toml: what they contain and that they hold -1 dBTP."""

from __future__ import annotations

import numpy as np
import pytest

from core.host import PluginHost
from core.loudness import true_peak_dbtp

SR = 48000


@pytest.mark.parametrize("name", ["vocal", "master"])
def test_chain_is_eq_compressor_limiter_under_minus_one_dbtp(host: PluginHost, name: str) -> None:
    chain = host.chain(name)
    assert [s.processor.name for s in chain] == ["eq", "compressor", "limiter"]
    assert chain[2].processor.get("ceiling_dbtp") == -1.0
    chain.prepare(SR, 256, 2)
    assert chain.latency == round(5e-3 * SR)  # the limiter's lookahead
    rng = np.random.default_rng(9)
    x = np.concatenate([(0.8 * rng.standard_normal((2, SR))), np.zeros((2, 2048))], axis=1)
    y = x.astype(np.float32)
    for i in range(0, y.shape[1], 256):
        chain.process(y[:, i : i + 256])
    assert true_peak_dbtp(y, SR) <= -1.0
    assert true_peak_dbtp(y, SR) > -3.0  # limited, not muted
