"""The complete song pipeline: every stage, its switches, its fallbacks, and `mixbridge song`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from app.cli import main
from app.song import generate_complete_song_with_enhancement
from core.files import OutputError
from core.host import PluginHost
from core.settings import EnhancementSettings

LYRICS = "Light on the water, I hear you calling\nHold on to the morning\n"
STAGES = ["vocals", "voice_enhancement", "music", "recommendations", "mix_and_master", "preview",
          "quality_metrics", "memory"]


def settings(**changes: object) -> EnhancementSettings:
    return replace(EnhancementSettings(), enable_neural_vocoder=False, enable_caching=False, **changes)


def test_complete_song_is_mixed_mastered_previewed_measured_and_remembered(host: PluginHost, tmp_path: Path) -> None:
    from memory.service import MemoryService

    memory = MemoryService(f"sqlite:///{tmp_path / 'memory.db'}", chroma_path=tmp_path / "chroma")
    rep = generate_complete_song_with_enhancement(LYRICS, "pop", 100, "A minor", 12.0, tmp_path / "out",
                                                  user="alice", settings=settings(), host=host, memory=memory)
    assert [s["stage"] for s in rep["stages"]] == STAGES
    assert all("seconds" in s for s in rep["stages"]), rep["stages"]  # every stage ran, none failed
    assert rep["warnings"] == []
    song, sr = sf.read(rep["outputs"]["song"], dtype="float64")
    assert sr == 48000 and song.shape == (12 * 48000, 2)
    after = rep["mix"]["loudness"]["after"]
    lufs = pyloudnorm.Meter(sr).integrated_loudness(song)
    assert lufs == pytest.approx(after["integrated_lufs"], abs=0.1)
    assert after["true_peak_dbtp"] <= -0.95
    preview, _ = sf.read(rep["outputs"]["preview"], dtype="float64")
    assert preview.shape == song.shape  # a song shorter than 30 s previews whole
    assert np.abs(preview[:48]).max() < 1e-3 * np.abs(preview).max()  # faded in
    assert np.abs(preview[-48:]).max() < 1e-3 * np.abs(preview).max()  # and out
    q = rep["quality_metrics"]
    assert set(q) == {"pesq", "stoi", "mos", "overall"} and all(v is not None for v in q.values())
    assert "voice_enhancement" in rep["enhancement_applied"] and "master:stereo_width" in rep["enhancement_applied"]
    assert json.loads(Path(rep["outputs"]["report"]).read_text())["render_id"] == rep["render_id"]
    counts = memory.stats()["counts"]
    assert counts["renders"] == 1 and counts["audio_feature_vectors"] == 1
    assert rep["recommendation"] is not None  # asked before the mix, from the genre's defaults


def test_switches_drop_their_stages(host: PluginHost, tmp_path: Path) -> None:
    off = settings(enable_voice_enhancement=False, enable_stereo_imaging=False, enable_sidechain_compression=False,
                   enable_quality_tracking=False, enable_memory_learning=False)
    rep = generate_complete_song_with_enhancement(LYRICS, "rock", 120, "E minor", 6.0, tmp_path, settings=off,
                                                  host=host)
    skipped = {s["stage"] for s in rep["stages"] if s.get("skipped") == "disabled by settings"}
    assert skipped == {"voice_enhancement", "recommendations", "quality_metrics", "memory"}
    assert rep["outputs"]["vocals"].endswith("vocals_raw.wav")
    assert not any(a.startswith(("master:stereo_width", "sidechain_ducking")) for a in rep["enhancement_applied"])
    assert rep["render_id"] is None and rep["quality_metrics"]["pesq"] is None


@pytest.mark.parametrize("fallback", [True, False])
def test_a_failing_optional_stage_is_skipped_only_with_fallback(host: PluginHost, tmp_path: Path,
                                                                fallback: bool) -> None:
    (tmp_path / "preview.wav").mkdir()  # the preview cannot be written: a real failure of an optional stage
    s = settings(enable_voice_enhancement=False, enable_quality_tracking=False, enable_memory_learning=False,
                 fallback_on_error=fallback)
    if not fallback:
        with pytest.raises(OutputError, match="preview.wav: exists and is a directory"):
            generate_complete_song_with_enhancement(LYRICS, "pop", 100, "C major", 5.0, tmp_path, settings=s,
                                                    host=host)
        return
    rep = generate_complete_song_with_enhancement(LYRICS, "pop", 100, "C major", 5.0, tmp_path, settings=s, host=host)
    assert rep["success"] and Path(rep["outputs"]["song"]).is_file()
    (warning,) = [w for w in rep["warnings"] if w.startswith("preview failed")]
    assert "preview.wav" in warning
    assert next(st for st in rep["stages"] if st["stage"] == "preview")["failed"]


def test_song_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    lyrics = tmp_path / "lyrics.txt"
    lyrics.write_text(LYRICS)
    monkeypatch.setenv("ENABLE_NEURAL_VOCODER", "false")
    monkeypatch.setenv("ENABLE_QUALITY_TRACKING", "false")
    assert main(["song", "--lyrics", str(lyrics), "--genre", "jazz", "--duration", "5", "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    render_id = out.split("render id ")[1].split()[0]
    assert (tmp_path / "o" / "song.wav").is_file() and (tmp_path / "o" / "preview.wav").is_file()
    assert main(["rate", render_id, "--overall", "4"]) == 0  # what `song` prints can be rated
    assert main(["song", "--lyrics", str(tmp_path / "nope.txt"), "-o", str(tmp_path / "o")]) == 1
    assert "--lyrics" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_song_voice_api_serves_every_request(tmp_path: Path) -> None:
    """The /voice half of `mixbridge bench song`: real HTTP clients, each file in the bench user's folder."""
    from app.song_cli import bench_voice_api

    res = bench_voice_api(tmp_path, settings(enable_quality_tracking=False, enable_memory_learning=False), 2, 2)
    assert res["failures"] == [] and res["requests"] == 2
    assert res["audio_seconds_per_s"] > 0 and res["latency_s"]["max"] >= res["latency_s"]["median"] > 0
