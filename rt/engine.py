"""The real-time engine: a chain fused into one compiled PortAudio callback.

Rules of the audio thread, stated once (as python-sounddevice states them on Stream):
the callback allocates nothing, takes no lock, touches no file and never waits.
Here it is not Python at all: it is the chain's numba kernels compiled into one
C-callable function (see rt.fuse), so neither the GIL nor the garbage collector
can make it late.

Control threads never write to the audio thread's state directly while it runs:
they publish parameter changes into a preallocated single-producer ring
(:meth:`Engine.submit`); the callback applies every change published before a
block starts, so an OSC bundle lands in one block. Control threads serialise
among themselves with a lock that the audio thread never touches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from core.chain import Chain, Change
from core.errors import RealtimeError
from rt import fuse
from rt.devices import find_device, portaudio_c

PA_FLOAT32 = 0x00000001


class Engine:
    """Runs a Chain live on a PortAudio duplex stream.

    Examples
    --------
    >>> eng = Engine(host.chain("vocal"), input="BlackHole", output="MacBook", blocksize=64)  # doctest: +SKIP
    >>> with eng:                                                                             # doctest: +SKIP
    ...     eng.submit([(eng.chain[0].processor.targets, 2, -6.0)])
    """

    def __init__(
        self,
        chain: Chain,
        sample_rate: int = 48000,
        blocksize: int = 128,
        channels: int = 2,
        input: int | str | None = None,
        output: int | str | None = None,
        host_api: str | None = None,
    ) -> None:
        chain.check_realtime()
        self.chain = chain
        self.sample_rate, self.blocksize, self.channels = int(sample_rate), int(blocksize), int(channels)
        self.input_spec, self.output_spec, self.host_api = input, output, host_api
        self.fused: fuse.FusedChain | None = None
        self._stream: Any = None
        self._keep: list[Any] = []
        self.devices: dict[str, dict[str, Any]] = {}
        self.stream_latency_ms: dict[str, float] = {}

    # -- life cycle -------------------------------------------------------------------
    def build(self) -> fuse.FusedChain:
        """Prepare the chain and compile its callback (off the audio thread)."""
        self.chain.prepare(self.sample_rate, self.blocksize, self.channels)
        self.fused = fuse.FusedChain(self.chain, self.channels, self.channels)
        return self.fused

    def start(self) -> None:
        """Open the duplex stream with the compiled callback and start it."""
        ffi, lib = portaudio_c()
        fused = self.fused or self.build()
        din = find_device(self.input_spec, "input", self.host_api)
        dout = find_device(self.output_spec, "output", self.host_api)
        self.devices = {"input": din, "output": dout}
        params = []
        for d, kind in ((din, "input"), (dout, "output")):
            p = ffi.new("PaStreamParameters*")
            p.device = d["index"]
            p.channelCount = self.channels
            p.sampleFormat = PA_FLOAT32
            p.suggestedLatency = d[f"default_low_{kind}_latency"]
            p.hostApiSpecificStreamInfo = ffi.NULL
            params.append(p)
        stream = ffi.new("PaStream**")
        callback = ffi.cast("PaStreamCallback*", fused.address)
        user = ffi.cast("void*", fused.user_data)
        err = lib.Pa_OpenStream(stream, params[0], params[1], float(self.sample_rate), self.blocksize, 0,
                                callback, user)
        self._check(err, "open the stream")
        self._keep = [params, callback, user, stream, fused]
        self._stream = stream[0]
        self._check(lib.Pa_StartStream(self._stream), "start the stream")
        info = lib.Pa_GetStreamInfo(self._stream)
        self.stream_latency_ms = {"input_latency_ms": 1000 * info.inputLatency,
                                  "output_latency_ms": 1000 * info.outputLatency}

    def stop(self) -> None:
        """Stop and close the stream (the chain and its state stay)."""
        if self._stream is None:
            return
        _, lib = portaudio_c()
        lib.Pa_StopStream(self._stream)
        lib.Pa_CloseStream(self._stream)
        self._stream = None

    @property
    def running(self) -> bool:
        return self._stream is not None

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _check(self, err: int, what: str) -> None:
        if err < 0:
            ffi, lib = portaudio_c()
            text = ffi.string(lib.Pa_GetErrorText(err)).decode()
            raise RealtimeError(f"cannot {what}: {text} (PortAudio error {err})")

    # -- control ----------------------------------------------------------------------
    def submit(self, changes: Iterable[Change]) -> None:
        """Apply ``(target_array, index, value)`` changes together at the start of one block.

        Targets are processors' ``targets`` arrays and slots' ``ctrl`` arrays of the
        running chain. When no stream runs, the changes apply at once.
        """
        changes = list(changes)
        if self.fused is None:
            for arr, idx, value in changes:
                arr[idx] = value
            return
        self.fused.post(changes)
        if self._stream is None:
            self.fused.drain()

    # -- stats ------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters, callback timing against the deadline, and latency (readable while running)."""
        fused = self.fused
        deadline_us = 1e6 * self.blocksize / self.sample_rate
        out: dict[str, Any] = {"callbacks": 0, "xruns": 0, "nonfinite_samples": 0,
                               "deadline_us": deadline_us, "chain_latency_samples": self.chain.latency}
        if fused is None:
            return out
        s = fused.stats
        n = int(s[fuse.DUR_POS])
        durs = s[fuse.STATS_HEAD : fuse.STATS_HEAD + min(n, fuse.DUR_RING)] / 1000.0
        out.update(
            callbacks=int(s[fuse.CALLBACKS]), xruns=int(s[fuse.XRUNS]),
            input_overflows=int(s[fuse.IN_OVERFLOWS]), output_underflows=int(s[fuse.OUT_UNDERFLOWS]),
            nonfinite_samples=int(s[fuse.NONFINITE]),
            input_peak_db=_db(s[fuse.IN_PEAK]), output_peak_db=_db(s[fuse.OUT_PEAK]),
            xrun_callbacks=(int(s[fuse.FIRST_XRUN]), int(s[fuse.LAST_XRUN])) if s[fuse.XRUNS] else None,
            callback_us={"median": float(np.median(durs)) if n else 0.0,
                         "p99": float(np.percentile(durs, 99)) if n else 0.0,
                         "max": float(s[fuse.MAX_NS]) / 1000.0},
        )
        out["load"] = out["callback_us"]["p99"] / deadline_us
        out.update(self.stream_latency_ms)  # as reported when the stream last started
        chain_ms = 1000 * self.chain.latency / self.sample_rate
        out["chain_latency_ms"] = chain_ms
        out["total_latency_ms"] = chain_ms + out.get("input_latency_ms", 0.0) + out.get("output_latency_ms", 0.0)
        return out


def _db(peak: float) -> float | None:
    """A linear peak in dBFS; None for silence (no finite level to show)."""
    return 20.0 * math.log10(peak) if peak > 0 else None


def changes_for(chain: Chain, values: Sequence[tuple[int | str, str, float]]) -> list[Change]:
    """Validated changes ``(slot, param, value)`` -> ``(targets, index, value)`` tuples."""
    out: list[Change] = []
    for slot_key, name, value in values:
        proc = chain.slot(slot_key).processor
        v = proc.param(name).validate(value)
        out.append((proc.targets, proc._index[name], v))
    return out
