"""Pictures and the HTML report, checked as a user sees them: what is drawn, and the PNG files themselves."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import plots
from app.cli import main
from app.report_html import Report, add_render_pictures, add_voice_pictures
from core import audio_io, loudness
from core.render import render
from core.session import Loudness, Master, Session, Track

SR = 48000


class KeptReport(Report):
    """A report that also keeps its figures, so a test can read what was drawn."""

    def add(self, name, fig):  # type: ignore[no-untyped-def]
        self.__dict__.setdefault("figures", {})[name] = fig
        return super().add(name, fig)


def line(fig, label: str, axes: int = 0):  # type: ignore[no-untyped-def]
    """The (x, y) data of the line labelled ``label`` on the figure's ``axes``-th axes."""
    for ln in fig.axes[axes].get_lines():
        if ln.get_label() == label:
            return np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
    raise AssertionError(f"no line {label!r}: {[ln.get_label() for ln in fig.axes[axes].get_lines()]}")


def hlines(fig, axes: int = 0) -> list[float]:
    return [float(ln.get_ydata()[0]) for ln in fig.axes[axes].get_lines() if len(set(ln.get_ydata())) == 1]


def assert_picture(path: Path) -> None:
    """A real PNG of the figure's size with something drawn on it (not one flat colour)."""
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] >= 1000 and im.size[1] >= 400
        pixels = np.asarray(im.convert("L"), float)
    assert pixels.std() > 10.0
    assert (pixels < 128).mean() > 0.005  # lines and text, not just the frame


def sine(freq: float, seconds: float, lufs: float) -> np.ndarray:
    """A stereo sine at ``lufs`` (BS.1770: a 1 kHz stereo sine at amplitude a reads 20 log10 a)."""
    t = np.arange(int(seconds * SR)) / SR
    return np.tile(10 ** (lufs / 20) * np.sin(2 * np.pi * freq * t), (2, 1)).astype(np.float32)


def test_spectrum_peaks_at_the_tone() -> None:
    x = sine(1000.0, 2.0, -20.0) + 1e-4 * np.random.default_rng(0).standard_normal((2, 2 * SR)).astype(np.float32)
    f, db = plots.spectrum(x, SR)
    assert f[0] == pytest.approx(20.0) and f[-1] == pytest.approx(20000.0)
    assert abs(np.log2(f[np.argmax(db)] / 1000.0)) < 1 / 12  # within the 1/6-octave band
    assert db.max() - np.median(db) > 40.0


def test_true_peak_track_agrees_with_the_meter() -> None:
    t = np.arange(2 * SR)
    x = 0.5 * np.sin(np.pi / 2 * t + np.pi / 4)  # fs/4, 45 degrees: samples at 0.354, peaks at 0.5 between them
    x[SR:] *= 0.1
    tt, tp = plots.true_peak_track(x[None], SR)
    assert tt.size == 20
    assert tp.max() == pytest.approx(loudness.true_peak_dbtp(x[None], SR), abs=0.01)
    assert tp[2:8] == pytest.approx(-6.02, abs=0.05)  # above the sample peak (-9.03 dBFS)
    assert tp[12:18] == pytest.approx(-26.02, abs=0.05)


def test_loudness_picture_crosses_the_target_where_the_audio_gets_loud(tmp_path: Path) -> None:
    x = np.concatenate([sine(1000.0, 6.0, -30.0), sine(1000.0, 6.0, -10.0)], axis=1)
    fig = plots.loudness_figure({"x": plots.level_tracks(x, SR)}, -20.0, -1.0, "step")
    t, st = line(fig, "x: short-term (3 s)")
    assert st[t <= 6.0] == pytest.approx(-30.0, abs=0.05)
    assert st[t >= 9.0] == pytest.approx(-10.0, abs=0.05)
    crossing = t[np.argmax(st >= -20.0)]
    assert 6.0 < crossing < 6.5  # 9 % of the 3 s window in the loud part already reads -20 LUFS
    tm, mom = line(fig, "x: momentary (400 ms)")
    assert tm[np.argmax(mom >= -20.0)] == pytest.approx(6.1)  # the first 400 ms window reaching into the loud part
    assert -20.0 in hlines(fig, 0) and -1.0 in hlines(fig, 1)
    tp = line(fig, "x: true peak per 100 ms", axes=1)[1]
    assert tp.max() == pytest.approx(-10.0, abs=0.05)
    path = Report(tmp_path, "", "step").add("loudness", fig)
    assert_picture(path)


def test_pitch_picture_shows_the_scale_and_the_correction(host) -> None:  # type: ignore[no-untyped-def]
    voice = host.service("voice")
    t = np.arange(200) * 0.01
    conf = np.where(t < 1.5, 0.9, 0.0)
    sharp = (t, 440.0 * 2 ** (30 / 1200) * np.ones_like(t), conf)
    tuned = (t, 440.0 * np.ones_like(t), conf)
    fig = plots.pitch_figure(sharp, tuned, voice.parse_scale("A minor"), "pitch")
    before, after = line(fig, "before")[1], line(fig, "after")[1]
    assert np.nanmedian(before) == pytest.approx(69.3, abs=1e-6) and np.nanmedian(after) == pytest.approx(69.0)
    assert np.isnan(after[t >= 1.5]).all()  # unvoiced frames are gaps
    notes = hlines(fig)
    assert {67.0, 69.0, 71.0} <= set(notes) and 68.0 not in notes and 70.0 not in notes  # G A B in, G# A# out
    labels = [tk.get_text() for tk in fig.axes[0].get_yticklabels()]
    assert labels == ["G4", "A4", "B4", "C5"]  # the scale notes in the sung range +- 2 semitones


def test_pitch_track_of_a_sung_tone(host) -> None:  # type: ignore[no-untyped-def]
    x = 0.3 * np.sin(2 * np.pi * 220.0 * np.arange(SR) / SR).astype(np.float32)
    _, midi = plots.voiced_midi(*host.service("voice").pitch_track(x[None], SR))
    assert np.nanmedian(midi) == pytest.approx(57.0, abs=0.05)  # A3


def ducked_session(tmp_path: Path) -> Session:
    """Vocal bursts (on 1 s, off 1 s) over noise; the music ducks 6 dB under the vocal; mastered to -16 LUFS."""
    rng = np.random.default_rng(1)
    t = np.arange(4 * SR) / SR
    vocal = (0.3 * np.sin(2 * np.pi * 300.0 * t) * ((t % 2.0) < 1.0)).astype(np.float32)[None]
    music = (0.05 * rng.standard_normal((2, t.size))).astype(np.float32)
    audio_io.write(tmp_path / "vocals.wav", vocal, SR, "float")
    audio_io.write(tmp_path / "music.wav", music, SR, "float")
    return Session(
        name="ducked", sample_rate=SR, tail_s=0.0, base_dir=tmp_path, output_path="out.wav",
        tracks=[Track("vocals", "vocals.wav", processors=[{"plugin": "gain", "params": {"gain_db": -3.0}}]),
                Track("music", "music.wav", processors=[{"plugin": "ducker", "sidechain": "vocals", "params": {
                    "depth_db": 6.0, "threshold_db": -40.0, "attack_ms": 10.0, "release_ms": 50.0}}])],
        master=Master(loudness=Loudness(True, -16.0, -1.0)),
    )


def test_render_pictures_show_the_ducking_and_the_target(tmp_path: Path, host) -> None:  # type: ignore[no-untyped-def]
    session = ducked_session(tmp_path)
    taps = plots.StageTaps(SR)
    result = render(session, host, observe=taps)
    report = KeptReport(tmp_path / "pics", "", "ducked")
    add_render_pictures(report, result, taps, "sources")
    figs = report.figures  # type: ignore[attr-defined]

    t, g = line(figs["gain"], "music chain")
    on, off = ((t % 2.0) > 0.2) & ((t % 2.0) < 0.9), ((t % 2.0) > 1.3) & ((t % 2.0) < 1.9)
    assert np.median(g[on]) == pytest.approx(-6.0, abs=0.3)  # the ducker's depth, read off the picture
    assert np.median(g[off]) == pytest.approx(0.0, abs=0.3)
    assert np.nanmedian(line(figs["gain"], "vocals chain")[1]) == pytest.approx(-3.0, abs=0.1)

    t, st = line(figs["loudness"], "after: short-term (3 s)")
    assert np.median(st) == pytest.approx(result.report["loudness"]["after"]["integrated_lufs"], abs=1.0)
    assert -16.0 in hlines(figs["loudness"], 0) and -1.0 in hlines(figs["loudness"], 1)
    peaks = line(figs["loudness"], "after: true peak per 100 ms", axes=1)[1]
    assert peaks.max() <= -1.0 + 0.05
    assert peaks.max() == pytest.approx(result.report["loudness"]["after"]["true_peak_dbtp"], abs=0.05)

    f, db = line(figs["spectrum"], "before: vocals source")
    assert abs(np.log2(f[np.argmax(db)] / 300.0)) < 1 / 12
    for path in report.paths:
        assert_picture(path)


@pytest.mark.slow
def test_render_report_cli_writes_pictures_and_one_self_contained_page(tmp_path: Path) -> None:
    session = ducked_session(tmp_path)
    session.save(tmp_path / "s.toml")
    out, folder = tmp_path / "out.wav", tmp_path / "report"
    assert main(["render", str(tmp_path / "s.toml"), "-o", str(out), "--report", str(folder)]) == 0
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["gain.png", "loudness.png", "report.html", "spectrum.png"]
    for name in ("gain", "loudness", "spectrum"):
        assert_picture(folder / f"{name}.png")
    page = (folder / "report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 3
    assert base64.b64decode(images[0]) == (folder / "spectrum.png").read_bytes()
    rep = json.loads(out.with_suffix(".json").read_text())
    assert f"{rep['loudness']['after']['integrated_lufs']:.2f} LUFS" in page
    assert f"{rep['loudness']['after']['true_peak_dbtp']:.2f} dBTP" in page
    assert "track:music: ducker" in page and "-16" in page
    rest = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert "//" not in rest and "url(" not in rest and "<script" not in rest and "<link" not in rest  # no fetch

    # --plot: beside the output, named after it
    assert main(["render", str(tmp_path / "s.toml"), "-o", str(tmp_path / "b.wav"), "--plot"]) == 0
    assert {p.name for p in tmp_path.glob("b.*")} >= {"b.wav", "b.json", "b.spectrum.png", "b.loudness.png",
                                                      "b.gain.png", "b.report.html"}


@pytest.fixture
def sharp_vocal(tmp_path: Path) -> Path:
    """A sung A4, 30 cents sharp, 1.5 s then silence (16 kHz)."""
    sr = 16000
    t = np.arange(2 * sr) / sr
    ph = 2 * np.pi * 440.0 * 2 ** (30 / 1200) * t
    x = 0.3 * sum(np.sin(k * ph) / k for k in range(1, 10)) * (t < 1.5)
    path = tmp_path / "sharp.wav"
    audio_io.write(path, x[None].astype(np.float32), sr, "float")
    return path


@pytest.mark.slow
def test_enhance_voice_plot_shows_the_pitch_pulled_onto_the_scale(sharp_vocal: Path, tmp_path: Path, host) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tuned.wav"
    assert main(["enhance", "voice", str(sharp_vocal), "-o", str(out), "--no-vocoder", "--no-prosody",
                 "--autotune", "A minor", "--retune-ms", "0", "--plot"]) == 0
    for name in ("spectrum", "loudness", "pitch"):
        assert_picture(tmp_path / f"tuned.{name}.png")
    page = (tmp_path / "tuned.report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "A minor" in page and "autotune" in page

    x, sr = audio_io.read(sharp_vocal)
    y, _ = audio_io.read(out)
    report = KeptReport(tmp_path / "again", "", "tuned")
    add_voice_pictures(report, x, y, sr, host.service("voice"), "A minor")
    fig = report.figures["pitch"]  # type: ignore[attr-defined]
    assert np.nanmedian(line(fig, "before")[1]) == pytest.approx(69.3, abs=0.05)
    assert np.nanmedian(line(fig, "after")[1]) == pytest.approx(69.0, abs=0.05)
    assert 69.0 in hlines(fig) and 68.0 not in hlines(fig)


def test_validate_mixing_report(tmp_path: Path) -> None:
    a = sine(1000.0, 4.0, -20.0)
    b = sine(1000.0, 4.0, -14.0)
    audio_io.write(tmp_path / "a.wav", a, SR, "float")
    audio_io.write(tmp_path / "b.wav", b, SR, "float")
    assert main(["validate", "mixing", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"),
                 "--report", str(tmp_path / "r")]) == 0
    page = (tmp_path / "r" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "-20.00" in page and "-14.00" in page and "+6.00" in page  # integrated loudness, before/after/change
    assert_picture(tmp_path / "r" / "loudness.png")
