"""``mixbridge bench voice``: x-real-time of every voice stage on a 3-minute vocal.

The vocal is espeak-ng speech at 48 kHz. Vocos runs with randomly initialised
weights of the real mel-24khz size (speed does not depend on the weights).
Slow models (HiFi-GAN, crepe full, pyin) run on an excerpt; x-real-time is
audio seconds over wall seconds either way. Peak memory is the process's peak
resident set after each stage. Speed is reported, never asserted.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.bench_chain import rss_mb

SR = 48000
TEXT = (
    "Every morning she walks down to the river and sings a gentle song about the light. "
    "The quick brown fox jumps over the lazy dog, and the evening comes back slowly. "
)


def vocal(seconds: float) -> np.ndarray:
    """Mono float32 speech of ``seconds`` at 48 kHz (espeak-ng, repeated)."""
    from plugins.speech import speak

    line = speak(TEXT, SR)
    reps = int(np.ceil(seconds * SR / line.size))
    return np.tile(line, reps)[: int(seconds * SR)].astype(np.float32)


def _time(name: str, seconds: float, fn: Callable[[], Any], results: list[dict[str, Any]]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    results.append(
        {
            "stage": name,
            "audio_s": round(seconds, 1),
            "wall_s": round(wall, 3),
            "x_realtime": round(seconds / wall, 2),
            "peak_rss_mb": round(rss_mb()[1], 1),
        }
    )
    print(f"  {name:<42} {seconds / wall:8.2f}x  ({wall:.2f} s for {seconds:.0f} s)", flush=True)
    return out


def _pedalboard_dsp(x: np.ndarray) -> np.ndarray:
    import pedalboard as pb

    from plugins.voice_dsp import DEMUD_DB, DEMUD_HZ, DEMUD_Q, HIGHPASS_HZ, PRESENCE_DB, PRESENCE_HZ, PRESENCE_Q

    board = pb.Pedalboard(
        [
            pb.NoiseGate(threshold_db=-50.0),
            pb.HighpassFilter(HIGHPASS_HZ),
            pb.PeakFilter(DEMUD_HZ, DEMUD_DB, DEMUD_Q),
            pb.PeakFilter(PRESENCE_HZ, PRESENCE_DB, PRESENCE_Q),
            pb.Compressor(threshold_db=-20.0, ratio=2.0, attack_ms=10.0, release_ms=120.0),
        ]
    )
    return board(x, SR)


def run_bench(seconds: float = 180.0, slow_seconds: float = 30.0) -> dict[str, Any]:
    """Time every stage; print a line each and return the table (dict for JSON)."""
    import torch

    from plugins.autotune import AutoTune, autotune, correction_contour, shift_by_contour
    from plugins.metrics import dnsmos, pesq_score, stoi_score
    from plugins.pitch import torch_threads, track_pitch
    from plugins.prosody import enhance_prosody
    from plugins.vocoder import enhance_vocoder, hifigan_resynthesize, load_hifigan, load_vocos, random_vocos_dir
    from plugins.voice import enhance_voice
    from plugins.voice_dsp import enhance_dsp

    torch.set_num_threads(torch_threads())
    x = vocal(seconds)
    ex = x[: int(slow_seconds * SR)]
    slow = ex.size / SR
    res: list[dict[str, Any]] = []
    print(
        f"voice bench: {seconds:.0f} s vocal at {SR} Hz, torch threads {torch.get_num_threads()}, "
        f"device {'cuda' if torch.cuda.is_available() else 'cpu'}"
    )
    with tempfile.TemporaryDirectory() as d:
        vdir = random_vocos_dir(Path(d))
        load_vocos(str(vdir), "cuda" if torch.cuda.is_available() else "cpu")  # load outside timing
        _time("vocoder: Vocos mel-24khz (random weights)", seconds, lambda: enhance_vocoder(x, SR, "vocos", vdir), res)
        synth = load_hifigan("cuda" if torch.cuda.is_available() else "cpu")
        _time("vocoder: HiFi-GAN V1 universal", slow, lambda: hifigan_resynthesize(ex, SR, synth), res)
        _time("vocoder: DSP enhancement", seconds, lambda: enhance_dsp(x, SR), res)
        _time("  pedalboard gate+EQ+compressor (compare)", seconds, lambda: _pedalboard_dsp(x[None]), res)
        track_pitch(x[:SR], SR, method="crepe", model="tiny")  # load the model outside timing
        yin = _time("pitch: numba YIN (+refine)", seconds, lambda: track_pitch(x, SR, method="yin"), res)
        _time("pitch: torchcrepe tiny (viterbi)", seconds, lambda: track_pitch(x, SR, model="tiny"), res)
        _time("pitch: torchcrepe full (viterbi)", slow, lambda: track_pitch(ex, SR, model="full"), res)
        _time("pitch: librosa pyin", slow, lambda: track_pitch(ex, SR, method="pyin"), res)
        _time("autotune offline (YIN + PSOLA)", seconds, lambda: autotune(x, SR, "A minor", method="yin"), res)
        corr = correction_contour(*yin, "A minor", 50.0, 0.3)
        _time("  PSOLA shift alone", seconds, lambda: shift_by_contour(x, SR, *yin, corr), res)

        def pb_shift() -> Any:
            import pedalboard as pb

            return pb.Pedalboard([pb.PitchShift(semitones=0.35)])(x[None], SR)

        _time("  pedalboard PitchShift, fixed (compare)", seconds, pb_shift, res)

        def rt() -> np.ndarray:
            at = AutoTune(key="A", scale="minor")
            at.prepare(SR, 256, 1)
            y = x[None].copy()
            for s in range(0, y.shape[1], 256):
                at.process(y[:, s : s + 256])
            return y

        at = AutoTune()
        at.prepare(SR, 256, 1)
        at.process(np.zeros((1, 256), np.float32))  # compile outside timing
        _time("autotune real time (256-sample blocks)", seconds, rt, res)
        _time("prosody on the YIN pitch above (PSOLA)", seconds, lambda: enhance_prosody(x, SR, pitch=yin), res)
        _time(
            "voice stage default: prosody + Vocos",
            seconds,
            lambda: enhance_voice(x[None], SR, vocoder_backend="vocos", vocos_dir=vdir),
            res,
        )
        _time(
            "voice stage + auto-tune",
            seconds,
            lambda: enhance_voice(x[None], SR, autotune_key="A minor", vocoder_backend="vocos", vocos_dir=vdir),
            res,
        )
    noisy = x + 0.01 * np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    _time("metric: PESQ wb", seconds, lambda: pesq_score(x, noisy, SR, "wb"), res)
    _time("metric: PESQ nb", seconds, lambda: pesq_score(x, noisy, SR, "nb"), res)
    _time("metric: STOI", seconds, lambda: stoi_score(x, noisy, SR), res)
    _time("metric: ESTOI", seconds, lambda: stoi_score(x, noisy, SR, extended=True), res)
    _time("metric: DNSMOS (SIG/BAK/OVRL/P808)", seconds, lambda: dnsmos(noisy, SR), res)
    return {
        "sample_rate": SR,
        "seconds": seconds,
        "slow_seconds": slow,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "results": res,
    }
