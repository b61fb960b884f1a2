"""Round-trip latency: play a chirp, record it back, find the delay by cross-correlation."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import RealtimeError
from rt.devices import find_device, portaudio
from rt.jack_graph import JackGraph


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
    loop: str | None = None,
) -> dict[str, Any]:
    """Play a chirp on ``output`` and record ``input``; return the delay in samples and ms.

    The figure includes every buffer between the two devices (driver, PortAudio,
    the loop back through the DAW or cable): it is what a DAW's recording offset
    should be set to.

    On JACK, ``loop="self"`` patches our first output straight into our first
    input (whatever else fed it is disconnected): the round trip of the JACK graph
    itself, which is what a DAW sending to mixbridge and recording its return gets
    (and all the dummy driver or a purely software setup has). ``loop="device"``
    leaves PortAudio's connections to the device's ports, for a cable from output
    1 to input 1; then JACK's own reported latency for that path
    (``reported_samples``) is returned too: DAWs on JACK compensate it already,
    so ``extra_samples`` is what to enter on top. ``ports`` names the ports.
    """
    if loop not in (None, "self", "device"):
        raise RealtimeError(f"loop must be 'self' or 'device', not {loop!r}")
    sd = portaudio()
    din = find_device(input, "input", host_api)
    dout = find_device(output, "output", host_api)
    on_jack = "jack" in sd.query_hostapis(din["hostapi"])["name"].lower()
    probe = chirp(sample_rate)
    lead = int(lead_s * sample_rate)
    play = np.zeros((lead + probe.size + sample_rate, channels), np.float32)
    play[lead : lead + probe.size, 0] = probe
    graph = JackGraph() if on_jack and loop else None
    before = set(graph.ports()) if graph else set()
    ports: dict[str, str] = {}
    reported = None
    try:
        rec = sd.playrec(play, samplerate=sample_rate, channels=channels, device=(din["index"], dout["index"]),
                         blocksize=blocksize, dtype="float32", blocking=False)
        if graph:  # the stream's ports exist now; patch them while the lead's silence plays
            ports = _our_ports(graph, before)
            if loop == "self":
                for src in graph.connections(ports["in"]):
                    graph.disconnect(src, ports["in"])
                graph.connect(ports["out"], ports["in"])
            else:  # through the hardware: JACK's reported latency of that path is compensated by DAWs already
                ports["device_out"] = ", ".join(graph.connections(ports["out"])) or "nothing"
                ports["device_in"] = ", ".join(graph.connections(ports["in"])) or "nothing"
                reported = graph.latency(ports["out"], playback=True) + graph.latency(ports["in"], playback=False)
        sd.wait()
    finally:
        if graph:
            graph.close()
    from scipy.signal import correlate

    c = np.abs(correlate(rec[:, 0], probe, mode="valid", method="fft"))
    confidence = 0.0
    if c.size and c.max() > 0:
        k = int(np.argmax(c))
        confidence = float(c[k] / (np.linalg.norm(probe) * np.linalg.norm(rec[k : k + probe.size, 0]) + 1e-12))
    if confidence < 0.5:
        raise RealtimeError(f"the chirp did not come back clearly (correlation {confidence:.2f}): "
                            + _how_to_loop(ports, on_jack))
    samples = k - lead
    return {"samples": samples, "ms": 1000.0 * samples / sample_rate, "confidence": confidence,
            "loop": loop if graph else None, "ports": ports, "reported_samples": reported,
            "extra_samples": None if reported is None else samples - reported}


def _our_ports(graph: JackGraph, before: set[str]) -> dict[str, str]:
    """The first input and output port our stream added to the JACK graph."""
    new = [p for p in graph.ports() if p not in before]
    ins, outs = set(graph.ports(inputs=True)), set(graph.ports(inputs=False))

    def first(names: list[str]) -> str:  # PortAudio numbers its ports in_1, in_2...
        return min(names, key=lambda n: int(n.rsplit("_", 1)[1]) if n.rsplit("_", 1)[-1].isdigit() else 0)

    mine_in, mine_out = [p for p in new if p in ins], [p for p in new if p in outs]
    if not (mine_in and mine_out):
        raise RealtimeError("could not find the stream's JACK ports to patch (use --loop device and patch by hand)")
    return {"in": first(mine_in), "out": first(mine_out)}


def _how_to_loop(ports: dict[str, str], on_jack: bool) -> str:
    if on_jack and ports:
        return (f"our output {ports['out']} went to {ports.get('device_out', 'nothing')} and our input "
                f"{ports['in']} came from {ports.get('device_in', 'nothing')}: loop that output to that input "
                f"with a cable, or patch {ports['out']} -> {ports['in']} (--loop self)")
    if on_jack:
        return "patch our first output port (PortAudio:out_1) to our first input port (PortAudio:in_1), or --loop self"
    return "connect the output device to the input device (a cable, or a loopback device such as BlackHole)"


def report_lines(result: dict[str, Any], sample_rate: int) -> list[str]:
    """What ``mixbridge latency`` prints: the round trip, and the figure to enter in Reaper or Ardour."""
    n, ms = result["samples"], result["ms"]
    lines = [f"round trip: {n} samples = {ms:.2f} ms at {sample_rate} Hz (correlation peak {result['confidence']:.2f})"]
    p = result.get("ports")
    if p and result["loop"] == "self":
        lines.append(f"loop: {p['out']} -> {p['in']} (patched by mixbridge: the JACK graph's own round trip)")
        lines.append(f"a DAW that sends to mixbridge over JACK and records its return is late by {n} samples: "
                     "enter them as that send/return's latency (Ardour: the insert's latency, or its Measure "
                     "button; Reaper: ReaInsert's additional latency in samples)")
        return lines
    if p:
        lines.append(f"loop: {p['out']} -> {p['device_out']} ... {p['device_in']} -> {p['in']} (through the device)")
    extra = result.get("extra_samples")
    if extra is not None:
        lines.append(f"JACK reports {result['reported_samples']} samples for these ports, which Ardour and Reaper "
                     f"on JACK compensate already; enter the remaining {extra} samples "
                     f"({1000.0 * extra / sample_rate:.2f} ms): Ardour: Window > Audio/MIDI Setup > "
                     "Hardware Input/Output Latency (split between the two); Reaper: Preferences > Audio > "
                     "Recording > output manual offset")
    else:
        lines.append(f"enter {n} samples ({ms:.2f} ms) as the DAW's recording offset / latency compensation "
                     "(Reaper: Preferences > Audio > Recording > output manual offset; "
                     "Ardour: Audio/MIDI Setup > Hardware Input/Output Latency)")
    return lines
