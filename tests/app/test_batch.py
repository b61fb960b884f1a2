"""Batch rendering on a local process pool and on a real local Ray instance."""

import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.batch import render_batch
from core.session import Session, Track

SR = 48000


def make_sessions(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        d = tmp_path / f"s{i}"
        d.mkdir()
        t = np.arange(SR) / SR
        sf.write(str(d / "v.wav"), 0.2 * np.sin(2 * np.pi * (200 + 100 * i) * t), SR)
        s = Session(name=f"s{i}", sample_rate=SR, tail_s=0.0, output_path="out.wav", base_dir=d,
                    tracks=[Track("v", "v.wav", processors=[{"plugin": "gain", "params": {"gain_db": -2.0}}])])
        paths.append(s.save(d / "session.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[session]\nname = 'b'\n[[tracks]]\nname = 'v'\nsource = 'missing.wav'\n")
    return [*paths, broken]


def check(results: list[dict], paths: list[Path]) -> None:  # type: ignore[type-arg]
    assert [r["session"] for r in results] == [str(p.resolve()) for p in paths]
    ok, bad = results[:-1], results[-1]
    assert all(r["ok"] for r in ok)
    for r in ok:
        audio, sr = sf.read(r["output"])
        assert sr == SR and audio.shape == (SR, 2)
        assert r["integrated_lufs"] == pytest.approx(-14.0, abs=0.2)
    assert not bad["ok"] and "no such audio file" in bad["error"]


def test_process_pool_renders_each_and_reports_failures(tmp_path: Path) -> None:
    paths = make_sessions(tmp_path, 3)
    results = render_batch(paths, workers=2, out_dir=tmp_path / "out")
    check(results, paths)
    assert len({r["pid"] for r in results[:-1]}) >= 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*.wav")) == ["s0-session.wav", "s1-session.wav",
                                                                        "s2-session.wav"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_ray_cluster_renders_the_same(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray_bin, "the cluster extra installs the `ray` command"
    port = _free_port()
    env_tmp = Path(tempfile.mkdtemp(prefix="mbray", dir="/tmp"))  # Ray's socket paths must stay short
    start = [ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", f"--temp-dir={env_tmp}", "--disable-usage-stats"]
    subprocess.run(start, check=True, capture_output=True, timeout=120)
    try:
        paths = make_sessions(tmp_path, 2)
        results = render_batch(paths, ray_address=f"127.0.0.1:{port}")
        check(results, paths)
        local = render_batch(paths[:1], workers=1, out_dir=tmp_path / "local")
        a, _ = sf.read(results[0]["output"])
        b, _ = sf.read(local[0]["output"])
        np.testing.assert_array_equal(a, b)
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(env_tmp, ignore_errors=True)
