"""Every output is a rateable render, for the user who made it; genres by any alias, one error for others."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import _log_level, main
from core.errors import SessionError, UnknownGenreError
from core.genres import resolve
from core.session import Session, Track

SR = 24000


@pytest.fixture
def stems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A vocal and a stereo instrumental (3 s) in a fresh data directory (own memory database)."""
    monkeypatch.setenv("MIXBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MIXBRIDGE_DATABASE_URL", raising=False)
    t = np.arange(3 * SR) / SR
    f0 = 220 * 2 ** (np.floor(t * 2) / 12)
    voice = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / SR) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    sf.write(str(tmp_path / "v.wav"), voice, SR)
    music = np.stack([0.2 * np.sin(2 * np.pi * 110 * t), 0.2 * np.sin(2 * np.pi * 165 * t)]).T
    sf.write(str(tmp_path / "m.wav"), music, SR)
    return tmp_path


def _render_id(out: str) -> str:
    line = next(x for x in out.splitlines() if x.startswith("render id "))
    return line.split()[2]


def test_mix_records_a_render_the_user_can_rate(stems: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mix", str(stems / "v.wav"), str(stems / "m.wav"), "-o", str(stems / "mix.wav"),
                 "--genre", "rnb", "--sample-rate", str(SR), "--user", "bob"]) == 0
    out = capsys.readouterr().out
    rid = _render_id(out)
    rep = json.loads((stems / "mix.json").read_text())
    assert rep["render_id"] == rid and rep["genre"]["name"] == "r&b"  # the alias resolved
    assert main(["rate", rid, "--overall", "4", "--user", "bob"]) == 0
    assert main(["rate", rid, "--overall", "4", "--user", "alice"]) == 1
    assert "another user" in capsys.readouterr().err


def test_render_user_rates_their_own_render(stems: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Session(name="s", genre="Hip Hop", base_dir=stems, output_path="out.wav", tail_s=0.0,
            sample_rate=SR, tracks=[Track("v", "v.wav", processors=[{"plugin": "compressor"}])]
            ).save(stems / "s.toml")
    assert Session.load(stems / "s.toml").genre == "hip-hop"
    assert main(["render", str(stems / "s.toml"), "--user", "carol"]) == 0
    rid = _render_id(capsys.readouterr().out)
    assert main(["rate", rid, "--overall", "5", "--user", "carol"]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert stored["render_id"] == rid


def test_render_batch_and_enhance_voice_are_rateable(stems: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b"):
        Session(name=name, base_dir=stems, output_path=f"{name}.wav", tail_s=0.0, sample_rate=SR,
                tracks=[Track("v", "v.wav")]).save(stems / f"{name}.toml")
    assert main(["render-batch", str(stems / "a.toml"), str(stems / "b.toml"), "--workers", "1",
                 "--user", "dan", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    ids = [r["render_id"] for r in results]
    assert all(ids) and len(set(ids)) == 2
    assert json.loads((stems / "a.json").read_text())["render_id"] == ids[0]
    assert main(["rate", ids[1], "--overall", "3", "--user", "dan"]) == 0
    assert main(["enhance", "voice", str(stems / "v.wav"), "-o", str(stems / "e.wav"), "--no-vocoder",
                 "--no-prosody", "--user", "dan"]) == 0
    rid = _render_id(capsys.readouterr().out)
    assert json.loads((stems / "e.wav.json").read_text())["render_id"] == rid
    assert main(["rate", rid, "--overall", "2", "--user", "dan"]) == 0


def test_an_unknown_genre_is_one_error_everywhere(stems: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UnknownGenreError, match="unknown genre 'polka-metal'"):
        resolve("polka-metal")
    with pytest.raises(SessionError, match=r"session.genre: unknown genre 'polka-metal'"):
        Session.from_dict({"session": {"genre": "polka-metal"}, "tracks": [{"name": "v", "source": "v.wav"}]})
    for argv in (["mix", str(stems / "v.wav"), str(stems / "m.wav"), "-o", str(stems / "x.wav"),
                  "--genre", "polka-metal", "--sample-rate", str(SR)],
                 ["generate", "music", "-o", str(stems / "g.wav"), "--genre", "polka-metal"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("mixbridge: error: unknown genre 'polka-metal'") and err.count("\n") == 1


def test_log_level_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    assert _log_level(False) == logging.WARNING and _log_level(True) == logging.DEBUG
    monkeypatch.setenv("LOG_LEVEL", "info")
    assert _log_level(False) == logging.INFO
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    assert _log_level(False) == logging.ERROR
