"""LV2 plugins (the Linux standard) hosted through lilv, run from a numba kernel.

lilv (plugins/lilv.py, through ctypes) finds the plugin by URI, reads its ports
(symbol, range, unit, properties) and instantiates it; from then on lilv is out
of the way. The instance's ``LV2_Descriptor`` gives the plugin's C ``run(handle, frames)``; every port is
connected once, in ``prepare``, to preallocated numpy buffers, and
:func:`lv2_kernel` copies the block in, calls ``run`` through its address and
copies the block out. The kernel has the contract's shape, so a chain holding an
LV2 plugin fuses into the compiled JACK/PortAudio callback like any other: the
third-party plugin then runs live with no Python per block.

A mono plugin (one audio input, one output) gets one instance per channel; a
plugin with as many audio inputs and outputs as the chain has channels gets one.
Control inputs become declared Params named by their port symbols; the host
offers the ``urid:map``, ``options`` and ``boundedBlockLength`` features.
"""

from __future__ import annotations

import ctypes
import math
import weakref
from typing import Any, ClassVar

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from core.chain import SLOT_OWNED
from core.errors import ParameterError, PluginLoadError
from core.params import Param
from core.processor import Processor
from plugins.lilv import (
    BOUNDED,
    CONNECT,
    HANDLE_CALL,
    OPTIONS,
    SUPPORTED_FEATURES,
    URID_MAP,
    Feature,
    Instance,
    Option,
    Port,
    lilv,
    read_ports,
)

# ports whose range is a fraction of the sample rate are declared at this rate (the lowest usual one)
NOMINAL_RATE = 44100.0


@intrinsic
def _call_run(typingctx: Any, fn: Any, handle: Any, frames: Any) -> Any:
    """Call ``void run(LV2_Handle, uint32_t)`` at address ``fn`` (int64) on ``handle`` (int64)."""
    sig = types.void(types.int64, types.int64, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, ir.IntType(32)])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(f, [builder.inttoptr(args[1], cgutils.voidptr_t), builder.trunc(args[2], ir.IntType(32))])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def lv2_kernel(audio: np.ndarray, sidechain: np.ndarray, targets: np.ndarray, current: np.ndarray,
               coefs: np.ndarray, calls: np.ndarray, ports: np.ndarray, control: np.ndarray,
               ins: np.ndarray, outs: np.ndarray) -> None:
    """Write the params into the control ports, then per instance: block in, ``run``, block out.

    ``calls`` (int64, (instances, 2)) holds each instance's run() address and handle;
    ``ports`` the control port of each param; ``control`` (float32, (instances,
    ports)), ``ins`` and ``outs`` (float32, (instances, audio ports, max_block)) are
    the buffers the ports are connected to. Instance ``j``'s audio port ``p`` is
    channel ``j + p`` (one instance per channel, or one instance for all).
    """
    frames = audio.shape[1]
    if frames == 0:
        return
    for k in range(targets.shape[0]):
        current[k] = targets[k]
        for j in range(calls.shape[0]):
            control[j, ports[k]] = targets[k]
    for j in range(calls.shape[0]):
        for p in range(ins.shape[1]):
            for i in range(frames):
                ins[j, p, i] = audio[j + p, i]
        _call_run(calls[j, 0], calls[j, 1], frames)
        for p in range(outs.shape[1]):
            for i in range(frames):
                audio[j + p, i] = outs[j, p, i]




def _param(port: Port) -> Param:
    """A control input port as a declared Param (range, default and scale from its RDF)."""
    lo = port.lo if math.isfinite(port.lo) else 0.0
    hi = port.hi if math.isfinite(port.hi) else 1.0
    default = port.default if math.isfinite(port.default) else lo
    if port.rate_relative:
        if not lo <= default <= hi:  # a default already in Hz, as some bundles write it
            default /= NOMINAL_RATE
        lo, hi, default = lo * NOMINAL_RATE, hi * NOMINAL_RATE, default * NOMINAL_RATE
    if hi <= lo:
        hi = lo + 1.0
    default = min(max(default, lo), hi)
    scale = "log" if port.log and lo > 0 else "lin"
    return Param(SLOT_OWNED.get(port.symbol, port.symbol), default, lo, hi, unit=port.unit, scale=scale,  # type: ignore[arg-type]
                 smoothing_ms=0.0, doc=port.name + (" (toggle)" if port.toggled else ""))


class LV2Processor(Processor):
    """An LV2 plugin by URI (slot key ``uri``): its control ports are its params.

    Examples
    --------
    >>> amp = host.create("lv2", "http://plugin.org.uk/swh-plugins/amp", gain=6.0)  # doctest: +SKIP
    >>> amp.prepare(48000, 256, 2); amp.process(block)                            # doctest: +SKIP
    """

    name = "lv2"
    kernel = lv2_kernel
    location_key = "uri"
    plugin_name: ClassVar[str] = ""
    ports: ClassVar[tuple[Port, ...]] = ()
    _cache: ClassVar[dict[str, type[LV2Processor]]] = {}

    @classmethod
    def at(cls, location: str) -> type[Processor]:
        """The class for the installed LV2 plugin ``location`` (its URI); PluginLoadError if unusable."""
        if location in cls._cache:
            return cls._cache[location]
        w = lilv()
        with w.lock:
            plugin = w.plugin(location)
            missing = sorted(set(w.nodes(w.lib.lilv_plugin_get_required_features(plugin))) - SUPPORTED_FEATURES)
            if missing:
                raise PluginLoadError(location, f"needs host features mixbridge does not offer: {', '.join(missing)}")
            ports = read_ports(w, plugin)
            name = w.string(w.lib.lilv_plugin_get_name(plugin), free=True)
        bad = [p.symbol for p in ports if p.kind == "other" and not p.optional]
        if bad:
            raise PluginLoadError(location, f"has ports mixbridge does not host (atom/event): {', '.join(bad)}")
        params = tuple(_param(p) for p in ports if p.kind == "control" and p.is_input)
        sub = type("LV2Plugin", (LV2Processor,), {
            "location": location, "plugin_name": name,
            "ports": tuple(ports), "params": params,
            "__doc__": f"LV2 {name} ({location}).",
        })
        cls._cache[location] = sub
        return sub

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self._instances: list[int] = []
        self._finalizer: weakref.finalize | None = None
        self._active = [False]  # shared with the finalizer: LV2 deactivates only what it activated
        self._latency = 0
        self._cv = np.zeros((0, 0, 0), dtype=np.float32)

    @property
    def latency(self) -> int:
        return self._latency

    def _audio(self, is_input: bool) -> list[Port]:
        return [p for p in self.ports if p.kind == "audio" and p.is_input == is_input]

    def allocate(self) -> tuple[np.ndarray, ...]:
        if not self.location:
            raise ParameterError("lv2: no plugin named (give the slot a uri = ...)")
        a_in, a_out = self._audio(True), self._audio(False)
        if len(a_in) == len(a_out) == 1:
            count = self.channels
        elif len(a_in) == len(a_out) == self.channels:
            count = 1
        else:
            raise ParameterError(
                f"lv2 {self.plugin_name}: {len(a_in)} audio in / {len(a_out)} out does not fit a "
                f"{self.channels}-channel chain (mono plugins and plugins with one port per channel do)")
        n = len(self.ports)
        calls = np.zeros((count, 2), dtype=np.int64)
        ports = np.array([p.index for p in self.ports if p.kind == "control" and p.is_input], dtype=np.int64)
        control = np.zeros((count, max(n, 1)), dtype=np.float32)
        ins = np.zeros((count, len(a_in), self.max_block), dtype=np.float32)
        outs = np.zeros((count, len(a_out), self.max_block), dtype=np.float32)
        cv = np.zeros((count, n, self.max_block), dtype=np.float32)  # CV ports: silence in, scratch out
        self._free()
        self._instances = self._instantiate(count)
        self._active = [False]
        self._finalizer = weakref.finalize(self, _free_instances, list(self._instances), self._active)
        for j, inst in enumerate(self._instances):
            desc = ctypes.cast(inst, ctypes.POINTER(Instance)).contents
            calls[j] = (desc.descriptor.contents.run, desc.handle)
            connect = CONNECT(desc.descriptor.contents.connect_port)
            for p in self.ports:
                if p.kind == "control":
                    control[j, p.index] = p.default if math.isfinite(p.default) else 0.0
                    addr = control[j, p.index:].ctypes.data
                elif p.kind == "audio":
                    buf = ins if p.is_input else outs
                    addr = buf[j, (a_in if p.is_input else a_out).index(p)].ctypes.data
                elif p.kind == "cv":
                    addr = cv[j, p.index].ctypes.data
                else:
                    addr = 0  # an optional port of a kind we do not host: left unconnected
                connect(desc.handle, p.index, addr)
        self._cv = cv
        self._latency = 0
        return calls, ports, control, ins, outs

    def _instantiate(self, count: int) -> list[int]:
        w = lilv()
        max_block, min_block = ctypes.c_int32(self.max_block), ctypes.c_int32(1)
        rate = ctypes.c_float(self.sample_rate)
        with w.lock:
            atom_int, atom_float = w.map_uri(None, b"http://lv2plug.in/ns/ext/atom#Int"), \
                w.map_uri(None, b"http://lv2plug.in/ns/ext/atom#Float")
            opts = (Option * 4)(
                Option(0, 0, w.map_uri(None, b"http://lv2plug.in/ns/ext/buf-size#maxBlockLength"), 4, atom_int,
                        ctypes.addressof(max_block)),
                Option(0, 0, w.map_uri(None, b"http://lv2plug.in/ns/ext/buf-size#minBlockLength"), 4, atom_int,
                        ctypes.addressof(min_block)),
                Option(0, 0, w.map_uri(None, b"http://lv2plug.in/ns/ext/parameters#sampleRate"), 4, atom_float,
                        ctypes.addressof(rate)),
                Option(0, 0, 0, 0, 0, None),
            )
            feats = [Feature(URID_MAP.encode(), ctypes.addressof(w.urid_map)),
                     Feature(OPTIONS.encode(), ctypes.addressof(opts)), Feature(BOUNDED.encode(), None)]
            table = (ctypes.c_void_p * (len(feats) + 1))(*[ctypes.addressof(f) for f in feats], None)
            plugin = w.plugin(self.location)
            out = []
            for _ in range(count):
                inst = w.lib.lilv_plugin_instantiate(plugin, self.sample_rate, table)
                if not inst:
                    _free_instances(out, [False])
                    raise PluginLoadError(self.location, f"refused to instantiate at {self.sample_rate:g} Hz")
                out.append(int(inst))
        return out

    def _activate(self, on: bool) -> None:
        if self._active[0] == on:
            return
        self._active[0] = on
        for inst in self._instances:
            desc = ctypes.cast(inst, ctypes.POINTER(Instance)).contents
            fn = desc.descriptor.contents.activate if on else desc.descriptor.contents.deactivate
            if fn:
                HANDLE_CALL(fn)(desc.handle)

    def prepare(self, sample_rate: float, max_block: int, channels: int) -> None:
        super().prepare(sample_rate, max_block, channels)
        w = lilv()
        with w.lock:
            has_latency = w.lib.lilv_plugin_has_latency(w.plugin(self.location))
            index = w.lib.lilv_plugin_get_latency_port_index(w.plugin(self.location)) if has_latency else -1
        if index >= 0:  # plugins report their latency on a control output once they have run
            self.process(np.zeros((channels, 1), dtype=np.float32))
            self._latency = int(round(float(self.state[2][0, index])))
            self.reset()

    def reset(self) -> None:
        """Clear history the LV2 way: deactivate, zero the audio buffers, activate."""
        self.current[:] = self.targets
        if not self._instances:
            return
        self._activate(False)
        for arr in self.state[3:]:
            arr[...] = 0
        self._activate(True)

    def _free(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._instances = []

    def describe(self) -> dict[str, object]:
        d = super().describe()
        if self.location:
            d["uri"] = self.location
        return d


def _free_instances(instances: list[int], active: list[bool]) -> None:
    """Deactivate (if active) and free lilv instances (also run when their processor is collected)."""
    if not instances:
        return
    w = lilv()
    for inst in instances:
        desc = ctypes.cast(inst, ctypes.POINTER(Instance)).contents
        if active[0] and desc.descriptor.contents.deactivate:
            HANDLE_CALL(desc.descriptor.contents.deactivate)(desc.handle)
        w.lib.lilv_instance_free(inst)
    instances.clear()
    active[0] = False


