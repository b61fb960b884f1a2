"""The offline driver: the engine's compiled callback run block by block over audio.

It calls the very function PortAudio calls, with interleaved buffers, so its
output is what a live run fed the same blocks produces.
"""

from __future__ import annotations

import numpy as np

from core.chain import Chain, blocks
from rt.fuse import FusedChain


def run_offline(chain: Chain, audio: np.ndarray, sample_rate: int, blocksize: int = 128,
                fused: FusedChain | None = None) -> np.ndarray:
    """Process ``audio`` (float32, (channels, frames)) through the fused chain; return the output.

    Examples
    --------
    >>> y = run_offline(host.chain("vocal"), x, 48000, blocksize=64)   # doctest: +SKIP
    """
    channels, frames = audio.shape
    if fused is None:
        chain.prepare(sample_rate, blocksize, channels)
        fused = FusedChain(chain, channels, channels)
    inter = np.ascontiguousarray(audio.T, dtype=np.float32)
    out = np.zeros_like(inter)
    for start, n in blocks(frames, blocksize):
        fused.call(inter[start : start + n], out[start : start + n])
    return np.ascontiguousarray(out.T)
