"""Shared fixtures: a fresh plugin host (no installed entry points), a private data directory,
and the databases and caches the memory and API tests run on."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.host import PluginHost, PluginsConfig

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True, scope="session")
def private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Renders recorded during tests go to a throwaway memory, never the user's."""
    os.environ["MIXBRIDGE_DATA_DIR"] = str(tmp_path_factory.mktemp("mixbridge-data"))


@pytest.fixture(scope="session")
def plugins_config() -> PluginsConfig:
    """The repository's plugins.toml with entry-point loading off."""
    cfg = PluginsConfig.load(ROOT / "plugins.toml")
    cfg.entry_points = False
    return cfg


@pytest.fixture(scope="session")
def host(plugins_config: PluginsConfig) -> PluginHost:
    return PluginHost(plugins_config)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)



PG_URL = os.environ.get("MIXBRIDGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MIXBRIDGE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema in the `test` database, dropped afterwards."""
    if not reachable("127.0.0.1", 5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    from sqlalchemy import create_engine, text

    schema = f"mbtest_{uuid.uuid4().hex[:10]}"
    eng = create_engine(PG_URL)
    with eng.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    yield schema
    with eng.begin() as c:
        c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str | None]:
    """Connection settings for MemoryService on each database."""
    if request.param == "sqlite":
        return {"url": f"sqlite:///{tmp_path / 'memory.db'}", "schema": None}
    return {"url": PG_URL, "schema": request.getfixturevalue("pg_schema")}


@pytest.fixture
def redis_url() -> str:
    if not reachable("127.0.0.1", 6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return REDIS_URL


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the live JACK tests first, on a quiet machine.

    Their dummy-driver server shares two vCPUs with everything: right after the Ray
    and torch tests the machine is still reaping processes and reclaiming memory, and
    the first 20 s live run then saw 5-6 xruns (with or without the GC churn thread,
    while our callback's worst block took 143 us of 5333); the next runs saw none.
    """
    items.sort(key=lambda item: item.get_closest_marker("jack") is None)


@pytest.fixture(scope="session")
def throwaway_pg() -> Iterator[object]:
    """A PostgreSQL server the test controls (it can be killed mid-run); needs root and the postgres binaries."""
    from app.bench_soak import ThrowawayPostgres, throwaway_postgres

    if not ThrowawayPostgres.possible():
        pytest.skip("a throwaway PostgreSQL needs root, runuser and /usr/lib/postgresql/*/bin")
    with throwaway_postgres() as pg:
        yield pg


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test (a disk that fills up for real); skipped where mounting is not allowed."""
    import subprocess

    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(folder: Path) -> None:
    """Fill the file system holding ``folder`` to the last byte."""
    for name, size in (("filler", 4096), ("filler-tail", 1)):
        try:
            with open(folder / name, "wb", buffering=0) as f:
                while True:
                    f.write(b"\0" * size)
        except OSError:
            pass
