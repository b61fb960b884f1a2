"""Ping-pong delay: time in ms or a note value at a bpm, feedback filtered in the loop."""

from __future__ import annotations

import numpy as np
from numba import njit

from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor
from core.smoothing import smooth_params
from plugins.biquad import HIGH_PASS, LOW_PASS, design, tick

MAX_MS = 4000.0
SYNCS = ("off", "1/2", "1/4", "1/4d", "1/4t", "1/8", "1/8d", "1/8t", "1/16")
BEATS = np.array([0.0, 2.0, 1.0, 1.5, 2.0 / 3.0, 0.5, 0.75, 1.0 / 3.0, 0.25])  # quarter notes per value
TIME, SYNC, BPM, FEEDBACK, WET, DRY, LOWCUT, HIGHCUT, PINGPONG = range(9)
# info: sample rate, write position, designed low cut, designed high cut
SR, POS, D_LO, D_HI = range(4)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _read(line: np.ndarray, w: int, lag: float) -> float:
    """Linear-interpolated read ``lag`` samples behind write index ``w``."""
    n = line.shape[0]
    k = int(lag)
    f = lag - k
    a = w - k
    if a < 0:
        a += n
    b = a - 1
    if b < 0:
        b += n
    return line[a] * (1.0 - f) + line[b] * f


@njit(cache=True, nogil=True, error_model="numpy")
def delay_kernel(audio, sidechain, targets, current, coefs, info, beats, lines, bq, z):  # type: ignore[no-untyped-def]
    """Two lines: L <- in + fb * F(R out), R <- fb * F(L out) (ping-pong); taps alternate sides.

    With ping-pong off (or mono audio) each channel has its own line fed back to itself.
    F is a high-pass (low cut) then low-pass (high cut), 2nd-order Butterworth each.
    """
    channels, frames = audio.shape
    n = lines.shape[1]
    sr = info[SR]
    moving = True
    for i in range(frames):
        if moving or i % 16 == 0:  # settled parameters are re-checked every 16 samples
            moving = smooth_params(current, targets, coefs)
        if current[LOWCUT] != info[D_LO] or current[HIGHCUT] != info[D_HI]:
            design(HIGH_PASS, current[LOWCUT], 0.0, 0.7071067811865476, sr, bq[0])
            design(LOW_PASS, current[HIGHCUT], 0.0, 0.7071067811865476, sr, bq[1])
            info[D_LO] = current[LOWCUT]
            info[D_HI] = current[HIGHCUT]
        s = int(current[SYNC] + 0.5)
        ms = current[TIME] if s == 0 else beats[s] * 60000.0 / current[BPM]
        lag = min(max(ms * 1e-3 * sr, 1.0), n - 2.0)
        w = int(info[POS])
        fb = current[FEEDBACK]
        wet = current[WET]
        dry = current[DRY]
        if channels == 2 and current[PINGPONG] > 0.5:
            out_l = _read(lines[0], w, lag)
            out_r = _read(lines[1], w, lag)
            x = 0.5 * (np.float64(audio[0, i]) + np.float64(audio[1, i]))
            fl = tick(tick(out_l, bq[0], z[0], 0), bq[1], z[0], 2)
            fr = tick(tick(out_r, bq[0], z[1], 0), bq[1], z[1], 2)
            lines[0, w] = x + fb * fr
            lines[1, w] = fb * fl
            audio[0, i] = dry * audio[0, i] + wet * out_l
            audio[1, i] = dry * audio[1, i] + wet * out_r
        else:
            for c in range(min(channels, 2)):
                out = _read(lines[c], w, lag)
                f = tick(tick(out, bq[0], z[c], 0), bq[1], z[c], 2)
                lines[c, w] = audio[c, i] + fb * f
                audio[c, i] = dry * audio[c, i] + wet * out
        w += 1
        if w == n:
            w = 0
        info[POS] = w


class Delay(Processor):
    """Stereo ping-pong delay with tempo sync and a filtered feedback loop.

    The echo time is ``time_ms``, or with ``sync`` set a note value at ``bpm``
    (processors do not see the session, so the session's bpm is passed as a
    parameter). Ping-pong: the first echo is on the left, the next on the
    right, and so on, each ``feedback`` times the previous one (times the loop
    filters' gain). Mono input (or ping-pong off) echoes on its own channel.

    Examples
    --------
    >>> d = Delay(sync="1/8", bpm=120.0, feedback=0.5); d.prepare(48000, 512, 2)
    >>> round(d.delay_samples())
    12000
    """

    name = "delay"
    params = (
        Param("time_ms", 375.0, 1.0, MAX_MS, unit="ms", scale="log", smoothing_ms=100.0,
              doc="Echo time when sync is off"),
        Param("sync", 0.0, 0, len(SYNCS) - 1, scale="choice", choices=SYNCS,
              doc="Note value synced to bpm (off uses time_ms)"),
        Param("bpm", 120.0, 20.0, 300.0, unit="bpm", smoothing_ms=100.0, doc="Tempo for synced times"),
        Param("feedback", 0.35, 0.0, 0.95, smoothing_ms=20.0, doc="Level of each echo relative to the last"),
        Param("wet", 0.25, 0.0, 1.0, smoothing_ms=20.0, doc="Echo level"),
        Param("dry", 1.0, 0.0, 1.0, smoothing_ms=20.0, doc="Direct level"),
        Param("lowcut_hz", 150.0, 20.0, 2000.0, unit="Hz", scale="log", smoothing_ms=30.0,
              doc="High-pass in the feedback loop"),
        Param("highcut_hz", 7000.0, 1000.0, 20000.0, unit="Hz", scale="log", smoothing_ms=30.0,
              doc="Low-pass in the feedback loop"),
        Param("pingpong", 1.0, 0, 1, scale="choice", choices=("off", "on"), doc="Alternate echoes left/right"),
    )
    kernel = delay_kernel

    def delay_samples(self) -> float:
        """The echo time at the current targets, in samples (needs prepare)."""
        s = int(self.get("sync"))
        ms = self.get("time_ms") if s == 0 else BEATS[s] * 60000.0 / self.get("bpm")
        return ms * 1e-3 * self.sample_rate

    def allocate(self) -> tuple[np.ndarray, ...]:
        n = int(MAX_MS * 1e-3 * self.sample_rate) + 4
        return np.zeros(4), BEATS.copy(), np.zeros((2, n)), np.zeros((2, 5)), np.zeros((2, 4))

    def after_reset(self) -> None:
        info = self.state[0]
        info[SR] = self.sample_rate
        info[D_LO] = info[D_HI] = -1.0
        self.state[1][:] = BEATS


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [Delay]
