"""Fuse a prepared chain into one compiled PortAudio callback (a numba ``cfunc``).

Every processor kernel has the same shape, ``kernel(audio, sidechain, targets,
current, coefs, *state)`` over numpy arrays, so the chain can be written out as
straight-line code: each array is rebuilt from its address (a table reached
through PortAudio's ``userData``) with ``numba.carray``, then the kernels and the
slot mixing run in order. No Python runs per block, so neither the GIL nor the
garbage collector can delay the audio thread.

The table holds addresses only; the arrays stay owned by the processors, so a
parameter change is one float store into ``targets`` and never a rebuild. A
structure change (slots added, removed, re-prepared) needs a new FusedChain.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import carray, cfunc, types
from numba.core import cgutils
from numba.extending import intrinsic

from core.chain import BYPASS, MIX, WET, Chain, mix_kernel, push_kernel
from core.errors import RealtimeError

# PaStreamCallback: int (const void*, void*, unsigned long, const PaStreamCallbackTimeInfo*,
#                        PaStreamCallbackFlags, void*)
CALLBACK_SIG = types.intc(types.voidptr, types.voidptr, types.uint64, types.voidptr, types.uint64, types.voidptr)

# PortAudio status flags
INPUT_UNDERFLOW, INPUT_OVERFLOW, OUTPUT_UNDERFLOW, OUTPUT_OVERFLOW = 1, 2, 4, 8

# stats layout (float64): counters, peak meters, then a ring of callback durations in ns
CALLBACKS, XRUNS, NONFINITE, IN_OVERFLOWS, OUT_UNDERFLOWS, DUR_POS, LAST_NS, MAX_NS, FIRST_XRUN, LAST_XRUN = range(10)
IN_PEAK, OUT_PEAK = 10, 11  # linear peak of the input and output, held and falling like a meter
STATS_HEAD = 12
PEAK_FALL_S = 0.7  # meter fall time constant: about 12 dB/s, a peak programme meter's return
DUR_RING = 16384

# parameter queue: records (target table index, element, value); control: [written, applied]
QUEUE_CAP = 4096

# fixed table slots before the per-array entries
T_STATS, T_WORK, T_QUEUE, T_QCTL, T_CLOCK, T_FIXED = 0, 1, 2, 3, 4, 5


@intrinsic
def as_pointer(typingctx: Any, address: Any) -> Any:
    """int64 address -> void* (the table stores plain integers)."""
    sig = types.voidptr(address)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


@intrinsic
def address_of(typingctx: Any, pointer: Any) -> Any:
    """void* -> int64 (to test for NULL)."""
    sig = types.int64(pointer)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ptrtoint(args[0], cgutils.intp_t)

    return sig, codegen


_libc = ctypes.CDLL(ctypes.util.find_library("c"))
clock_gettime = _libc.clock_gettime
clock_gettime.argtypes = (ctypes.c_int, ctypes.c_void_p)
clock_gettime.restype = ctypes.c_int
CLOCK_MONOTONIC = 1


class FusedChain:
    """A prepared Chain compiled into one PortAudio callback.

    Parameters
    ----------
    chain : Chain
        Already prepared with ``(sample_rate, max_block, channels)``; real-time only.
    channels_in, channels_out : int
        Interleaved channel counts of the stream's input and output buffers.

    Examples
    --------
    >>> fused = FusedChain(chain, 2, 2)            # doctest: +SKIP
    >>> fused.address                               # a PaStreamCallback* as an int   # doctest: +SKIP
    """

    def __init__(self, chain: Chain, channels_in: int, channels_out: int) -> None:
        chain.check_realtime()
        if not chain.max_block:
            raise RealtimeError(f"chain {chain.name!r} must be prepared before it is fused")
        self.chain = chain
        self.channels = chain.channels
        self.max_block = chain.max_block
        self.channels_in, self.channels_out = channels_in, channels_out
        self.stats = np.zeros(STATS_HEAD + DUR_RING, dtype=np.float64)
        self.work = np.zeros((self.channels, self.max_block), dtype=np.float32)
        self.queue = np.zeros((QUEUE_CAP, 3), dtype=np.float64)
        self.qctl = np.zeros(2, dtype=np.int64)
        self.clock = np.zeros(2, dtype=np.int64)
        self.arrays: list[np.ndarray] = [self.stats, self.work, self.queue, self.qctl, self.clock]
        self.target_index: dict[int, int] = {}  # id(targets or ctrl array) -> table index
        self._post_lock = threading.Lock()  # between control threads only; the callback never takes it
        self._source, namespace = self._generate()
        self.table = np.array([a.ctypes.data for a in self.arrays], dtype=np.int64)
        exec(compile(self._source, f"<fused chain {chain.name}>", "exec"), namespace)
        self.python_callback: Callable[..., int] = namespace["callback"]
        # numpy's error model: a float division by zero gives inf/nan (silenced and counted
        # below) instead of an exception, which could not leave a C callback anyway
        self.compiled = cfunc(CALLBACK_SIG, nopython=True, nogil=True, error_model="numpy")(self.python_callback)
        self.address: int = self.compiled.address
        self.user_data: int = self.table.ctypes.data

    def _add(self, arr: np.ndarray, target: bool = False) -> int:
        if not (isinstance(arr, np.ndarray) and arr.flags.c_contiguous):
            raise RealtimeError(f"chain {self.chain.name!r}: kernel state must be C-contiguous numpy arrays")
        self.arrays.append(arr)
        i = len(self.arrays) - 1
        if target:
            self.target_index[id(arr)] = i
        return i

    def _generate(self) -> tuple[str, dict[str, Any]]:
        ns: dict[str, Any] = {
            "np": np, "carray": carray, "as_pointer": as_pointer, "address_of": address_of,
            "clock_gettime": clock_gettime, "mix_kernel": mix_kernel, "push_kernel": push_kernel,
        }
        load: list[str] = []
        body: list[str] = []

        def ref(arr: np.ndarray, target: bool = False) -> str:
            i = self._add(arr, target)
            name = f"a{i}"
            load.append(f"    {name} = carray(as_pointer(tbl[{i}]), {arr.shape!r}, np.{arr.dtype.name})")
            return name

        for j, slot in enumerate(self.chain):
            proc = slot.processor
            kname = f"kernel{j}"
            ns[kname] = type(proc).kernel
            ctrl = ref(slot.ctrl, target=True)
            dry = ref(slot.dry)
            ring = ref(slot.ring)
            pos = ref(slot.pos)
            nosc = ref(proc._no_sidechain)
            args = ", ".join(ref(a, target=(k == 0)) for k, a in enumerate(proc._args))
            has_ring = slot.ring.shape[1] > 0
            body += [
                f"        # slot {j}: {slot.label} ({proc.name})",
                f"        if {ctrl}[{WET}] == 1.0 and {ctrl}[{BYPASS}] == 0.0 and {ctrl}[{MIX}] == 1.0:",
                *([f"            push_kernel(audio, {ring}, {pos})"] if has_ring else []),
                f"            {kname}(audio, {nosc}, {args})",
                "        else:",
                f"            d = {dry}[:, :n]",
                "            d[:, :] = audio",
                f"            {kname}(audio, {nosc}, {args})",
                f"            mix_kernel(audio, d, {ring}, {pos}, {ctrl})",
            ]
        if not body:
            body = ["        pass"]
        c_in, c_out, ch, mb = self.channels_in, self.channels_out, self.channels, self.max_block
        fall_frames = PEAK_FALL_S * self.chain.sample_rate
        src = f'''
def callback(inp, out, frames, time_info, status, user):
    tbl = carray(user, ({len(self.arrays)},), np.int64)
    stats = carray(as_pointer(tbl[{T_STATS}]), ({STATS_HEAD + DUR_RING},), np.float64)
    work = carray(as_pointer(tbl[{T_WORK}]), ({ch}, {mb}), np.float32)
    queue = carray(as_pointer(tbl[{T_QUEUE}]), ({QUEUE_CAP}, 3), np.float64)
    qctl = carray(as_pointer(tbl[{T_QCTL}]), (2,), np.int64)
    clk = carray(as_pointer(tbl[{T_CLOCK}]), (2,), np.int64)
{chr(10).join(load) if load else "    pass"}
    clock_gettime({CLOCK_MONOTONIC}, as_pointer(tbl[{T_CLOCK}]))
    t0 = clk[0] * 1000000000 + clk[1]
    # parameter changes published by control threads since the last block, applied together
    written = qctl[0]
    k = qctl[1]
    while k < written:
        rec = queue[k % {QUEUE_CAP}]
        target = carray(as_pointer(tbl[int(rec[0])]), (int(rec[1]) + 1,), np.float64)
        target[int(rec[1])] = rec[2]
        k += 1
    qctl[1] = k
    total = int(frames)
    has_in = address_of(inp) != 0
    src = carray(inp, (total, {c_in}), np.float32) if has_in else carray(out, (0, {c_in}), np.float32)
    dst = carray(out, (total, {c_out}), np.float32)
    start = 0
    bad = 0
    pin = 0.0
    pout = 0.0
    while start < total:
        n = min({mb}, total - start)
        audio = work[:, :n]
        for i in range(n):
            for c in range({ch}):
                v = src[start + i, min(c, {c_in} - 1)] if has_in else 0.0
                audio[c, i] = v
                if abs(v) > pin:
                    pin = abs(v)
{chr(10).join(body)}
        for i in range(n):
            for c in range({c_out}):
                v = audio[min(c, {ch} - 1), i]
                if not np.isfinite(v):
                    v = 0.0
                    bad += 1
                dst[start + i, c] = v
                if abs(v) > pout:
                    pout = abs(v)
        start += n
    fall = np.exp(-float(total) / {fall_frames!r})
    stats[{IN_PEAK}] = max(pin, stats[{IN_PEAK}] * fall)
    stats[{OUT_PEAK}] = max(pout, stats[{OUT_PEAK}] * fall)
    stats[{CALLBACKS}] += 1.0
    stats[{NONFINITE}] += bad
    if status & {INPUT_OVERFLOW}:
        stats[{IN_OVERFLOWS}] += 1.0
    if status & {OUTPUT_UNDERFLOW}:
        stats[{OUT_UNDERFLOWS}] += 1.0
    if status & {INPUT_OVERFLOW | OUTPUT_UNDERFLOW | INPUT_UNDERFLOW | OUTPUT_OVERFLOW}:
        if stats[{XRUNS}] == 0.0:
            stats[{FIRST_XRUN}] = stats[{CALLBACKS}]
        stats[{XRUNS}] += 1.0
        stats[{LAST_XRUN}] = stats[{CALLBACKS}]
    clock_gettime({CLOCK_MONOTONIC}, as_pointer(tbl[{T_CLOCK}]))
    dt = float(clk[0] * 1000000000 + clk[1] - t0)
    p = int(stats[{DUR_POS}])
    stats[{STATS_HEAD} + p % {DUR_RING}] = dt
    stats[{DUR_POS}] = p + 1
    stats[{LAST_NS}] = dt
    if dt > stats[{MAX_NS}]:
        stats[{MAX_NS}] = dt
    return 0
'''
        return src, ns

    def post(self, changes: list[tuple[np.ndarray, int, float]]) -> None:
        """Queue ``(target_array, index, value)`` changes; the next block applies them all.

        The records are written first and the write count published last with one
        aligned store, so the callback sees either none or all of a batch.
        """
        with self._post_lock:
            w = int(self.qctl[0])
            if w + len(changes) - int(self.qctl[1]) > QUEUE_CAP:
                raise RealtimeError("parameter queue full: the audio thread is not running or far behind")
            records = []
            for arr, idx, value in changes:
                try:
                    tid = self.target_index[id(arr)]
                except KeyError:
                    raise RealtimeError("that parameter is not part of the running chain") from None
                if not 0 <= idx < arr.shape[0]:
                    raise RealtimeError(f"parameter index {idx} out of range")
                records.append((tid, idx, float(value)))
            for k, rec in enumerate(records):
                self.queue[(w + k) % QUEUE_CAP] = rec
            self.qctl[0] = w + len(records)

    def drain(self) -> None:
        """Apply queued changes from Python (when no audio thread is running)."""
        with self._post_lock:
            for k in range(int(self.qctl[1]), int(self.qctl[0])):
                tid, idx, value = self.queue[k % QUEUE_CAP]
                self.arrays[int(tid)][int(idx)] = value
            self.qctl[1] = self.qctl[0]

    def call(self, interleaved_in: np.ndarray, interleaved_out: np.ndarray, status: int = 0) -> None:
        """Run the compiled callback once, as PortAudio would (used by the offline driver)."""
        self.compiled.ctypes(
            interleaved_in.ctypes.data_as(ctypes.c_void_p), interleaved_out.ctypes.data_as(ctypes.c_void_p),
            interleaved_in.shape[0], None, status, ctypes.c_void_p(self.user_data),
        )
