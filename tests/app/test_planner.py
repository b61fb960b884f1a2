"""Song assembly: the session it builds, the plain comparison, and the full `mixbridge mix` run."""

import json
from pathlib import Path

import numpy as np
import pytest

from app.mix_cli import synth_song
from app.planner import STEM_LUFS, plan_mix, run_mix
from core import audio_io
from core.errors import UnknownGenreError
from core.genres import GENRES
from core.session import Session

SR = 48000


@pytest.fixture(scope="module")
def stems(tmp_path_factory) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("stems")
    vocal, music = synth_song(4.0, SR, seed=3)
    audio_io.write(d / "vocals.wav", vocal, SR, "float")
    audio_io.write(d / "music.wav", music, SR, "float")
    return d / "vocals.wav", d / "music.wav"


def test_plan_builds_the_vocal_music_and_master_chains(host, stems) -> None:  # type: ignore[no-untyped-def]
    plan = plan_mix(*stems, host, genre="pop")
    s = plan.session
    vocals, music = s.tracks
    assert [vocals.name, music.name] == ["vocals", "music"]
    assert [p["plugin"] for p in vocals.processors] == ["deesser", "eq", "compressor", "delay", "reverb", "gain"]
    assert next(p for p in vocals.processors if p["plugin"] == "delay")["params"]["bpm"] == s.bpm
    by_plugin = {p["plugin"]: p for p in music.processors}
    assert by_plugin["ducker"]["sidechain"] == "vocals" and by_plugin["dynamic_eq"]["sidechain"] == "vocals"
    assert [p["plugin"] for p in s.master.processors] == ["eq", "stereo_width"]  # eq: flat tone shelves
    # after their chains, the vocal sits the preset's offset above the music, staged around STEM_LUFS
    post = plan.analysis["post_chain_lufs"]
    level_v = post["vocals"] + vocals.gain_db
    level_m = post["music"] + music.gain_db
    assert abs(level_m - STEM_LUFS) < 1e-2 and abs(level_v - level_m - 3.0) < 1e-2
    # the unmasking bands sit at the centres of the most masked bands
    worst = plan.analysis["before"]["masking"]["worst_bands"]
    lo, hi = (float(x) for x in worst[0].split("-"))
    if lo >= 150:
        assert abs(by_plugin["dynamic_eq"]["params"]["b1_freq_hz"] - np.sqrt(lo * hi)) < 0.1
    assert "genre_preset:pop" in plan.enhancement_applied and "loudness" in plan.enhancement_applied
    # the plan is a plain session: it survives a TOML round trip and the render's checks
    again = Session.from_dict(s.to_dict())
    assert again.tracks[1].processors == music.processors


def test_no_intelligent_is_a_level_matched_sum(host, stems) -> None:  # type: ignore[no-untyped-def]
    plan = plan_mix(*stems, host, intelligent=False)
    v, m = plan.session.tracks
    assert not v.processors and not m.processors and not plan.session.master.processors
    assert abs((plan.stem_lufs["vocals"] + v.gain_db) - (plan.stem_lufs["music"] + m.gain_db)) < 1e-2
    assert plan.enhancement_applied == ["level_match", "loudness"]


def test_unknown_genre_is_refused(host, stems) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownGenreError, match="unknown genre 'polka'"):
        plan_mix(*stems, host, genre="polka")


def test_mix_command_writes_wav_and_report(stems, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app.cli import main

    out = tmp_path / "song.wav"
    assert main(["mix", str(stems[0]), str(stems[1]), "-o", str(out), "--genre", "rock",
                 "--save-session", str(tmp_path / "song.toml")]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    audio, sr = audio_io.read(out)
    assert sr == SR and audio.shape[0] == 2 and np.isfinite(audio).all()
    assert rep["genre"] == {"name": "rock", "source": "given", "confidence": None}
    assert "genre_preset:rock" in rep["enhancement_applied"]
    before, after = rep["measurements"]["before"], rep["measurements"]["after"]
    assert abs(after["integrated_lufs"] - (-12.0)) < 0.5  # rock's loudness target
    assert after["true_peak_dbtp"] <= -0.9
    assert after["low_band_correlation"] >= 0.0
    assert after["masking_db"] < before["masking_db"]  # the vocal is less covered after mixing
    assert Session.load(tmp_path / "song.toml").genre == "rock"


def test_reference_mode_and_plain_mode_run(host, stems, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from scipy.signal import butter, sosfilt

    _, music = synth_song(3.0, SR, seed=9)  # another song, brighter and quieter
    ref = (0.3 * sosfilt(butter(1, 2000, "highpass", fs=SR, output="sos"), music)).astype(np.float32)
    audio_io.write(tmp_path / "ref.wav", ref, SR, "float")
    result = run_mix(plan_mix(*stems, host, genre="pop", reference=tmp_path / "ref.wav"), host)
    m = result.report["reference_match"]
    assert m["distance_after_db"] < m["distance_before_db"]
    ref_lufs = plan_mix(*stems, host, genre="pop", reference=tmp_path / "ref.wav").reference["loudness_lufs"]
    assert abs(result.report["loudness"]["after"]["integrated_lufs"] - ref_lufs) < 0.5
    plain = run_mix(plan_mix(*stems, host, intelligent=False), host)
    assert plain.report["enhancement_applied"] == ["level_match", "loudness"]
    assert abs(plain.report["loudness"]["after"]["integrated_lufs"] - (-14.0)) < 0.5


def test_music_chain_in_plugins_toml_ducks_under_vocals(host) -> None:  # type: ignore[no-untyped-def]
    chain = host.chain("music")
    assert chain.sidechain_inputs == {"vocals"}
    chain.prepare(SR, 512, 2)
    t = np.arange(SR) / SR
    music = np.vstack([np.sin(2 * np.pi * 2000 * t)] * 2).astype(np.float32) * 0.3
    vocal = np.where(t >= 0.5, 0.3 * np.sin(2 * np.pi * 220 * t), 0.0)[None].astype(np.float32)
    y = music.copy()
    for i in range(0, SR, 512):
        chain.process(y[:, i : i + 512], {"vocals": vocal[:, i : i + 512]})
    assert np.array_equal(y[:, : SR // 2], music[:, : SR // 2])  # no vocal: untouched
    drop = 20 * np.log10(np.std(y[0, int(0.75 * SR) :]) / np.std(music[0, int(0.75 * SR) :]))
    assert -9.0 < drop < -3.0  # the 3 dB duck plus the skirts of the 1 and 3 kHz bells


def test_analyze_command_reports_masking_and_genre(stems, capsys) -> None:  # type: ignore[no-untyped-def]
    from app.cli import main

    assert main(["analyze", str(stems[0]), str(stems[1]), "--genre"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["vocals"]["band_energy_db"]) == 8
    assert set(out["masking"]) == {"bands", "overall_db", "worst_bands"}
    assert out["genre"]["name"] in GENRES  # a registered genre, or neutral when the classifier abstains
