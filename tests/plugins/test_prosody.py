"""Prosody: jitter smoothing, vibrato, phrase-end dynamics, rules and the replacement hook."""

from __future__ import annotations

import numpy as np

from core.hookspecs import hookimpl
from core.host import PluginHost, PluginsConfig
from plugins.pitch import track_pitch
from plugins.prosody import enhance_prosody, predict_prosody, syllables

SR = 16000


def tone(f: np.ndarray) -> np.ndarray:
    ph = 2 * np.pi * np.cumsum(f) / SR
    return (0.3 * sum(np.sin(k * ph) / k for k in range(1, 10))).astype(np.float32)


def pitch(x: np.ndarray):
    return track_pitch(x, SR, method="pyin", fmin_hz=80.0, fmax_hz=600.0)


def jitter_cents(x: np.ndarray) -> float:
    """Frame-to-frame wobble: the contour minus its own 90 ms moving average."""
    _t, f0, conf = pitch(x)
    c = 1200 * np.log2(f0[conf > 0.5] / 220.0)[5:-5]
    smooth = np.convolve(c, np.ones(9) / 9, mode="same")
    return float(np.std((c - smooth)[5:-5]))


def test_tts_jitter_is_smoothed():
    rng = np.random.default_rng(0)
    n = 2 * SR
    steps = np.repeat(rng.standard_normal(n // 320 + 1) * 25.0, 320)[:n]  # 20 ms steps, 25 cents
    x = tone(220.0 * 2 ** (steps / 1200))
    y, rep = enhance_prosody(x, SR, vibrato_cents=0.0, phrase_end_db=0.0, pitch=pitch(x))
    assert y.shape == x.shape
    before, after = jitter_cents(x), jitter_cents(y)
    assert after < before / 2.5
    assert rep["jitter_removed_cents"] > 10


def test_vibrato_on_a_sustained_note():
    x = tone(np.full(SR * 3 // 2, 220.0))
    y, rep = enhance_prosody(
        x, SR, smooth_hz=0.0, vibrato_cents=30.0, vibrato_hz=5.0, phrase_end_db=0.0
    )
    assert rep["vibrato_notes"] == 1
    times, f0, conf = pitch(y)
    mid = (times > 0.5) & (times < 1.0)
    c = 1200 * np.log2(f0[mid] / 220.0)
    assert 30.0 / np.sqrt(2) - 4 < np.std(c) < 30.0 / np.sqrt(2) + 4  # a sine's RMS
    spec = np.abs(np.fft.rfft(c - c.mean(), 1024))
    rate = np.fft.rfftfreq(1024, times[1] - times[0])[np.argmax(spec)]
    assert abs(rate - 5.0) < 0.3
    early = times < 0.12  # the onset is left plain
    assert np.std(1200 * np.log2(f0[early & (conf > 0.5)][3:] / 220.0)) < 3.0


def test_phrase_end_is_eased_down():
    x = tone(np.full(SR, 220.0))
    x = np.concatenate([x, np.zeros(SR // 2, np.float32)])
    y, rep = enhance_prosody(x, SR, smooth_hz=0.0, vibrato_cents=0.0, phrase_end_db=-3.0)
    assert rep["phrase_ends"] == 1

    def rms_db(z: np.ndarray) -> float:
        return 10 * np.log10(np.mean(z.astype(np.float64) ** 2))

    tail = slice(SR - 400, SR - 100)
    body = slice(SR // 4, SR // 2)
    assert abs(rms_db(y[body]) - rms_db(x[body])) < 0.2
    assert -3.6 < rms_db(y[tail]) - rms_db(x[tail]) < -2.4


def test_rules_give_stress_duration_and_pitch():
    s = predict_prosody("Hold the light. Are you there?")
    assert [x["syllable"] for x in s] == ["Hold", "the", "light", "Are", "you", "there"]
    assert [x["stress"] for x in s] == [2, 0, 2, 0, 0, 2]
    assert s[2]["phrase_end"] and s[2]["duration_s"] > s[0]["duration_s"]  # final lengthening
    assert s[2]["pitch_semitones"] < s[0]["pitch_semitones"]  # statement falls
    assert s[5]["pitch_semitones"] > s[4]["pitch_semitones"]  # question rises
    assert syllables("beautiful") == ["beau", "ti", "ful"]
    assert syllables("time") == ["time"]


def test_a_plugin_can_replace_the_rules():
    class Oracle:
        @hookimpl
        def mixbridge_predict_prosody(self, lyrics):
            return [{"syllable": lyrics, "stress": 1, "duration_s": 1.0, "pitch_semitones": 0.0}]

    host = PluginHost(PluginsConfig(modules=[], entry_points=False))
    assert predict_prosody("la", host)[0]["stress"] == 2  # nobody answers: rules
    host.pm.register(Oracle())
    assert predict_prosody("la", host) == [
        {"syllable": "la", "stress": 1, "duration_s": 1.0, "pitch_semitones": 0.0}
    ]
