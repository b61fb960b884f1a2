"""Progress bars: drawn on a terminal (seen through tmux), silent when stderr is a pipe."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from core import audio_io
from core.progress import progress_bar
from core.session import Loudness, Master, Session, Track

ROOT = Path(__file__).resolve().parents[2]
SR = 48000


def long_session(tmp_path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    audio_io.write(tmp_path / "tone.wav", (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], SR, "float")
    s = Session(name="progress-check", sample_rate=SR, tail_s=0.0, base_dir=tmp_path, output_path="out.wav",
                tracks=[Track("a", "tone.wav", processors=[{"plugin": "gain", "params": {"gain_db": -3.0}}])],
                master=Master(loudness=Loudness(enabled=False)))
    return s.save(tmp_path / "s.toml")


def test_bar_is_silent_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with progress_bar("work", total=2) as bar:
        bar.advance()
        bar.update(2, "done")
        assert bar.span(0.0, 1.0)(0.5) is None
    assert err.getvalue() == ""


@pytest.mark.slow
def test_render_prints_no_bar_into_a_pipe(tmp_path: Path) -> None:
    session = long_session(tmp_path, 2.0)
    proc = subprocess.run([sys.executable, "-m", "app.cli", "render", str(session), "-o", str(tmp_path / "o.wav")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no bar, no escape codes: stderr is a pipe here
    assert "\x1b[" not in proc.stdout and "━" not in proc.stdout
    assert "rendered at" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_render_draws_a_bar_on_a_terminal(tmp_path: Path) -> None:
    session = long_session(tmp_path, 40.0)
    name = f"mixbridge-{uuid.uuid4().hex[:8]}"
    cmd = (f"{sys.executable} -m app.cli render {session} -o {tmp_path / 'o.wav'} --block-size 8; "
           "echo RENDER-FINISHED; sleep 60")
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "20", "-c", str(ROOT), cmd],
                   check=True)
    seen, screen = None, ""
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and "RENDER-FINISHED" not in screen:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True,
                                    check=True).stdout
            seen = seen or next((ln for ln in screen.splitlines() if ln.startswith("progress-check") and "%" in ln),
                                None)
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], check=False)
    assert "RENDER-FINISHED" in screen, screen
    assert seen is not None, screen
    assert "━" in seen  # the bar itself, then its percentage and times
    percent = int(seen.split("%")[0].split()[-1])
    assert 0 <= percent <= 100
    assert not any(ln.startswith("progress-check") and "%" in ln for ln in screen.splitlines())  # transient
