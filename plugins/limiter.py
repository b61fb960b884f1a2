"""True-peak lookahead limiter: 4x-oversampled peak detection (ITU-R BS.1770-4) and a smooth gain.

Signal flow per input sample ``n``:

1. true peak near ``n``: the largest channel's ``|x|`` and the three
   interpolated points of the polyphase 4x FIR (skipped when the last SPAN
   samples are too quiet for any of them to reach the ceiling);
2. required gain ``r[n] = min(1, ceiling / peak)``;
3. running minimum of ``r`` over ``W = D + 3`` samples (a monotonic deque);
4. release: the envelope falls at once and rises with the release time constant;
5. moving average over ``B = D + 1 - GUARD`` samples: a linear ramp that reaches
   the required gain before the peak leaves the ``D``-sample delay line and holds
   it while the interpolator's SPAN-sample reach passes, so neither the samples nor the
   4x-interpolated points of the output exceed the ceiling, and the gain never
   steps (no clicks).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from core.hookspecs import hookimpl
from core.loudness import OVERSAMPLE, TAPS_PER_PHASE, true_peak_phases
from core.params import Param
from core.processor import Processor
from core.smoothing import at_rest, smooth_params

CEILING, RELEASE, LOOKAHEAD = range(3)
SPAN = TAPS_PER_PHASE  # interpolator taps per phase; its centre lags the input by SPAN // 2
GUARD = SPAN + 1  # samples the gain must already hold before and after a peak
# The gain aims a hair below the ceiling so float32 rounding of the output cannot cross it.
MARGIN = 10.0 ** (-0.001 / 20.0)

# info layout (float64): sample rate, smoothed ceiling (linear), release coef,
# box sum, release envelope, loudest interpolator tap-sum, derived coefs stale,
# loudest |x| of the last SPAN samples
SR, CEIL, REL, BOXSUM, ENV, HSUM, STALE, RECENT = range(8)
# pos layout (int64): sample counter, history slot, delay slot, box slot, deque head, deque tail
COUNT, HPOS, DPOS, BPOS, HEAD, TAIL = range(6)


@njit(cache=True, nogil=True, error_model="numpy")
def _derive(current, info):  # type: ignore[no-untyped-def]
    info[CEIL] = MARGIN * 10.0 ** (current[CEILING] / 20.0)
    info[REL] = 1.0 - math.exp(-1.0 / (current[RELEASE] * 1e-3 * info[SR]))


@njit(cache=True, nogil=True, error_model="numpy", fastmath=True)
def _phase_peak(taps, hist, c, start):  # type: ignore[no-untyped-def]
    """Largest |interpolated point| of the three phases (fastmath: the dots vectorise)."""
    peak = 0.0
    for ph in range(taps.shape[0]):
        acc = 0.0
        for k in range(taps.shape[1]):
            acc += taps[ph, k] * hist[c, start + k]
        peak = max(peak, abs(acc))
    return peak


@njit(cache=True, nogil=True, error_model="numpy")
def limiter_kernel(audio, sidechain, targets, current, coefs, info, pos, taps, hist, amax,  # type: ignore[no-untyped-def]
                   delay, box, dq_val, dq_idx, meter):
    """Lookahead true-peak limiter over ``audio`` in place; ``meter[0]`` gets the reduction in dB.

    State shapes: ``taps`` (3, SPAN) phase taps oldest first, ``hist`` (channels,
    2 * SPAN) doubled history ring, ``amax`` (SPAN,) loudest ``|x|`` per sample,
    ``delay`` (channels, D) float32, ``box`` (B,), ``dq_val``/``dq_idx`` (W + 1,).
    """
    channels, frames = audio.shape
    # sizes come from the arrays, not from module constants: numba's cache would
    # keep a constant imported from another module after that module changed
    span = taps.shape[1]
    d_len = delay.shape[1]
    b_len = box.shape[0]
    cap = dq_val.shape[0]
    window = cap - 1
    resting = at_rest(targets, current)
    if info[STALE] != 0.0:
        _derive(current, info)
        info[STALE] = 0.0
    recent = info[RECENT]
    ceil = info[CEIL]
    rel = info[REL]
    hsum = info[HSUM]
    n = pos[COUNT]
    hp = pos[HPOS]
    dp = pos[DPOS]
    bp = pos[BPOS]
    head = pos[HEAD]
    tail = pos[TAIL]
    bsum = info[BOXSUM]
    env = info[ENV]
    g = bsum / b_len
    for i in range(frames):
        if not resting and smooth_params(current, targets, coefs):
            _derive(current, info)
            ceil = info[CEIL]
            rel = info[REL]
        # 1. history and the quiet-signal bound
        loud = 0.0
        for c in range(channels):
            x = audio[c, i]
            hist[c, hp] = x
            hist[c, hp + span] = x
            if abs(x) > loud:
                loud = abs(x)
        leaving = amax[hp]
        amax[hp] = loud
        if loud >= recent:
            recent = loud
        elif leaving == recent:  # the loudest sample left the window: rescan it
            recent = 0.0
            for k in range(span):
                if amax[k] > recent:
                    recent = amax[k]
        peak = recent
        if hsum * recent > ceil:
            # 2. the interpolated points between samples n - 6 and n - 5
            for c in range(channels):
                peak = max(peak, _phase_peak(taps, hist, c, hp + 1))
        hp += 1
        if hp == span:
            hp = 0
        r = ceil / peak if peak > ceil else 1.0
        # 3. running minimum over the window (monotonic deque of (value, index))
        while tail > head and dq_val[(tail - 1) % cap] >= r:
            tail -= 1
        dq_val[tail % cap] = r
        dq_idx[tail % cap] = n
        tail += 1
        while dq_idx[head % cap] <= n - window:
            head += 1
        h = dq_val[head % cap]
        # 4. instant attack, exponential release
        if h < env:
            env = h
        else:
            env += (h - env) * rel
        # 5. moving average: the gain ramps linearly, never steps
        bsum += env - box[bp]
        box[bp] = env
        bp += 1
        if bp == b_len:
            bp = 0
        g = bsum / b_len
        for c in range(channels):
            y = delay[c, dp]
            delay[c, dp] = audio[c, i]
            audio[c, i] = y * g
        dp += 1
        if dp == d_len:
            dp = 0
        n += 1
    if head > cap and tail > cap:  # keep the counters small; only differences matter
        head -= cap
        tail -= cap
    pos[COUNT] = n
    pos[HPOS] = hp
    pos[DPOS] = dp
    pos[BPOS] = bp
    pos[HEAD] = head
    pos[TAIL] = tail
    info[BOXSUM] = bsum
    info[ENV] = env
    info[RECENT] = recent
    meter[0] = -20.0 * math.log10(g) if g > 0.0 else 0.0


class Limiter(Processor):
    """True-peak lookahead limiter (ceiling in dBTP, 4x-oversampled detection).

    ``latency`` is the lookahead in samples (at least GUARD = 25), fixed at
    :meth:`prepare`: a new ``lookahead_ms`` takes effect at the next prepare.
    ``gain_reduction_db`` reads the current reduction for meters.

    Examples
    --------
    >>> lim = Limiter(ceiling_dbtp=-1.0)
    >>> lim.prepare(48000, 1024, 1)
    >>> x = np.zeros((1, 1024), np.float32); x[0, 100] = 2.0
    >>> lim.process(x); round(float(x[0, 100 + lim.latency]), 3)
    0.891
    """

    name = "limiter"
    params = (
        Param("ceiling_dbtp", -1.0, -24.0, 0.0, unit="dBTP", smoothing_ms=20.0,
              doc="No sample or 4x-interpolated peak goes above this"),
        Param("release_ms", 60.0, 1.0, 1000.0, unit="ms", scale="log", smoothing_ms=20.0,
              doc="Time constant of gain recovery"),
        Param("lookahead_ms", 5.0, 1.0, 20.0, unit="ms", smoothing_ms=0.0,
              doc="Delay that lets the gain ramp down before a peak (applied at prepare)"),
    )
    kernel = limiter_kernel

    def __init__(self, **values: object) -> None:
        super().__init__(**values)  # type: ignore[arg-type]
        self._latency = 0

    @property
    def latency(self) -> int:
        return self._latency

    def allocate(self) -> tuple[np.ndarray, ...]:
        d = max(int(round(self.get("lookahead_ms") * 1e-3 * self.sample_rate)), GUARD)
        self._latency = d
        window = d + 3
        return (
            np.zeros(8),
            np.zeros(6, dtype=np.int64),
            np.zeros((OVERSAMPLE - 1, SPAN)),
            np.zeros((self.channels, 2 * SPAN)),
            np.zeros(SPAN),
            np.zeros((self.channels, d), dtype=np.float32),
            np.zeros(d + 1 - GUARD),
            np.zeros(window + 1),
            np.zeros(window + 1, dtype=np.int64),
            np.zeros(1),
        )

    def after_reset(self) -> None:
        info, _, taps, _, _, _, box, _, _, _ = self.state
        taps[:] = true_peak_phases()  # oldest sample first, to dot with the history ring
        info[SR] = self.sample_rate
        info[HSUM] = float(np.abs(taps).sum(axis=1).max())
        info[ENV] = 1.0
        box[:] = 1.0
        info[BOXSUM] = float(len(box))
        info[STALE] = 1.0

    @property
    def gain_reduction_db(self) -> float:
        """Current gain reduction in dB (0 when idle); safe to read from any thread."""
        return float(self.state[-1][0]) if self.state else 0.0


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [Limiter]
