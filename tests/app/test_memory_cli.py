"""The render -> rate -> recommend loop through the command line, on the embedded defaults."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from core.session import Session, Track


def test_render_is_recorded_rated_and_recommended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MIXBRIDGE_DATA_DIR", str(tmp_path / "data"))
    sr = 48000
    t = np.arange(sr) / sr
    sf.write(str(tmp_path / "v.wav"), 0.2 * np.sin(2 * np.pi * 220 * t), sr)
    Session(name="s", genre="jazz", base_dir=tmp_path, output_path="out.wav", tail_s=0.0,
            tracks=[Track("vocals", "v.wav", processors=[{"plugin": "compressor", "params": {"ratio": 2.0}}])]
            ).save(tmp_path / "s.toml")
    ids = []
    for ratio, stars in ((2.0, 2), (4.0, 5), (6.0, 3)):
        text = (tmp_path / "s.toml").read_text().replace("ratio = 2.0", f"ratio = {ratio}")
        (tmp_path / "s.toml").write_text(text)
        assert main(["render", str(tmp_path / "s.toml")]) == 0
        rid = json.loads((tmp_path / "out.json").read_text())["render_id"]
        assert rid in capsys.readouterr().out
        assert main(["rate", rid, "--overall", str(stars), "--vocals-clarity", "4"]) == 0
        ids.append(rid)
    assert main(["rate", ids[0], "--overall", "7"]) == 1  # refused, nothing stored
    assert "overall: rating 7 must be a whole number from 1 to 5" in capsys.readouterr().err
    assert main(["memory", "stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["counts"]["mixing_feedback"] == 3 and stats["counts"]["renders"] == 3
    assert stats["learned_configurations"] == 3  # one proposal after every rating
    assert main(["render", str(tmp_path / "s.toml"), "--recommend"]) == 0
    assert "started from the learned settings" in capsys.readouterr().out
    rep = json.loads((tmp_path / "out.json").read_text())
    assert rep["recommendation"]["source"] == "learned"
    ratio = rep["recommendation"]["config"]["vocals/compressor/ratio"]  # Settings keyed like the session
    assert abs(ratio - 4.0) < abs(ratio - 2.0)  # pulled toward the 5-star mix
    assert main(["memory", "export", str(tmp_path / "x.json")]) == 0
    assert json.loads(capsys.readouterr().out)["mixing_feedback"] == 3
