"""``mixbridge bench memory``: inserts/s, cached reads/s and vector search latency."""

from __future__ import annotations

import tempfile
import time
import uuid

import numpy as np

from core.settings import EnhancementSettings


def _inserts(url: str, schema: str | None, n: int = 1000) -> float:
    from memory.service import MemoryService

    with tempfile.TemporaryDirectory() as d:
        m = MemoryService(url=url, schema=schema, chroma_path=d,
                          settings=EnhancementSettings(enable_memory_learning=False))
        rid = m.record_render({}, {"vocals/compressor/ratio": 3.0}, user="bench", genre="pop")
        t0 = time.perf_counter()
        for i in range(n):
            m.rate(rid, overall=1 + i % 5)
        return n / (time.perf_counter() - t0)


def bench_memory(vector_counts: tuple[int, ...] = (10_000, 100_000),
                 pg_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test") -> dict[str, float]:
    from memory.features import DIM
    from memory.service import MemoryService
    from memory.vectors import VectorStore

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        out["sqlite_inserts_per_s"] = _inserts(f"sqlite:///{d}/b.db", None)
        print(f"feedback inserts, SQLite:     {out['sqlite_inserts_per_s']:8.0f} /s (each its own transaction)")
        try:
            from sqlalchemy import create_engine, text

            schema = f"mbbench_{uuid.uuid4().hex[:8]}"
            eng = create_engine(pg_url)
            with eng.begin() as c:
                c.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                out["postgres_inserts_per_s"] = _inserts(pg_url, schema)
                print(f"feedback inserts, PostgreSQL: {out['postgres_inserts_per_s']:8.0f} /s")
            finally:
                with eng.begin() as c:
                    c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        except Exception as e:  # noqa: BLE001 - the benchmark reports what it could not reach
            print(f"feedback inserts, PostgreSQL: skipped ({type(e).__name__}: {e})")
        m = MemoryService(url=f"sqlite:///{d}/c.db", chroma_path=f"{d}/c")
        cid = m.create_config({"vocals/compressor/ratio": 3.0}, genre="pop")
        m.get_config(cid)
        n = 50_000
        t0 = time.perf_counter()
        for _ in range(n):
            m.get_config(cid)
        out["cached_reads_per_s"] = n / (time.perf_counter() - t0)
        print(f"cached configuration reads:   {out['cached_reads_per_s']:8.0f} /s (in-process cache)")
        rng = np.random.default_rng(0)
        store = VectorStore(path=f"{d}/v")
        have = 0
        for count in vector_counts:
            add = count - have
            vecs = rng.standard_normal((add, DIM))
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            genres = ["pop", "rock", "jazz", "edm"]
            store.add([f"v{have + i}" for i in range(add)], vecs,
                      [{"genre": genres[i % 4], "user": f"u{i % 50}"} for i in range(add)])
            have = count
            for label, genre in (("", "pop"), ("_all_genres", None)):
                lat = []
                for _ in range(200):
                    q = rng.standard_normal(DIM)
                    t0 = time.perf_counter()
                    store.search(q / np.linalg.norm(q), k=10, genre=genre)
                    lat.append(1000 * (time.perf_counter() - t0))
                p50, p99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
                out[f"search_p50_ms_{count}{label}"], out[f"search_p99_ms_{count}{label}"] = p50, p99
                print(f"vector search, {count:>7} stored: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms "
                      f"(top 10, {'genre pop' if genre else 'all four genres'})")
    return out
