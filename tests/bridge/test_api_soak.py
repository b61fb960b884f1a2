"""The HTTP API attacked from outside: oversized and hostile bodies, malformed audio, another user's
files, a full disk, a database killed mid-feedback, and schema fuzzing. Every answer is a 4xx (or a
503/507 that says why), never a 500, and no error repeats what the client sent."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from app.song import Services
from bridge.api import MAX_BODY, BodyLimit, create_app
from bridge.auth import issue_token
from core import files
from core.settings import EnhancementSettings, data_dir
from memory.service import MemoryService
from tests.conftest import fill

KEY = "soak-secret-0123456789abcdef-0123456789"
SR = 48000
V = "/api/v1/enhancement"
SETTINGS = EnhancementSettings(enable_neural_vocoder=False, enable_quality_tracking=False)


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(user, key=KEY)}"}


def write_song(folder: Path, seconds: float = 1.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(str(folder / "vocals.wav"), 0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(6 * np.pi * t)),
             SR, subtype="FLOAT")
    music = np.stack([0.2 * np.sin(2 * np.pi * 110 * t), 0.2 * np.sin(2 * np.pi * 165 * t + 1.0)]).T
    sf.write(str(folder / "music.wav"), music, SR, subtype="FLOAT")


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    write_song(root / "alice")
    write_song(root / "bob")
    return root


@pytest.fixture
def client(media: Path, tmp_path: Path, host) -> tuple[TestClient, MemoryService]:  # type: ignore[no-untyped-def]
    memory = MemoryService(url=f"sqlite:///{tmp_path / 'm.db'}", chroma_path=tmp_path / "chroma", settings=SETTINGS)
    app = create_app(Services(media, memory=memory, settings=SETTINGS, host=host), secret=KEY)
    return TestClient(app, raise_server_exceptions=False), memory


# -- bodies -----------------------------------------------------------------------------------
def test_a_body_over_the_limit_gets_413(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    big = json.dumps({"render_id": "r", "overall": 3, "comment": "x" * (2 * MAX_BODY)})
    r = c.post(f"{V}/feedback", content=big, headers={**auth("alice"), "content-type": "application/json"})
    assert r.status_code == 413 and len(r.content) < 300 and "xxxx" not in r.text


def test_a_streamed_body_is_cut_off_at_the_limit_not_read_to_the_end() -> None:
    """A 500 MB chunked upload: the middleware pulls just over 1 MiB, answers 413 and never calls the app."""
    pulled, sent, called = [0], [], []

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        called.append(True)

    async def receive() -> dict:  # type: ignore[type-arg]
        pulled[0] += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": pulled[0] < 8000}  # 500 MB in all

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/enhancement/feedback", "headers": []}
    asyncio.run(BodyLimit(app, MAX_BODY)(scope, receive, send))
    assert sent[0]["status"] == 413 and not called
    assert pulled[0] == MAX_BODY // 65536 + 1  # 17 chunks of 64 KiB, not 8,000


@pytest.mark.parametrize("body", [
    '{"render_id": "r", "overall": 3, "comment": "%s"}' % ("SECRET" * 20000),  # 120 KB comment (limit 2,000)
    '{"audio_path": "a.wav", "%s": 1}' % ("K" * 10000),  # a 10 KB unknown key
    '{"audio_path": "%s"}' % ("P" * 5000 + ".wav"),  # over the schema's path length? no: 400 below
    '{"render_id": "r", "overall": NaN}',
    '{"render_id": "r", "overall": 1e999}',
    '{"render_id": "r", "overall": Infinity}',
    '{"render_id": "r", "overall": 4, "vocals_clarity": -Infinity}',
    '{"audio_path": "\\ud800SECRET"}',
])
def test_invalid_bodies_are_4xx_and_never_echoed(client, body: str) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    path = f"{V}/feedback" if "render_id" in body else f"{V}/voice"
    r = c.post(path, content=body, headers={**auth("alice"), "content-type": "application/json"})
    assert r.status_code in (400, 422), r.text[:300]
    assert len(r.content) < 1500 and "SECRET" not in r.text and "K" * 41 not in r.text
    assert "PPPPPPPPPP" not in r.text and r.json()["error"]


def test_a_5000_character_path_is_400(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    for raw in ("alice/" + "a" * 5000 + ".wav", "alice/" + "/".join(["b" * 250] * 20) + ".wav", "alice/" + "n" * 300):
        r = c.post(f"{V}/voice", json={"audio_path": raw}, headers=auth("alice"))
        assert r.status_code == 400 and r.json()["error"].startswith("path refused: path too long"), r.text[:200]


# -- malformed audio ------------------------------------------------------------------------------
def wav_header(channels: int, frames: int, bits: int = 16) -> bytes:
    block = channels * bits // 8
    data = frames * block
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt " +
            struct.pack("<IHHIIHH", 16, 1, channels, SR, SR * block, block, bits) + b"data" + struct.pack("<I", data))


MALFORMED = {
    "truncated": lambda good: good[: len(good) // 3][:44] + b"\x00" * 10,
    "wrong_header": lambda good: b"RIFX" + good[4:],
    "not_audio": lambda good: b"hello, I am a text file\n" * 100,
    "empty": lambda good: b"",
    "zero_channels": lambda good: wav_header(0, 1000) + b"\x00" * 2000,
    "header_only": lambda good: wav_header(1, 0),
}


@pytest.mark.parametrize("kind", [*MALFORMED, "nan_samples", "one_sample", "short_voice"])
def test_malformed_audio_is_422_with_a_clear_message(client, media: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    target = media / "alice" / f"{kind}.wav"
    if kind == "nan_samples":
        x = np.zeros(SR, np.float32)
        x[100] = np.nan
        sf.write(str(target), x, SR, subtype="FLOAT")
    elif kind == "one_sample":
        sf.write(str(target), np.array([0.1], np.float32), SR, subtype="FLOAT")
    elif kind == "short_voice":
        sf.write(str(target), np.full(1000, 0.1, np.float32), SR, subtype="FLOAT")
    else:
        target.write_bytes(MALFORMED[kind]((media / "alice" / "vocals.wav").read_bytes()))
    for path, body in ((f"{V}/voice", {"audio_path": f"alice/{kind}.wav"}),
                       (f"{V}/mixing", {"vocals_path": f"alice/{kind}.wav", "music_path": "alice/music.wav"})):
        r = c.post(path, json=body, headers=auth("alice"))
        assert r.status_code == 422, (kind, path, r.status_code, r.text[:300])
        msg = r.json()["error"]
        clear = ("cannot read audio", "no audio frames", "non-finite", "too short", "need at least")
        assert any(w in msg for w in clear), msg


# -- users' folders ---------------------------------------------------------------------------------
def test_a_user_reads_and_writes_only_in_their_own_folder(client, media: Path) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    (media / "alice" / "bobs.wav").symlink_to(media / "bob" / "vocals.wav")
    bob_before = sorted(p.name for p in (media / "bob").iterdir())
    for path, body in ((f"{V}/voice", {"audio_path": "bob/vocals.wav"}),
                       (f"{V}/voice", {"audio_path": "alice/bobs.wav"}),
                       (f"{V}/mixing", {"vocals_path": "alice/vocals.wav", "music_path": "bob/music.wav"})):
        r = c.post(path, json=body, headers=auth("alice"))
        assert r.status_code == 403 and "not in your media folder" in r.json()["error"], r.text
    assert sorted(p.name for p in (media / "bob").iterdir()) == bob_before
    r = c.get(f"{V}/recommendations", params={"audio_path": "bob/music.wav"}, headers=auth("alice"))
    assert r.status_code == 403


def test_tokens_without_a_usable_subject_are_refused(client) -> None:  # type: ignore[no-untyped-def]
    import jwt

    c, _ = client
    for sub in ("", "../bob", "a/b", 42):
        tok = jwt.encode({"sub": sub, "iss": "mixbridge", "exp": int(time.time()) + 60}, KEY, algorithm="HS256")
        r = c.post(f"{V}/voice", json={"audio_path": "alice/vocals.wav"}, headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 401, (sub, r.text)


def side_to_mid(path: Path) -> float:
    y, _ = sf.read(str(path))
    mid, side = (y[:, 0] + y[:, 1]) / 2, (y[:, 0] - y[:, 1]) / 2
    return float(np.sqrt(np.mean(side**2)) / np.sqrt(np.mean(mid**2)))


def test_every_mix_has_its_own_name_and_a_stored_configuration_is_honoured(  # type: ignore[no-untyped-def]
        client, media: Path) -> None:
    c, memory = client
    body = {"vocals_path": "alice/vocals.wav", "music_path": "alice/music.wav", "genre": "pop"}
    plain = [c.post(f"{V}/mixing", json=body, headers=auth("alice")) for _ in range(2)]
    assert all(r.status_code == 200 for r in plain), plain[0].text
    names = {r.json()["enhanced_audio_path"] for r in plain}
    assert len(names) == 2 and all((media / n).is_file() for n in names)  # the second did not replace the first
    mono = memory.create_config({"master/stereo_width/width": 0.0}, user="alice", genre="pop")
    bobs = memory.create_config({"master/stereo_width/width": 3.0}, user="bob", genre="pop")
    missing = c.post(f"{V}/mixing", json={**body, "mixing_config_id": "no-such-id"}, headers=auth("alice"))
    assert missing.status_code == 404
    assert c.post(f"{V}/mixing", json={**body, "mixing_config_id": bobs}, headers=auth("alice")).status_code == 403
    r = c.post(f"{V}/mixing", json={**body, "mixing_config_id": mono}, headers=auth("alice"))
    assert r.status_code == 200, r.text
    assert "stored_configuration" in r.json()["enhancement_applied"]
    assert side_to_mid(media / next(iter(names))) > 0.05  # the music is wide...
    assert side_to_mid(media / r.json()["enhanced_audio_path"]) < 1e-3  # ...and width 0 made the mix mono


# -- files: leftovers and a full disk ------------------------------------------------------------------
def test_part_files_left_by_a_killed_writer_are_removed_at_start(media: Path, host) -> None:  # type: ignore[no-untyped-def]
    cache = data_dir() / "enhanced-cache"
    cache.mkdir(parents=True, exist_ok=True)
    left = [media / "alice" / ".vocals_voice_1.wav.999.part", media / "bob" / ".mix.wav.12.part",
            cache / ".abc.1-2.part"]
    for p in left:
        p.write_bytes(b"half a file")
    (media / "alice" / "keep.part.wav").write_bytes(b"a user's file")
    Services(media, memory=None, settings=EnhancementSettings(enable_memory_learning=False), host=host)
    assert not any(p.exists() for p in left) and (media / "alice" / "keep.part.wav").exists()


def test_a_full_disk_leaves_existing_files_whole_and_no_empty_ones(tiny_tmpfs: Path, host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_song(tiny_tmpfs / "alice", seconds=0.5)  # 2 x 96 KB + 192 KB of the 1 MiB
    existing = tiny_tmpfs / "alice" / "v5_enhanced.wav"
    existing.write_bytes((tiny_tmpfs / "alice" / "vocals.wav").read_bytes())
    before = existing.read_bytes()
    fill(tiny_tmpfs)
    cached = tmp_path / "cached.wav"  # the enhanced-audio cache lives on another disk
    cached.write_bytes(before * 3)
    with pytest.raises(files.OutputError, match="No space left on device"):
        files.copy_file(cached, existing)
    assert existing.read_bytes() == before  # left whole, not truncated
    settings = EnhancementSettings(enable_neural_vocoder=False, enable_quality_tracking=False,
                                   enable_memory_learning=False)
    app = create_app(Services(tiny_tmpfs, memory=None, settings=settings, host=host), secret=KEY)
    c = TestClient(app, raise_server_exceptions=False)
    for _ in range(2):  # computed, then from the cache: both copies fail the same clean way
        r = c.post(f"{V}/voice", json={"audio_path": "alice/vocals.wav", "enable_neural_vocoder": False},
                   headers=auth("alice"))
        assert r.status_code == 507 and "disk is full" in r.json()["error"], r.text
    assert existing.read_bytes() == before
    leftovers = [p.name for p in (tiny_tmpfs / "alice").iterdir()]
    assert sorted(leftovers) == ["music.wav", "v5_enhanced.wav", "vocals.wav"]  # no 0-byte file, no .part


# -- the database killed mid-feedback, through HTTP ------------------------------------------------------
@pytest.mark.slow
@pytest.mark.postgres
def test_feedback_during_a_database_outage_is_accepted_and_stored_later(  # type: ignore[no-untyped-def]
        throwaway_pg, media: Path, tmp_path: Path, host) -> None:
    from sqlalchemy import create_engine, func, select, text

    from memory.journal import Journal, JournaledMemory
    from memory.models import MixingFeedback

    with create_engine(throwaway_pg.url).begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS api_soak CASCADE"))
        conn.execute(text("CREATE SCHEMA api_soak"))
    memory = JournaledMemory(lambda: MemoryService(url=throwaway_pg.url, schema="api_soak", settings=SETTINGS,
                                                   chroma_path=tmp_path / "chroma"), Journal(tmp_path / "j.jsonl"))
    c = TestClient(create_app(Services(media, memory=memory, settings=SETTINGS, host=host), secret=KEY),
                   raise_server_exceptions=False)
    render = memory.record_render({"quality_metrics": {}}, {}, user="alice", genre="pop")
    codes = []
    for i in range(30):
        if i == 10:
            throwaway_pg.stop()
        if i == 20:
            throwaway_pg.start()
        r = c.post(f"{V}/feedback", json={"render_id": render, "overall": 1 + i % 5}, headers=auth("alice"))
        codes.append(r.status_code)
        if i == 15:  # a read cannot be queued: 503 with Retry-After while the database is down
            down = c.get(f"{V}/recommendations", params={"genre": "pop"}, headers=auth("alice"))
            assert down.status_code == 503 and down.headers["retry-after"] == "30", down.text
    assert codes[:10] == [200] * 10 and codes[10:20] == [202] * 10 and codes[20:] == [200] * 10, codes
    eng = create_engine(throwaway_pg.url, connect_args={"options": "-csearch_path=api_soak"})
    with eng.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(MixingFeedback)) == 30
    eng.dispose()


# -- schema fuzzing ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_schema_fuzzing_with_auth_finds_no_500_and_no_echo(media: Path, tmp_path: Path, host) -> None:  # type: ignore[no-untyped-def]
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    memory = MemoryService(url=f"sqlite:///{tmp_path / 'f.db'}", chroma_path=tmp_path / "chroma", settings=SETTINGS)
    app = create_app(Services(media, memory=memory, settings=SETTINGS, host=host), secret=KEY)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = auth("alice")
    failures, calls = [], []
    for op in schema.get_all_operations():
        operation = op.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=headers)
            calls.append(response.status_code)
            if response.status_code >= 500 or (response.status_code >= 400 and len(response.content) > 2000):
                failures.append((case.method, case.path, response.status_code, response.text[:200]))

        run()
    assert len(calls) >= 100 and not failures, failures[:5]


@pytest.mark.slow
def test_bench_soak_holds_against_a_real_server() -> None:
    """``mixbridge bench soak`` end to end (a server process on loopback), with a small flood."""
    from app.bench_soak import run_soak

    rep = run_soak(flood=24, threads=4, outage_ratings=9)
    by = {r["attack"]: r for r in rep["results"]}
    assert rep["held"], [r for r in rep["results"] if not r.get("held", True)]
    assert by["2 MiB bodies"]["codes"] == {413: 5} and by["streamed 64 MB body"]["codes"] == {413: 1}
    assert by["streamed 64 MB body"]["mb_sent_before_the_answer"] < 64
    assert by["malformed audio"]["codes"] == {422: 16} and by["another user's files"]["codes"] == {403: 3}
    if "ratings_stored" in by["database killed mid-feedback"]:
        assert by["database killed mid-feedback"]["ratings_stored"] == 9
