"""mixbridge enhance voice / validate voice|mixing, end to end on files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.cli import main
from core import audio_io

SR = 16000


@pytest.fixture
def sung(tmp_path):
    t = np.arange(2 * SR) / SR
    f = 440.0 * 2 ** (35 / 1200) * np.ones_like(t)
    ph = 2 * np.pi * np.cumsum(f) / SR
    x = 0.3 * sum(np.sin(k * ph) / k for k in range(1, 10))
    x[int(1.6 * SR) :] = 0.0
    x += 0.002 * np.random.default_rng(0).standard_normal(t.size)
    path = tmp_path / "in.wav"
    audio_io.write(path, x[None].astype(np.float32), SR, "float")
    return path


def test_enhance_voice_writes_audio_and_report(sung, tmp_path, capsys):
    out = tmp_path / "out.wav"
    rc = main(
        ["enhance", "voice", str(sung), "-o", str(out), "--vocoder", "dsp", "--autotune", "A major", "--retune-ms", "0"]
    )
    assert rc == 0
    y, sr = audio_io.read(out)
    x, _ = audio_io.read(sung)
    assert sr == SR and y.shape == x.shape
    report = json.loads((tmp_path / "out.wav.json").read_text())
    assert [s["stage"] for s in report["stages"]] == ["pitch", "autotune", "prosody", "vocoder"]
    assert report["stages"][-1]["vocoder"] == "dsp"
    assert report["stages"][1]["mean_abs_correction_cents"] > 25
    assert "x real time" in capsys.readouterr().out


def test_no_vocoder_no_prosody_is_a_copy(sung, tmp_path):
    out = tmp_path / "same.wav"
    assert main(["enhance", "voice", str(sung), "-o", str(out), "--no-vocoder", "--no-prosody"]) == 0
    np.testing.assert_allclose(audio_io.read(out)[0], audio_io.read(sung)[0], atol=1e-6)


def test_validate_voice_and_mixing_json(sung, tmp_path, capsys):
    noisy = tmp_path / "noisy.wav"
    x, _ = audio_io.read(sung)
    audio_io.write(noisy, x + 0.05 * np.random.default_rng(1).standard_normal(x.shape).astype(np.float32), SR, "float")
    assert main(["validate", "voice", str(sung), str(noisy), "--json"]) == 0
    rows = {r["metric"]: r for r in json.loads(capsys.readouterr().out)["metrics"]}
    assert rows["DNSMOS BAK"]["after"] < rows["DNSMOS BAK"]["before"]
    assert rows["STOI vs original"]["after"] < 1.0
    assert main(["validate", "mixing", str(sung), str(noisy), "--json"]) == 0
    rows = {r["metric"]: r for r in json.loads(capsys.readouterr().out)["metrics"]}
    assert rows["high share % (>4 kHz)"]["after"] > rows["high share % (>4 kHz)"]["before"]
    assert main(["validate", "voice", str(sung), str(noisy)]) == 0  # the rich table
    assert "DNSMOS OVRL" in capsys.readouterr().out
