"""Client mistakes on the command line are one clear line, never a traceback; special files are never replaced."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from core import audio_io

SR = 48000


def one_line(err: str) -> str:
    """The error line of stderr; fails if a traceback is there or the error spans lines."""
    lines = [x for x in err.strip().splitlines() if not x.startswith(("usage:", "  ", "warning:"))]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.fixture
def session(tmp_path: Path) -> Path:
    t = np.arange(SR // 2) / SR
    audio_io.write(tmp_path / "v.wav", (0.2 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32), SR, "float")
    f = tmp_path / "s.toml"
    f.write_text('[session]\nname = "s"\n\n[[tracks]]\nname = "vocals"\nsource = "v.wav"\n'
                 'processors = [{ plugin = "gain", params = { gain_db = -3.0 } }]\n\n'
                 '[output]\npath = "out.wav"\nbit_depth = "float"\n')
    return f


@pytest.mark.parametrize("days", ["nan", "0", "-1", "inf", "1e999", "soon", "400"])
def test_token_days_must_be_positive_and_finite(days: str, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MIXBRIDGE_JWT_SECRET", "s" * 32)
    with pytest.raises(SystemExit) as e:
        main(["token", "alice", "--days", days])
    assert e.value.code == 2
    assert "argument --days" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("user", ["", "../bob", "a/b", "."])
def test_token_needs_a_usable_user_name(user: str, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MIXBRIDGE_JWT_SECRET", "s" * 32)
    assert main(["token", user]) == 1
    assert "a user name is 1-64 letters" in one_line(capsys.readouterr().err)


def test_render_refuses_an_empty_output(session: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as e:
        main(["render", str(session), "-o", ""])
    assert e.value.code == 2 and "the output path is empty" in one_line(capsys.readouterr().err)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_render_never_replaces_a_device_node(session: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    before = os.stat("/dev/full")
    assert main(["render", str(session), "-o", "/dev/full"]) == 1
    assert "exists and is not a regular file; refusing to replace it" in one_line(capsys.readouterr().err)
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino


def test_render_never_replaces_a_fifo_or_a_folder(session: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    assert main(["render", str(session), "-o", str(fifo)]) == 1
    assert "not a regular file" in one_line(capsys.readouterr().err) and stat.S_ISFIFO(os.stat(fifo).st_mode)
    (tmp_path / "dir.wav").mkdir()
    assert main(["render", str(session), "-o", str(tmp_path / "dir.wav")]) == 1
    assert "is a directory" in one_line(capsys.readouterr().err) and (tmp_path / "dir.wav").is_dir()
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize("frames", [1, 1000])
def test_enhance_voice_on_a_few_samples_is_a_clear_error(frames: int, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "short.wav"
    audio_io.write(src, np.full((1, frames), 0.1, np.float32), SR, "float")
    assert main(["enhance", "voice", str(src), "-o", str(tmp_path / "o.wav"), "--no-vocoder"]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"{frames} samples" in line and "too short for voice enhancement (at least 100 ms)" in line
    assert not (tmp_path / "o.wav").exists()


def test_a_malformed_database_url_is_one_line(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MIXBRIDGE_DATABASE_URL", "postgres:://::not a url")
    assert main(["memory", "stats"]) == 1
    assert "MIXBRIDGE_DATABASE_URL is not a database URL" in one_line(capsys.readouterr().err)
    monkeypatch.setenv("MIXBRIDGE_DATABASE_URL", "mysql://me@host/db")
    assert main(["memory", "stats"]) == 1
    assert "use postgresql:// or sqlite://" in one_line(capsys.readouterr().err)


@pytest.mark.slow
def test_ray_auto_without_a_cluster_is_one_line(session: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main(["render-batch", str(session), "--ray", "auto"]) == 1
    assert "--ray auto: no running Ray cluster found" in one_line(capsys.readouterr().err)


def test_an_unexpected_error_is_one_line_and_its_traceback_is_under_v(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import app.memory_cli

    def boom(args: object) -> int:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(app.memory_cli, "cmd_stats", boom)
    assert main(["memory", "stats"]) == 1
    err = capsys.readouterr().err
    assert err == "mixbridge: error: RuntimeError: disk on fire (run with -v for the traceback)\n"
    assert main(["-v", "memory", "stats"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.endswith("mixbridge: error: RuntimeError: disk on fire\n")


@pytest.mark.slow
@pytest.mark.postgres
def test_render_with_the_database_down_prints_an_id_and_records_later(  # type: ignore[no-untyped-def]
        throwaway_pg, session: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from sqlalchemy import create_engine, select

    from memory.models import Render

    monkeypatch.setenv("MIXBRIDGE_DATABASE_URL", throwaway_pg.url)
    monkeypatch.setenv("MIXBRIDGE_DATA_DIR", str(tmp_path / "data"))
    throwaway_pg.stop()
    try:
        assert main(["render", str(session), "-o", str(tmp_path / "r.wav")]) == 0
    finally:
        throwaway_pg.start()
    out = capsys.readouterr()
    render_id = next(w.split()[2] for w in out.out.splitlines() if w.startswith("render id "))
    assert "journaled" in out.out and len(render_id) == 36
    assert main(["rate", render_id, "--overall", "4"]) == 0  # replays the render, then rates it
    with create_engine(throwaway_pg.url).connect() as c:
        row = c.execute(select(Render.id, Render.genre).where(Render.id == render_id)).one()
    assert row.id == render_id
