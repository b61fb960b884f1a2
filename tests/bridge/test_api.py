"""The HTTP API end to end: real files in a temporary media root, the real database, real tokens."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from app.song import Services
from bridge.api import create_app
from bridge.auth import issue_token
from core.settings import EnhancementSettings
from memory.service import MemoryService

KEY = "test-secret-0123456789abcdef-0123456789"
SR = 48000
V = "/api/v1/enhancement"


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(user, key=KEY)}"}


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "alice").mkdir(parents=True)
    t = np.arange(2 * SR) / SR
    f0 = 220 * 2 ** (np.floor(t * 2) / 12)
    voice = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / SR) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    sf.write(str(root / "alice" / "vocals.wav"), voice, SR, subtype="FLOAT")
    music = np.stack([0.2 * np.sin(2 * np.pi * 110 * t), 0.2 * np.sin(2 * np.pi * 165 * t)]).T
    sf.write(str(root / "alice" / "music.wav"), music, SR, subtype="FLOAT")
    (tmp_path / "secret.wav").write_bytes((root / "alice" / "vocals.wav").read_bytes())
    (root / "alice" / "link.wav").symlink_to(tmp_path / "secret.wav")
    return root


@pytest.fixture
def api(media: Path, db: dict, tmp_path: Path) -> tuple[TestClient, MemoryService]:  # type: ignore[type-arg]
    settings = EnhancementSettings(enable_neural_vocoder=False)
    memory = MemoryService(url=db["url"], schema=db["schema"], chroma_path=tmp_path / "chroma", settings=settings)
    app = create_app(Services(media, memory=memory, settings=settings), secret=KEY)
    return TestClient(app, raise_server_exceptions=False), memory


def test_every_endpoint_needs_a_valid_token(api) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    for method, path in (("post", f"{V}/voice"), ("post", f"{V}/mixing"), ("post", f"{V}/complete"),
                         ("post", f"{V}/feedback"), ("get", f"{V}/recommendations"), ("get", "/api/v1/jobs/x")):
        assert getattr(client, method)(path).status_code == 401
        bad = {"Authorization": "Bearer " + issue_token("alice", key="another-secret-0123456789-0123456789")}
        r = getattr(client, method)(path, headers=bad)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "traceback" not in r.text.lower()


@pytest.mark.parametrize("path", ["../secret.wav", "/etc/passwd", "%2e%2e/secret.wav", "alice/%2e%2e/%2e%2e/secret.wav",
                                  "alice/link.wav", "alice\\..\\..\\secret.wav", "%252e%252e%252fsecret.wav"])
def test_paths_out_of_the_media_root_are_refused(api, path: str) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    r = client.post(f"{V}/voice", json={"audio_path": path}, headers=auth("alice"))
    assert r.status_code == 400 and r.json()["error"].startswith("path refused")


def test_voice_enhancement_and_the_cache(api, media: Path) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    body = {"audio_path": "alice/vocals.wav", "enable_prosody": True, "enable_auto_tune": True,
            "target_key": "A minor", "enable_neural_vocoder": False}
    r = client.post(f"{V}/voice", json=body, headers=auth("alice"))
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["success"] and re.fullmatch(r"alice/vocals_voice_[0-9a-f]{10}\.wav", rep["enhanced_audio_path"])
    y, sr = sf.read(str(media / rep["enhanced_audio_path"]))
    assert sr == SR and y.shape[0] == 2 * SR and np.isfinite(y).all()
    q = rep["quality_metrics"]
    assert 1.0 <= q["pesq"] <= 4.65 and 0.0 <= q["stoi"] <= 1.0 and 1.0 <= q["mos"] <= 5.0
    assert "served from the enhanced-audio cache" not in rep["warnings"]
    again = client.post(f"{V}/voice", json=body, headers=auth("alice")).json()
    assert "served from the enhanced-audio cache" in again["warnings"]
    y2, _ = sf.read(str(media / again["enhanced_audio_path"]))
    np.testing.assert_array_equal(y, y2)
    assert client.post(f"{V}/voice", json={"audio_path": "alice/none.wav"}, headers=auth("alice")).status_code == 404


@pytest.mark.parametrize("body", [
    '{"audio_path": ',  # malformed JSON
    '{"audio_path": 42}',  # wrong type
    '{"audio_path": "a.wav", "enable_auto_tune": "yes"}',  # strict booleans
    '{"audio_path": "a.wav", "loudness": 3}',  # unknown field
    '{}',
])
def test_invalid_bodies_give_422(api, body: str) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    r = client.post(f"{V}/voice", content=body, headers={**auth("alice"), "content-type": "application/json"})
    assert r.status_code == 422


def test_complete_song_feedback_and_ownership(api, media: Path) -> None:  # type: ignore[no-untyped-def]
    client, memory = api
    song = memory.create_song("alice", "alice/vocals.wav", "alice/music.wav", genre="pop")
    cfg = {"enable_voice_enhancement": False, "enable_memory_learning": True}
    assert client.post(f"{V}/complete", json={"song_id": song}, headers=auth("bob")).status_code == 403
    assert client.post(f"{V}/complete", json={"song_id": "nope"}, headers=auth("alice")).status_code == 404
    r = client.post(f"{V}/complete", json={"song_id": song, "enhancement_config": cfg}, headers=auth("alice"))
    assert r.status_code == 200, r.text
    rep = r.json()
    assert re.fullmatch(r"alice/vocals_song_[0-9a-f]{10}\.wav", rep["enhanced_audio_path"])
    assert "intelligent_mixing" in rep["enhancement_applied"]
    y, _ = sf.read(str(media / rep["enhanced_audio_path"]))
    assert y.shape[1] == 2 and np.isfinite(y).all()
    fb = {"render_id": rep["render_id"], "overall": 4, "vocals_clarity": 5}
    assert client.post(f"{V}/feedback", json=fb, headers=auth("bob")).status_code == 403
    assert client.post(f"{V}/feedback", json={**fb, "overall": 6}, headers=auth("alice")).status_code == 422
    stored = client.post(f"{V}/feedback", json=fb, headers=auth("alice"))
    assert stored.status_code == 200 and stored.json()["overall"] == 4
    recs = client.get(f"{V}/recommendations", params={"genre": "pop"}, headers=auth("alice"))
    assert recs.status_code == 200 and "source" in recs.json()
    job = client.post(f"{V}/complete", json={"song_id": song, "enhancement_config": cfg, "async": True},
                      headers=auth("alice"))
    assert job.status_code == 202
    jid = job.json()["job_id"]
    assert client.get(f"/api/v1/jobs/{jid}", headers=auth("bob")).status_code == 403
    for _ in range(300):
        state = client.get(f"/api/v1/jobs/{jid}", headers=auth("alice")).json()
        if state["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert state["status"] == "done" and state["result"]["success"]
