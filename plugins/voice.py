"""The voice stage: pitch once, one PSOLA pass (auto-tune + prosody), then the vocoder,
each stage kept only where the quality gate finds it does not make the file worse.

:func:`enhance_voice` is what ``mixbridge enhance voice`` runs; the same stages
are offline processors (``prosody``, ``pitch_correct``, ``vocoder``) that a
session's chain can name.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor
from plugins.autotune import NOTE_NAMES, SCALES, correction_contour, shift_by_contour
from plugins.autotune import parse_scale as parse_scale  # part of the 'voice' service (scale lines in pictures)
from plugins.quality_gate import ESTOI_FLOOR, EXCERPT_S, PESQ_FLOOR, QualityGate

# what may drop each DSP step besides DNSMOS (noise reduction: DNSMOS alone, see plugins.quality_gate)
DSP_GUARDS = {"noise_reduction": (), "eq": ("estoi", "pesq"), "compression": ("estoi", "pesq")}


def enhance_voice(
    audio: np.ndarray,
    sample_rate: int,
    vocoder: bool = True,
    prosody: bool = True,
    autotune_key: str | None = None,
    retune_ms: float = 50.0,
    humanize: float = 0.3,
    vocoder_backend: str = "auto",
    vocos_dir: str | Path | None = None,
    pitch_method: str = "yin",
    pitch_model: str = "tiny",
    vocoder_runtime: str = "auto",
    force_stages: bool = False,
    gate_seconds: float = EXCERPT_S,
    on_stage: Callable[[str, float], None] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Enhance a vocal: optional auto-tune and prosody (one PSOLA pass), then the vocoder.

    Every stage is judged by the quality gate (:mod:`plugins.quality_gate`) on an
    excerpt and kept only where it does not make the file sound worse; when no
    neural vocoder runs, or the one that ran was dropped, the DSP path's steps
    (noise reduction, EQ, compression) are judged one by one. Auto-tune, asked for
    by name, is a deliberate change and is not judged.

    Parameters
    ----------
    audio : float32 array, shape (channels, frames)
    sample_rate : int
        Hz.
    vocoder, prosody : bool
        Stages on or off (the defaults are the reference design's voice stage).
    autotune_key : str, optional
        Turns auto-tune on: "C major", "A minor", "chromatic" or "C,D,E".
    retune_ms, humanize : float
        Auto-tune glide and kept share of natural deviation.
    vocoder_backend, vocos_dir, vocoder_runtime
        See :func:`plugins.vocoder.enhance_vocoder` (``runtime``).
    pitch_method, pitch_model : str
        See :func:`plugins.pitch.track_pitch`; the numba YIN is the default here
        because it keeps the whole stage well above 10x real time ("crepe" is
        the more robust choice for noisy or breathy takes).
    force_stages : bool
        Keep every stage that runs, unjudged (the gate costs DNSMOS, PESQ and
        ESTOI on ``gate_seconds`` of audio per stage).
    gate_seconds : float
        Length of the excerpt the gate measures (the middle of the file).
    on_stage : callable, optional
        Called with (stage name, share done 0..1) as each stage starts (progress).

    Returns
    -------
    audio : float32 array, same shape
    report : dict
        ``stages`` (each with its own report, ``seconds``, ``kept`` and the gate's
        ``gate``: before/after DNSMOS, PESQ and ESTOI against the stage's input,
        and ``reason``), ``kept`` and ``dropped`` (stage names), ``quality_gate``,
        ``seconds``, ``x_realtime``, ``warnings``.

    Examples
    --------
    >>> y, rep = enhance_voice(vocal, 48000, autotune_key="A minor")  # doctest: +SKIP
    >>> [s["stage"] for s in rep["stages"]]                           # doctest: +SKIP
    ['pitch', 'autotune', 'prosody', 'vocoder']
    >>> rep["dropped"]                                                # doctest: +SKIP
    ['vocoder:dsp:compression']
    """
    from plugins.pitch import track_pitch
    from plugins.prosody import enhance_prosody
    from plugins.vocoder import enhance_vocoder

    t_all = time.perf_counter()
    y = np.asarray(audio, dtype=np.float32)
    gate = None if force_stages else QualityGate(sample_rate, y.shape[-1], gate_seconds)
    plan = [*(["pitch"] if prosody or autotune_key else []), *(["autotune"] if autotune_key else []),
            *(["prosody" if prosody else "pitch shift"] if prosody or autotune_key else []),
            *(["vocoder"] if vocoder else [])]

    def starting(name: str) -> None:
        if on_stage is not None:
            on_stage(name, plan.index(name) / len(plan))

    stages: list[dict[str, Any]] = []
    warnings: list[str] = []

    def judged(entry: dict[str, Any], before: np.ndarray, after: np.ndarray, guards: tuple[str, ...]) -> np.ndarray:
        """``after`` if the gate keeps it (or is off), else ``before``; the verdict goes into ``entry``."""
        if gate is None:
            entry.update(kept=True, gate={"reason": "forced: quality gate off"})
            return after
        verdict = gate.judge(before, after, guards)
        entry.update(kept=verdict["kept"], gate=verdict)
        return after if verdict["kept"] else before

    if prosody or autotune_key:
        starting("pitch")
        t0 = time.perf_counter()
        pitch = track_pitch(y, sample_rate, method=pitch_method, model=pitch_model)
        stages.append(
            {
                "stage": "pitch",
                "tracker": f"{pitch_method}:{pitch_model}",
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        extra = None
        if autotune_key:
            starting("autotune")
            t0 = time.perf_counter()
            extra = correction_contour(*pitch, autotune_key, retune_ms, humanize)
            voiced = pitch[2] >= 0.5
            stages.append(
                {
                    "stage": "autotune",
                    "key": autotune_key,
                    "retune_ms": retune_ms,
                    "humanize": humanize,
                    "mean_abs_correction_cents": float(np.abs(extra[voiced]).mean() * 100)
                    if voiced.any()
                    else 0.0,
                    "kept": True,
                    "gate": {"reason": "asked for by key: a deliberate change, not judged"},
                    "seconds": round(time.perf_counter() - t0, 3),
                }
            )
        starting(plan[-2] if vocoder else plan[-1])
        t0 = time.perf_counter()
        if prosody:
            y_p, rep = enhance_prosody(y, sample_rate, pitch=pitch, extra_semitones=extra)
            # with auto-tune, prosody is judged against the auto-tuned voice alone
            base = y if extra is None or gate is None else shift_by_contour(y, sample_rate, *pitch, extra)
            y = judged(rep, base, y_p, ("estoi",))
            rep["seconds"] = round(time.perf_counter() - t0, 3)
            stages.append(rep)
        else:
            y = shift_by_contour(y, sample_rate, *pitch, extra)
            stages[-1]["seconds"] += round(time.perf_counter() - t0, 3)
    if vocoder:
        starting("vocoder")
        t0 = time.perf_counter()
        y_v, rep = enhance_vocoder(y, sample_rate, vocoder_backend, vocos_dir, runtime=vocoder_runtime,
                                   dsp=gate is None)
        warnings += rep["warnings"]
        if rep["vocoder"] != "none":
            y = judged(rep, y, y_v, ("estoi",))
            rep["seconds"] = round(time.perf_counter() - t0, 3)
            stages.append(rep)
        if gate is not None and (rep["vocoder"] == "none" or not rep["kept"]):
            t0 = time.perf_counter()
            why = rep["reason"] if rep["vocoder"] == "none" else f"{rep['vocoder']} dropped by the quality gate"
            y, steps = _gated_dsp(y, sample_rate, judged)
            stages.append({"stage": "vocoder", "vocoder": "dsp", "reason": why, "device": "cpu", "steps": steps,
                           "kept": any(s["kept"] for s in steps), "seconds": round(time.perf_counter() - t0, 3)})
        del y_v
    seconds = time.perf_counter() - t_all
    duration = np.shape(y)[-1] / sample_rate
    names = [_stage_name(s) for s in stages if "kept" in s]
    names += [f"vocoder:dsp:{st['step']}" for s in stages for st in s.get("steps", ())]
    flags = [s["kept"] for s in stages if "kept" in s] + [st["kept"] for s in stages for st in s.get("steps", ())]
    report = {
        "sample_rate": sample_rate,
        "duration_s": round(duration, 3),
        "stages": stages,
        "kept": [n for n, k in zip(names, flags, strict=True) if k],
        "dropped": [n for n, k in zip(names, flags, strict=True) if not k],
        "quality_gate": "off (stages forced)" if gate is None else {
            "judge": "DNSMOS OVRL not lower than the stage's input",
            "guards": f"ESTOI >= {ESTOI_FLOOR} (all but noise reduction), PESQ wb >= {PESQ_FLOOR} "
                      "(EQ, compression) against the stage's input",
            "excerpt_s": round(min(gate_seconds, duration), 2),
            "seconds": round(gate.seconds, 3),
        },
        "seconds": round(seconds, 3),
        "x_realtime": round(duration / seconds, 2) if seconds > 0 else None,
        "warnings": warnings,
    }
    return y, report


def _stage_name(stage: dict[str, Any]) -> str:
    return f"vocoder:{stage['vocoder']}" if stage["stage"] == "vocoder" else str(stage["stage"])


def _gated_dsp(
    y: np.ndarray, sample_rate: int, judged: Callable[[dict[str, Any], np.ndarray, np.ndarray, bool], np.ndarray]
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The DSP path's steps one at a time, each kept only if the gate lets it."""
    from plugins.voice_dsp import DSP_STEPS, enhance_dsp

    steps: list[dict[str, Any]] = []
    for step in DSP_STEPS:
        t0 = time.perf_counter()
        y_s, detail = enhance_dsp(y, sample_rate, (step,))
        entry: dict[str, Any] = {"step": step, **detail}
        y = judged(entry, y, y_s, DSP_GUARDS[step])
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        steps.append(entry)
    return y, steps


class Prosody(Processor):
    """Offline prosody stage: jitter smoothing, vibrato on sustained notes, phrase-end ease.

    Examples
    --------
    >>> p = Prosody(vibrato_cents=15.0); p.prepare(48000, 48000, 1)  # doctest: +SKIP
    """

    name = "prosody"
    realtime = False
    whole_track = True
    params = (
        Param("smooth_hz", 6.0, 0.0, 20.0, unit="Hz", doc="Pitch jitter above this is removed"),
        Param("vibrato_cents", 20.0, 0.0, 100.0, unit="cents", doc="Vibrato depth on long notes"),
        Param("vibrato_hz", 5.5, 3.0, 8.0, unit="Hz", doc="Vibrato rate"),
        Param("phrase_end_db", -3.0, -12.0, 0.0, unit="dB", doc="Level at each phrase's end"),
    )
    last_report: dict[str, Any] | None = None

    def process(self, audio: np.ndarray, sidechain: np.ndarray | None = None) -> None:
        from plugins.prosody import enhance_prosody

        v = self.values()
        y, self.last_report = enhance_prosody(
            audio,
            int(self.sample_rate),
            v["smooth_hz"],
            v["vibrato_cents"],
            v["vibrato_hz"],
            v["phrase_end_db"],
        )
        audio[...] = y


class PitchCorrect(Processor):
    """Offline auto-tune (tracked pitch + formant-preserving PSOLA) to a key.

    Examples
    --------
    >>> p = PitchCorrect(key="A", scale="minor"); p.prepare(48000, 48000, 1)  # doctest: +SKIP
    """

    name = "pitch_correct"
    realtime = False
    whole_track = True
    params = (
        Param("key", 0.0, 0, 11, scale="choice", choices=NOTE_NAMES, doc="Root of the scale"),
        Param("scale", 1.0, 0, 5, scale="choice", choices=tuple(SCALES), doc="Scale"),
        Param("retune_ms", 50.0, 0.0, 1000.0, unit="ms", doc="Correction glide time"),
        Param("humanize", 0.3, 0.0, 1.0, doc="Share of vibrato and small deviations kept"),
    )
    last_report: dict[str, Any] | None = None

    def process(self, audio: np.ndarray, sidechain: np.ndarray | None = None) -> None:
        from plugins.autotune import autotune

        v = self.values()
        scale = tuple(SCALES)[int(v["scale"])]
        key = scale if scale == "chromatic" else f"{NOTE_NAMES[int(v['key'])]} {scale}"
        y, self.last_report = autotune(
            audio, int(self.sample_rate), key, v["retune_ms"], v["humanize"]
        )
        audio[...] = y


def pitch_track(audio: np.ndarray, sample_rate: int, method: str = "yin") -> tuple[np.ndarray, ...]:
    """The voice stage's pitch tracker on ``audio``: (times s, f0 Hz, confidence 0..1), for pictures and reports."""
    from plugins.pitch import track_pitch

    return track_pitch(audio, sample_rate, method=method)


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [Prosody, PitchCorrect]


@hookimpl
def mixbridge_service(name: str) -> object:
    """This module is the 'voice' service."""
    return sys.modules[__name__] if name == "voice" else None
