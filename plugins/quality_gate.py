"""The voice stage's quality gate: a stage is kept only where it does not make the file sound worse.

Each stage's output is compared with its input on one excerpt (the middle
:data:`EXCERPT_S` seconds, scored in DNSMOS windows that cover it once, so the check costs
the same on a 3-minute song as on a phrase). The judge is DNSMOS OVRL, the one measure here of how good speech
sounds without a clean reference (the DNS challenge's own measure of noise
suppression): a stage is dropped when it lowers it. Two measures against the
stage's input guard the stages where they mean something:

- ESTOI (intelligibility), for every stage but noise reduction: the words must
  survive; below :data:`ESTOI_FLOOR` against its input the stage is dropped
  whatever DNSMOS says (DNSMOS can like a smooth sound that says less). Against
  a noisy input, a clean output scores low, so noise reduction is not guarded by it.
- PESQ wb for the stages that should only shade the voice (EQ, compression):
  below :data:`PESQ_FLOOR` against its input the step changed the voice, not its
  tone. Elsewhere PESQ against the stage's input measures the intended change,
  not damage (a vocoder re-synthesises the phase, prosody moves the pitch, noise
  reduction removes what the input had): it is reported, never judged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.audio_io import middle
from core.errors import AudioFileError

EXCERPT_S = 18.0  # two DNSMOS windows (9.01 s each): two model runs per measurement
ESTOI_FLOOR = 0.6
PESQ_FLOOR = 3.0


def _round(m: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in m.items()}


@dataclass
class QualityGate:
    """Judges stages on the middle excerpt of a signal of ``frames`` frames.

    Parameters
    ----------
    sample_rate : int
        Hz.
    frames : int
        Length of the signal the stages run on (they keep it).
    excerpt_s : float
        Seconds measured (all of a shorter signal).

    Examples
    --------
    >>> gate = QualityGate(48000, vocal.shape[-1])                 # doctest: +SKIP
    >>> verdict = gate.judge(vocal, vocal_eq, guards=("estoi", "pesq"))  # doctest: +SKIP
    >>> verdict["kept"], verdict["reason"]                          # doctest: +SKIP
    (False, 'DNSMOS OVRL 2.910 -> 2.810 (-0.100): lower')
    """

    sample_rate: int
    frames: int
    excerpt_s: float = EXCERPT_S
    seconds: float = 0.0
    _last: tuple[np.ndarray, dict[str, float]] | None = field(default=None, repr=False)

    @property
    def span(self) -> slice:
        """The excerpt measured, in frames."""
        return middle(self.frames, self.sample_rate, self.excerpt_s)

    def excerpt(self, audio: np.ndarray) -> np.ndarray:
        """The measured excerpt of ``audio`` (mono mix), float32."""
        a = np.asarray(audio, dtype=np.float32)
        a = a.mean(axis=0) if a.ndim == 2 else a
        return a[self.span] if a.size == self.frames else a

    def _dnsmos(self, excerpt: np.ndarray) -> dict[str, float]:
        """DNSMOS of an excerpt; the last one is remembered (a kept stage's output is the next one's input)."""
        from plugins.metrics import dnsmos

        if self._last is not None and np.array_equal(self._last[0], excerpt):
            return self._last[1]
        m = dnsmos(excerpt, self.sample_rate, spread=True)
        self._last = (excerpt.copy(), m)
        return m

    def judge(self, before: np.ndarray, after: np.ndarray, guards: tuple[str, ...] = ("estoi",)) -> dict[str, Any]:
        """Whether ``after`` (the stage's output) may replace ``before`` (its input), and why.

        ``before`` and ``after`` are whole signals of ``frames`` frames or already the
        excerpt. ``guards``: which of "estoi" and "pesq" (against ``before``) may drop
        the stage besides DNSMOS (see the module's docstring).

        Returns
        -------
        dict
            ``kept``, ``reason``, ``before`` and ``after`` (DNSMOS sig/bak/ovrl/p808;
            after also ``pesq_wb`` and ``estoi`` against ``before``), ``excerpt_s``
            (start, end).
        """
        from plugins.metrics import pesq_score, stoi_score

        t0 = time.perf_counter()
        b, a = self.excerpt(before), self.excerpt(after)
        span = self.span
        verdict: dict[str, Any] = {
            "excerpt_s": [round(span.start / self.sample_rate, 2), round(span.stop / self.sample_rate, 2)]
        }
        try:
            m0 = self._dnsmos(b)
            m1 = dict(self._dnsmos(a))
            m1["pesq_wb"] = pesq_score(b, a, self.sample_rate, "wb")
            m1["estoi"] = stoi_score(b, a, self.sample_rate, extended=True)
        except AudioFileError as e:
            verdict.update(kept=True, reason=f"not measured ({e}); kept as asked", before=None, after=None)
            self.seconds += time.perf_counter() - t0
            return verdict
        d = m1["ovrl"] - m0["ovrl"]
        why = f"DNSMOS OVRL {m0['ovrl']:.3f} -> {m1['ovrl']:.3f} ({d:+.3f})"
        if d < 0:
            kept, why = False, f"{why}: lower"
        elif "estoi" in guards and m1["estoi"] < ESTOI_FLOOR:
            kept, why = False, f"{why} but ESTOI against its input {m1['estoi']:.3f} < {ESTOI_FLOOR}: words lost"
        elif "pesq" in guards and m1["pesq_wb"] < PESQ_FLOOR:
            kept, why = False, f"{why} but PESQ against its input {m1['pesq_wb']:.2f} < {PESQ_FLOOR}: voice changed"
        else:
            kept, why = True, f"{why}: not lower; ESTOI {m1['estoi']:.3f}, PESQ {m1['pesq_wb']:.2f} against its input"
        verdict.update(kept=kept, reason=why, before=_round(m0), after=_round(m1))
        self.seconds += time.perf_counter() - t0
        return verdict
