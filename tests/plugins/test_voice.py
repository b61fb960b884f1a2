"""The voice stage's quality gate on real speech: a stage that makes the file worse is dropped."""

from __future__ import annotations

import glob

import numpy as np
import pytest

from plugins.metrics import dnsmos
from plugins.quality_gate import QualityGate
from plugins.voice import DSP_GUARDS, enhance_voice

SR = 48000
ALSA = sorted(f for f in glob.glob("/usr/share/sounds/alsa/*.wav") if "Noise" not in f)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """Real recorded speech: alsa-utils' channel announcements, one after another (about 11 s)."""
    if not ALSA:
        pytest.skip("alsa-utils' recordings are not installed (apt-get install alsa-utils)")
    from core import audio_io

    parts = []
    for f in ALSA:
        parts += [audio_io.read(f, sample_rate=SR)[0][0], np.zeros(SR // 4, np.float32)]
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def tts() -> np.ndarray:
    from plugins.speech import speak

    return speak("The quick brown fox jumps over the lazy dog, and the evening comes back slowly.", SR)


def noisy(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    n = np.random.default_rng(seed).standard_normal(x.size)
    return (x + np.sqrt(np.mean(x**2)) * 10 ** (-snr_db / 20) * n).astype(np.float32)


def test_gate_drops_what_lowers_quality_and_keeps_what_raises_it(speech):
    gate = QualityGate(SR, speech.size)
    worse = gate.judge(speech, noisy(speech, 10.0), ("estoi", "pesq"))
    assert worse["kept"] is False and worse["reason"].endswith("lower")
    assert worse["after"]["ovrl"] < worse["before"]["ovrl"] - 0.3
    assert worse["after"]["pesq_wb"] < 3.0 and 0.0 < worse["after"]["estoi"] < 1.0
    better = gate.judge(noisy(speech, 10.0), speech, ())
    assert better["kept"] is True and better["after"]["ovrl"] > better["before"]["ovrl"]
    assert better["excerpt_s"] == [0.0, round(speech.size / SR, 2)]  # shorter than the excerpt: all of it


def test_gate_measures_the_middle_excerpt_of_a_long_file(tts):
    long = np.tile(tts, int(np.ceil(40 * SR / tts.size)))[: 40 * SR]
    gate = QualityGate(SR, long.size, excerpt_s=12.0)
    assert (gate.span.start, gate.span.stop) == (14 * SR, 26 * SR)
    v = gate.judge(long, long * 0.5, ("estoi", "pesq"))  # level only: same score, kept
    assert v["kept"] and v["excerpt_s"] == [14.0, 26.0]


def test_intelligibility_guard_drops_a_stage_dnsmos_would_keep(tts):
    """Speech replaced by other speech scores as well, but its words are not the input's."""
    from plugins.speech import speak

    other = speak("Seven purple engines hum beneath a quiet winter harbour tonight.", SR)
    n = min(tts.size, other.size)
    gate = QualityGate(SR, n)
    v = gate.judge(tts[:n], other[:n])
    assert v["after"]["estoi"] < 0.6 and v["kept"] is False
    assert "ESTOI" in v["reason"] or v["after"]["ovrl"] < v["before"]["ovrl"]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["speech", "tts"])
def test_voice_stage_never_lowers_dnsmos_on_real_speech(source, request):
    """The issue's regression: the DSP fallback lowered OVRL on clean speech (2.91 -> 2.81)."""
    x = request.getfixturevalue(source)
    y, rep = enhance_voice(x[None], SR, vocoder_backend="dsp")
    assert y.shape == (1, x.size)
    before, after = dnsmos(x, SR, spread=True)["ovrl"], dnsmos(y, SR, spread=True)["ovrl"]
    assert after >= before
    steps = rep["stages"][-1]["steps"]
    assert [s["step"] for s in steps] == ["noise_reduction", "eq", "compression"]
    for s in [*steps, *(s for s in rep["stages"] if s["stage"] == "prosody")]:
        g = s["gate"]
        guards = DSP_GUARDS.get(s.get("step"), ("estoi",))
        assert s["kept"] == (g["after"]["ovrl"] >= g["before"]["ovrl"]
                             and ("estoi" not in guards or g["after"]["estoi"] >= 0.6)
                             and ("pesq" not in guards or g["after"]["pesq_wb"] >= 3.0))
        assert g["reason"]
    assert set(rep["kept"]) | set(rep["dropped"]) >= {"prosody", "vocoder:dsp:eq", "vocoder:dsp:compression"}
    # every kept step raised or held the score it was given: the chain is monotone
    ovrl = [s["gate"]["after"]["ovrl"] for s in steps if s["kept"]]
    assert ovrl == sorted(ovrl)


def test_forced_stages_keep_everything_unjudged(tts):
    y, rep = enhance_voice(tts[None], SR, vocoder_backend="dsp", prosody=False, force_stages=True)
    assert rep["quality_gate"] == "off (stages forced)"
    assert rep["dropped"] == [] and rep["kept"] == ["vocoder:dsp"]
    from plugins.voice_dsp import enhance_dsp

    np.testing.assert_allclose(y[0], enhance_dsp(tts, SR)[0], atol=1e-6)
