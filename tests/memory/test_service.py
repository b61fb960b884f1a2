"""The memory service on SQLite and the real PostgreSQL, with the in-process cache and real Redis."""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from core.errors import NotFoundError, ParameterError, PermissionDeniedError
from core.settings import EnhancementSettings
from memory.cache import TTLCache
from memory.models import MixingFeedback
from memory.service import MemoryService

CFG = {"vocals/compressor/ratio": 3.0, "vocals/compressor/threshold_db": -20.0, "master/stereo_width/width": 1.4,
       "vocals/reverb/room_size": 0.4, "vocals/reverb/wet": 0.2}


def service(db: dict, tmp_path: Path, **kw) -> MemoryService:  # type: ignore[type-arg]
    return MemoryService(url=db["url"], schema=db["schema"], chroma_path=tmp_path / "chroma", **kw)


def test_configurations_cache_and_usage(db: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    m = service(db, tmp_path)
    a = m.create_config(CFG, "genre_preset", genre="rock", is_default=True)
    m.create_config({"vocals/compressor/ratio": 2.0}, genre="jazz")
    got = m.get_config(a)
    assert got["config"]["vocals/compressor/ratio"] == 3.0 and got["config"]["master/stereo_width/width"] == 1.4
    assert (m.cache.hits, m.cache.misses) == (0, 1)
    m.get_config(a)
    assert (m.cache.hits, m.cache.misses) == (1, 1)
    assert [c["genre"] for c in m.list_configs("rock")] == ["rock"]
    assert m.use_config(a) == 1 and m.use_config(a) == 2
    assert m.get_config(a)["usage_count"] == 2  # the update invalidated the cached copy
    with pytest.raises(NotFoundError):
        m.get_config("missing")
    with pytest.raises(ParameterError, match="config_type 'weird'"):
        m.create_config(CFG, "weird")
    with pytest.raises(ParameterError, match="expected 'chain/slot/param'"):
        m.create_config({"compressor": {"ratio": 2.0}})  # the old nested shape is refused, not half-stored


def test_in_process_cache_expires_after_ttl() -> None:
    now = [0.0]
    cache = TTLCache(ttl=10.0, clock=lambda: now[0])
    cache.set("k", "v")
    now[0] = 9.99
    assert cache.get("k") == "v"
    now[0] = 10.0
    assert cache.get("k") is None


@pytest.mark.redis
def test_redis_cache_hits_and_expires(db: dict, tmp_path: Path, redis_url: str) -> None:  # type: ignore[type-arg]
    settings = EnhancementSettings(cache_ttl_seconds=1)
    m = service(db, tmp_path, redis_url=redis_url, settings=settings)
    cid = m.create_config(CFG, genre="pop")
    m.get_config(cid)
    m.get_config(cid)
    assert m.cache.store.backend == "redis" and (m.cache.hits, m.cache.misses) == (1, 1)
    time.sleep(1.2)
    m.get_config(cid)
    assert m.cache.misses == 2  # expired in Redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.redis
def test_redis_stopping_mid_run_keeps_answers_right(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        m = MemoryService(url=f"sqlite:///{tmp_path / 'm.db'}", redis_url=f"redis://127.0.0.1:{port}/0",
                          chroma_path=tmp_path / "chroma")
        cid = m.create_config(CFG, genre="pop")
        assert m.get_config(cid)["config"]["vocals/compressor/ratio"] == 3.0
        proc.kill()
        proc.wait()
        with caplog.at_level(logging.WARNING, logger="memory.cache"):
            for _ in range(5):
                assert m.get_config(cid)["config"]["vocals/compressor/ratio"] == 3.0
            m.use_config(cid)
            assert m.get_config(cid)["usage_count"] == 1
        said = [r for r in caplog.records if "Redis cache unavailable" in r.getMessage()]
        assert len(said) == 1
    finally:
        proc.kill()


def test_ratings_are_validated_and_failed_writes_leave_nothing(db: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    m = service(db, tmp_path)
    rid = m.record_render({"quality_metrics": {"pesq": 3.0}}, CFG, user="ann", genre="pop")
    for bad, match in ((0, "overall: rating 0"), (6, "overall: rating 6"), (3.5, "whole number"), (True, "whole")):
        with pytest.raises(ParameterError, match=match):
            m.rate(rid, overall=bad)
    with pytest.raises(ParameterError, match="vocals_clarity: rating 9"):
        m.rate(rid, overall=4, vocals_clarity=9)
    with pytest.raises(ParameterError, match="unknown rating field"):
        m.rate(rid, overall=4, loudness=3)
    with pytest.raises(NotFoundError):
        m.rate("no-such-render", overall=4)
    with pytest.raises(PermissionDeniedError):
        m.rate(rid, overall=4, user="bob")
    with m.Session() as s:
        assert s.scalar(select(func.count()).select_from(MixingFeedback)) == 0
    assert m.rate(rid, overall=5, comment="great", is_liked=True, user="ann")["overall"] == 5


def test_feedback_from_8_threads_is_stored_exactly_once(db: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    m = service(db, tmp_path, settings=EnhancementSettings(enable_memory_learning=False))
    rid = m.record_render({}, CFG, user="ann", genre="pop")
    errors: list[Exception] = []

    def worker(t: int) -> None:
        try:
            for i in range(15):
                m.rate(rid, overall=1 + (t + i) % 5, comment=f"t{t}-{i}")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with m.Session() as s:
        comments = s.scalars(select(MixingFeedback.comment)).all()
    assert sorted(comments) == sorted(f"t{t}-{i}" for t in range(8) for i in range(15))


def _rate_from_process(url: str, schema: str | None, rid: str, proc: int, chroma: str) -> None:
    m = MemoryService(url=url, schema=schema, chroma_path=chroma,
                      settings=EnhancementSettings(enable_memory_learning=False))
    for i in range(10):
        m.rate(rid, overall=3, comment=f"p{proc}-{i}")


def test_feedback_from_several_processes_is_stored_exactly_once(db: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    m = service(db, tmp_path, settings=EnhancementSettings(enable_memory_learning=False))
    rid = m.record_render({}, CFG, user="ann", genre="pop")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_rate_from_process, args=(db["url"], db["schema"], rid, p, str(tmp_path / "c")))
             for p in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    with m.Session() as s:
        comments = s.scalars(select(MixingFeedback.comment)).all()
    assert sorted(comments) == sorted(f"p{p}-{i}" for p in range(3) for i in range(10))


def test_similar_songs_are_found_by_vector_search(tmp_path: Path) -> None:
    import soundfile as sf

    m = MemoryService(url=f"sqlite:///{tmp_path / 'm.db'}", chroma_path=tmp_path / "chroma")
    sr = 22050
    t = np.arange(2 * sr) / sr
    kinds = {"low": np.sin(2 * np.pi * 110 * t), "high": np.sin(2 * np.pi * 3000 * t),
             "noise": np.random.default_rng(0).standard_normal(t.size) * 0.3}
    ids = {}
    for name, x in kinds.items():
        sf.write(str(tmp_path / f"{name}.wav"), 0.3 * x, sr)
        ids[name] = m.record_render({}, CFG, user="ann", genre="pop", audio=str(tmp_path / f"{name}.wav"))
        m.rate(ids[name], overall=5 if name == "low" else 2)
    sf.write(str(tmp_path / "q.wav"), 0.3 * np.sin(2 * np.pi * 120 * t), sr)
    from core import audio_io
    from memory.features import features, vector

    q = vector(features(*audio_io.read(tmp_path / "q.wav")))
    hits = m.vectors.search(q, k=3, genre="pop")
    assert hits[0]["id"] == ids["low"]
    assert m.vectors.search(q, k=3, genre="jazz") == []
    rec = m.get_mixing_recommendations(None, "pop", str(tmp_path / "q.wav"))
    assert rec["source"] == "neighbours" and rec["explanation"]["neighbours"][0]["id"] == ids["low"]
    assert rec["config"] == CFG  # the only well-rated neighbour's settings, as they were stored


def test_export_and_import_move_what_was_learned(tmp_path: Path) -> None:
    a = MemoryService(url=f"sqlite:///{tmp_path / 'a.db'}", chroma_path=tmp_path / "ca")
    rid = a.record_render({}, CFG, user="ann", genre="pop")
    a.rate(rid, overall=4)
    counts = a.export(tmp_path / "x.json")
    assert counts["mixing_feedback"] == 1 and counts["renders"] == 1
    b = MemoryService(url=f"sqlite:///{tmp_path / 'b.db'}", chroma_path=tmp_path / "cb")
    assert b.import_(tmp_path / "x.json")["mixing_feedback"] == 1
    assert b.import_(tmp_path / "x.json")["mixing_feedback"] == 0  # idempotent
    assert b.stats()["counts"]["mixing_feedback"] == 1


def test_vector_search_within_a_genre_and_across_all(tmp_path: Path) -> None:
    """Exact top-k against brute force, per genre (its own collection) and merged across genres."""
    from memory.vectors import VectorStore, partition

    rng = np.random.default_rng(3)
    v = rng.standard_normal((600, 8))
    genres = ["pop", "r&b", "hip-hop", None]
    meta = [{"genre": genres[i % 4], "user": f"u{i % 3}"} for i in range(600)]
    store = VectorStore(path=tmp_path / "chroma")
    store.add([f"v{i}" for i in range(600)], v, meta)
    assert store.count() == 600 and partition("r&b") == "r-b" and partition(None) == "none"
    q = rng.standard_normal(8)
    dist = ((v - q) ** 2).sum(axis=1)

    def brute(keep: list[int]) -> list[str]:
        return [f"v{i}" for i in sorted(keep, key=lambda i: dist[i])[:5]]

    assert [h["id"] for h in store.search(q, k=5)] == brute(list(range(600)))
    rnb = [i for i in range(600) if meta[i]["genre"] == "r&b"]
    assert [h["id"] for h in store.search(q, k=5, genre="r&b")] == brute(rnb)
    mine = [i for i in rnb if meta[i]["user"] == "u1"]
    hits = store.search(q, k=5, genre="r&b", user="u1")
    assert [h["id"] for h in hits] == brute(mine)
    assert hits[0]["distance"] == pytest.approx(dist[mine].min(), rel=1e-4)
    assert store.search(q, k=5, genre="jazz") == [] and store.count() == 600  # a search creates nothing
