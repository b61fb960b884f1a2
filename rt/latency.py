"""Round-trip latency: play a chirp, record it back, find the delay by cross-correlation."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import RealtimeError
from rt.devices import find_device, portaudio


def chirp(sample_rate: int, seconds: float = 0.5) -> np.ndarray:
    """A log sweep 200 Hz-8 kHz with raised-cosine edges: a sharp, unambiguous correlation peak."""
    from scipy.signal import chirp as sweep

    t = np.arange(int(seconds * sample_rate)) / sample_rate
    x = 0.5 * sweep(t, 200.0, seconds, min(8000.0, 0.4 * sample_rate), method="logarithmic")
    edge = int(0.01 * sample_rate)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, edge))
    x[:edge] *= ramp
    x[-edge:] *= ramp[::-1]
    return x.astype(np.float32)


def measure_round_trip(
    input: int | str | None, output: int | str | None, host_api: str | None = None,
    sample_rate: int = 48000, blocksize: int = 128, channels: int = 1, lead_s: float = 0.5,
) -> dict[str, Any]:
    """Play a chirp on ``output`` and record ``input``; return the delay in samples and ms.

    The figure includes every buffer between the two devices (driver, PortAudio,
    the loop back through the DAW or cable): it is what a DAW's recording offset
    should be set to.
    """
    sd = portaudio()
    din = find_device(input, "input", host_api)
    dout = find_device(output, "output", host_api)
    probe = chirp(sample_rate)
    lead = int(lead_s * sample_rate)
    play = np.zeros((lead + probe.size + sample_rate, channels), np.float32)
    play[lead : lead + probe.size, 0] = probe
    rec = sd.playrec(play, samplerate=sample_rate, channels=channels, device=(din["index"], dout["index"]),
                     blocksize=blocksize, dtype="float32", blocking=True)
    from scipy.signal import correlate

    c = np.abs(correlate(rec[:, 0], probe, mode="valid", method="fft"))
    if not c.size or c.max() <= 0:
        raise RealtimeError("no signal came back: is the output looped back into the input?")
    k = int(np.argmax(c))
    confidence = float(c[k] / (np.linalg.norm(probe) * np.linalg.norm(rec[k : k + probe.size, 0]) + 1e-12))
    if confidence < 0.5:
        raise RealtimeError(f"the chirp did not come back clearly (correlation {confidence:.2f}): check the loop")
    samples = k - lead
    return {"samples": samples, "ms": 1000.0 * samples / sample_rate, "confidence": confidence}
