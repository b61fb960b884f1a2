"""No rating lost to a database outage: the journal, and a real PostgreSQL killed mid-feedback."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from core.errors import MemoryUnavailableError, NotFoundError
from memory.journal import Journal, JournaledMemory
from memory.models import MixingFeedback, Render
from memory.service import MemoryService
from tests.conftest import fill


def counts(url: str, schema: str) -> tuple[int, int]:
    """(renders, ratings) stored, counted straight from the database."""
    eng = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    with eng.connect() as c:
        n = (c.scalar(select(func.count()).select_from(Render)),
             c.scalar(select(func.count()).select_from(MixingFeedback)))
    eng.dispose()
    return n


def test_journal_appends_durably_and_replays_in_order(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.jsonl")
    for i in range(5):
        j.append({"kind": "rating", "id": str(i), "args": {}})
    with open(j.path, "a") as f:
        f.write('{"kind": "rating", "id": "torn"')  # a crash in the middle of an append
    assert [e["id"] for e in j.entries()] == ["0", "1", "2", "3", "4"]
    seen: list[str] = []

    def apply(e: dict) -> None:  # type: ignore[type-arg]
        if e["id"] == "1":
            raise NotFoundError("no render x")  # refused for good: kept aside, with the reason
        if e["id"] == "3":
            raise MemoryUnavailableError("down again")  # an outage stops the replay; the rest waits
        seen.append(e["id"])

    assert j.replay(apply) == (2, 2, 1)
    assert seen == ["0", "2"] and [e["id"] for e in j.entries()] == ["3", "4"]
    rejected = [json.loads(line) for line in j.rejected.read_text().splitlines()]
    assert rejected[0]["id"] == "1" and "NotFoundError: no render x" in rejected[0]["rejected"]
    assert j.replay(lambda e: seen.append(e["id"])) == (2, 0, 0) and seen[-2:] == ["3", "4"] and j.pending() == 0


def test_a_full_disk_with_the_database_down_is_unavailable(tiny_tmpfs: Path, tmp_path: Path) -> None:
    journal = Journal(tiny_tmpfs / "journal" / "j.jsonl")
    mem = JournaledMemory(lambda: MemoryService(url="postgresql+psycopg://postgres@127.0.0.1:1/none",
                                                chroma_path=tmp_path / "c"), journal)
    stored = mem.rate("r1", 4, user="alice")  # database down, journal fine: queued
    assert stored["queued"] and journal.pending() == 1
    fill(tiny_tmpfs)
    with pytest.raises(MemoryUnavailableError, match="the local journal failed"):
        mem.rate("r1", 5, user="alice", comment="x" * 5000)  # more than the slack of the journal's last page
    assert [e["args"]["overall"] for e in journal.entries()] == [4]  # the queued one intact
    assert journal.path.read_text().count("\n") == 1  # and no torn half-line after it


@pytest.mark.slow
@pytest.mark.postgres
def test_database_killed_mid_feedback_loses_no_rating(throwaway_pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """120 ratings from 4 threads while the server is killed and restarted: all 120 stored, none twice."""
    pg = throwaway_pg
    with create_engine(pg.url).begin() as c:
        c.execute(text("DROP SCHEMA IF EXISTS journal_test CASCADE"))
        c.execute(text("CREATE SCHEMA journal_test"))
    url = pg.url
    journal = Journal(tmp_path / "journal.jsonl")

    def open_service() -> MemoryService:
        return MemoryService(url=url, schema="journal_test", chroma_path=tmp_path / "chroma")

    mem = JournaledMemory(open_service, journal)
    renders = [mem.record_render({"quality_metrics": {}}, {}, user="alice", genre="pop") for _ in range(3)]
    results: list[dict] = []  # type: ignore[type-arg]
    errors: list[BaseException] = []

    def client(k: int) -> None:
        for i in range(30):
            try:
                results.append(mem.rate(renders[i % 3], 1 + (i + k) % 5, user="alice"))
            except BaseException as e:  # noqa: BLE001 - counted: the test fails on any
                errors.append(e)
            time.sleep(0.05)

    def when(n: int) -> None:
        while len(results) + len(errors) < n:
            time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    when(20)
    pg.stop()  # killed mid-feedback
    offline = mem.record_render({"quality_metrics": {}}, {}, user="alice", genre="pop")  # an id, database down
    when(60)
    queued_while_down = journal.pending()
    pg.start()  # back while the clients still rate: the journal replays under their feet
    for t in threads:
        t.join()
    mem.rate(offline, 5, user="alice")  # the offline render is stored before its rating
    queued = sum(bool(r.get("queued")) for r in results)
    assert not errors and len(results) == 120 and queued > 0 and queued_while_down >= 1
    assert journal.pending() == 0
    assert counts(url, "journal_test") == (4, 121)
    assert mem.replay() == (0, 0, 0)  # replaying again stores nothing twice
