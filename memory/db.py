"""Database engine and schema: SQLite in the data directory by default, PostgreSQL by URL.

MIXBRIDGE_DATABASE_URL selects the database (e.g. postgresql+psycopg://user@host/db);
the schema is created and upgraded by the Alembic migrations shipped in memory/migrations.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from core.errors import MemoryServiceError
from core.settings import data_dir

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url() -> str:
    url = os.environ.get("MIXBRIDGE_DATABASE_URL")
    if url:
        return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    d = data_dir()
    d.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{d / 'memory.db'}"


def make_engine(url: str | None = None, schema: str | None = None) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so threads and processes can share it.

    With WAL, synchronous=NORMAL keeps the database consistent after a crash or power
    loss; only the last commits before a power loss can be lost (not after a crash of
    the process).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = url or database_url()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise MemoryServiceError(
            "MIXBRIDGE_DATABASE_URL is not a database URL: use e.g. postgresql://user@host:5432/db "
            "or sqlite:////path/memory.db") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise MemoryServiceError(f"database {parsed.get_backend_name()!r}: use postgresql:// or sqlite://")
    if url.startswith("sqlite"):
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)  # a new data directory just works
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _):  # type: ignore[no-untyped-def]
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL's usual pairing: never corrupt, one fsync per checkpoint
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        args: dict[str, object] = {"connect_timeout": 5}  # a database that is down is known in seconds
        if schema:
            args["options"] = f"-csearch_path={schema}"
        try:
            engine = create_engine(url, pool_pre_ping=True, connect_args=args)
        except Exception as e:  # noqa: BLE001 - a missing driver, a bad option: one clear error
            raise MemoryServiceError(f"cannot use the database URL ({type(e).__name__}: {e})") from None
    return engine


def migrate(engine: Engine, schema: str | None = None, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (alembic upgrade; the newest by default).

    SQLite rebuilds a table to alter it (alembic's batch mode): foreign keys are
    switched off for the upgrade, or dropping a referenced table with rows fails.
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # PRAGMA foreign_keys is ignored inside a transaction: set it before one begins
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            with conn.begin():
                cfg.attributes["connection"] = conn
                cfg.attributes["schema"] = schema
                command.upgrade(cfg, revision)
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    except Exception as e:  # noqa: BLE001 - an unreachable or broken database is one clear error
        raise MemoryServiceError(f"cannot prepare the database at {engine.url!r}: {type(e).__name__}: {e}") from e


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls everything back on any error."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
