"""No rating lost to a database outage: writes the database cannot take go to a local journal.

:class:`Journal` is an append-only file of JSON lines in the data directory, each
line fsync'd before the caller is answered. :class:`JournaledMemory` wraps the
memory service: ``record_render`` and ``rate`` go to the database when it answers
and to the journal when it cannot be reached (the render id is made here, so a
render still prints an id to rate). The journal is replayed, in order, when the
service starts, before every later write and every ``replay_every`` seconds in a
server. Replays are idempotent (each entry carries the id its row gets), so a
crash in the middle of one never stores a rating twice; an entry the database
refuses for good (its render unknown, another user's) moves to
``<journal>.rejected.jsonl`` with the reason, never silently dropped.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core import files
from core.errors import MemoryServiceError, MemoryUnavailableError, MixbridgeError

log = logging.getLogger(__name__)


def is_outage(e: BaseException) -> bool:
    """True if ``e`` (or what caused it) says the database cannot be reached right now."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, (OperationalError, InterfaceError, MemoryUnavailableError)):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__
    return False


def journal_path(data_dir: Path, database_url: str) -> Path:
    """The journal for one database: entries replay only into the database they were meant for."""
    return data_dir / "journal" / f"{hashlib.sha256(database_url.encode()).hexdigest()[:16]}.jsonl"


class Journal:
    """Append-only JSON lines, fsync'd; shared safely by threads and processes (flock on a lock file).

    Examples
    --------
    >>> j = Journal("/var/lib/mixbridge/journal/x.jsonl")              # doctest: +SKIP
    >>> j.append({"kind": "rating", "id": "...", "args": {...}})       # doctest: +SKIP
    >>> j.replay(apply)                                                # doctest: +SKIP
    (3, 0, 0)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rejected = self.path.with_name(self.path.stem + ".rejected.jsonl")
        self._lock = threading.Lock()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _append(self, path: Path, entry: dict[str, Any]) -> None:
        new = not path.exists()
        data = memoryview((json.dumps(entry, default=str) + "\n").encode())
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            start = os.fstat(fd).st_size
            try:
                while data:  # a nearly full disk takes part of a line, then refuses the rest
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, start)  # no torn line left behind
                raise
        finally:
            os.close(fd)
        if new:  # the new name must survive a power loss too
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def append(self, entry: dict[str, Any]) -> None:
        """Store ``entry`` durably (on disk before this returns); OSError if it cannot."""
        with self._locked():
            self._append(self.path, entry)

    def entries(self) -> list[dict[str, Any]]:
        """What is waiting, oldest first (a line torn by a crash mid-append is skipped)."""
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("journal %s: skipping a torn line", self.path)
        return out

    def pending(self) -> int:
        try:
            return 0 if self.path.stat().st_size == 0 else len(self.entries())
        except FileNotFoundError:
            return 0

    def replay(self, apply: Callable[[dict[str, Any]], Any]) -> tuple[int, int, int]:
        """Apply each entry in order; stop at the first outage. Returns (applied, still waiting, rejected)."""
        with self._locked():
            entries = self.entries()
            if not entries:
                return 0, 0, 0
            done = rejected = 0
            for entry in entries:
                try:
                    apply(entry)
                except Exception as e:
                    if is_outage(e):
                        break
                    if not isinstance(e, MixbridgeError):
                        raise
                    log.warning("journal: %s %s refused by the database: %s", entry.get("kind"), entry.get("id"), e)
                    self._append(self.rejected, {**entry, "rejected": f"{type(e).__name__}: {e}"})
                    rejected += 1
                done += 1
            left = entries[done:]
            files.write_text(self.path, "".join(json.dumps(e, default=str) + "\n" for e in left))
            return done - rejected, len(left), rejected


class JournaledMemory:
    """The memory service with writes that survive a database outage.

    ``open_service`` builds the real service (it may fail while the database is
    down; it is tried again on the next call). Everything but ``record_render``
    and ``rate`` is passed through; an outage there is MemoryUnavailableError.

    Examples
    --------
    >>> mem = JournaledMemory(MemoryService, Journal(journal_path(data_dir(), database_url())))   # doctest: +SKIP
    >>> rid = mem.record_render(report, settings, user="alice", genre="pop")   # an id even with the database down
    """

    def __init__(self, open_service: Callable[[], Any], journal: Journal) -> None:
        self._open = open_service
        self.journal = journal
        self._service: Any = None
        self._write = threading.Lock()
        self._stop = threading.Event()
        try:
            self.replay()
        except MemoryUnavailableError as e:
            log.warning("memory: %s; ratings are journaled in %s until it returns", e, journal.path)

    @property
    def service(self) -> Any:
        """The real service, opened on first use; MemoryUnavailableError while the database is down."""
        if self._service is None:
            try:
                self._service = self._open()
            except Exception as e:
                if is_outage(e):
                    raise MemoryUnavailableError(f"the database cannot be reached ({_first_line(e)})") from e
                raise
        return self._service

    def replay(self) -> tuple[int, int, int]:
        """Store what the journal holds, if the database answers; (applied, waiting, rejected)."""
        if not self.journal.pending():
            return 0, 0, 0
        svc = self.service
        result = self.journal.replay(lambda e: _apply(svc, e))
        if result[0] or result[2]:
            log.warning("memory: replayed %d journaled write(s), %d waiting, %d rejected", *result)
        return result

    def replay_every(self, seconds: float) -> threading.Thread:
        """Replay in a daemon thread every ``seconds`` (a server's database may come back while it idles)."""
        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    with self._write:
                        self.replay()
                except Exception as e:  # noqa: BLE001 - a background retry logs and tries again later
                    log.debug("memory: journal replay failed: %s", e)

        t = threading.Thread(target=loop, name="mixbridge-journal", daemon=True)
        t.start()
        return t

    def close(self) -> None:
        self._stop.set()

    def _write_through(self, entry: dict[str, Any]) -> Any:
        """Apply ``entry`` now (after what waits in the journal), or journal it while the database is down."""
        with self._write:
            try:
                self.replay()
                return _apply(self.service, entry), False
            except Exception as e:
                if not is_outage(e):
                    raise
                reason = _first_line(e)
            try:
                self.journal.append(entry)
            except OSError as err:
                raise MemoryUnavailableError(
                    f"the database cannot be reached ({reason}) and the local journal failed ({err}); "
                    "nothing was stored, try again later") from err
            log.warning("memory: database unreachable (%s): %s %s journaled", reason, entry["kind"], entry["id"])
            return None, True

    def record_render(self, report: dict[str, Any], config: dict[str, Any], **kw: Any) -> str:
        """Store a render; its id (made here, so it is known even when the render waits in the journal)."""
        render_id = str(uuid.uuid4())
        entry = {"kind": "render", "id": render_id,
                 "args": {"report": json.loads(json.dumps(report, default=float)), "config": config, **kw}}
        stored, queued = self._write_through(entry)
        if queued:
            report.setdefault("warnings", []).append(
                "memory database unreachable: the render is journaled and recorded when it returns")
        return str(stored) if stored is not None else render_id

    def rate(self, render_id: str, overall: int, directions: dict[str, int] | None = None,
             **ratings: Any) -> dict[str, Any]:
        """Store a rating (checked first); with the database down, ``{"queued": True, ...}``."""
        from memory.learning import check_directions
        from memory.service import check_ratings

        check_ratings(overall, ratings)
        if directions is not None:
            ratings["directions"] = check_directions(directions)
        entry = {"kind": "rating", "id": str(uuid.uuid4()),
                 "args": {"render_id": render_id, "overall": overall, **ratings}}
        stored, queued = self._write_through(entry)
        if queued:
            return {"id": entry["id"], "render_id": render_id, "overall": overall, "queued": True,
                    **{k: v for k, v in ratings.items() if k != "user" and v is not None}}
        return dict(stored)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.service, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                if self.journal.pending():  # what the journal holds is counted, exported, learned from
                    with self._write:
                        self.replay()
                return attr(*args, **kwargs)
            except Exception as e:
                if is_outage(e) and not isinstance(e, MemoryUnavailableError):
                    raise MemoryUnavailableError(f"the database cannot be reached ({_first_line(e)})") from e
                raise

        return call


def _apply(svc: Any, entry: dict[str, Any]) -> Any:
    args = dict(entry["args"])
    if entry["kind"] == "render":
        if args.get("audio") and not Path(args["audio"]).is_file():  # deleted since: keep the render, not its features
            args["audio"] = None
        return svc.record_render(args.pop("report"), args.pop("config"), render_id=entry["id"], **args)
    if entry["kind"] == "rating":
        return svc.rate(feedback_id=entry["id"], **args)
    raise MemoryServiceError(f"journal entry of unknown kind {entry.get('kind')!r}")


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
