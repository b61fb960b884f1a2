"""The memory service as a plugin: the application reaches it as ``host.service("memory")``.

Listed in plugins.toml like any plugin; switched off by ENABLE_MEMORY_LEARNING=false.
A memory failure never fails a render: it is logged and the render goes on.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from core.hookspecs import hookimpl
from core.keys import check
from core.settings import EnhancementSettings

log = logging.getLogger(__name__)
_services: dict[tuple[str, str], Any] = {}
_host: list[Any] = []  # the host that loaded this plugin: its processors declare the search space


@hookimpl
def mixbridge_startup(host: Any) -> None:
    _host[:] = [host]


def local_user() -> str:
    """Whose renders these are when nobody says (MIXBRIDGE_USER, default "local")."""
    return os.environ.get("MIXBRIDGE_USER") or "local"


def service() -> Any:
    """The memory service for the database and cache now configured (one per configuration).

    Its renders and ratings survive a database outage: they wait in a local journal
    (memory.journal) and are stored when the database answers again.
    """
    from core.settings import data_dir
    from memory.db import database_url

    key = (database_url(), os.environ.get("MIXBRIDGE_REDIS_URL", ""))
    if key not in _services:
        from memory.journal import Journal, JournaledMemory, journal_path
        from memory.service import MemoryService

        host = _host[0] if _host else None
        _services[key] = JournaledMemory(lambda: MemoryService(host=host), Journal(journal_path(data_dir(), key[0])))
    return _services[key]


@hookimpl
def mixbridge_service(name: str) -> Any:
    """The ``memory`` service: this process's MemoryService, or None when learning is switched off."""
    if name != "memory" or not EnhancementSettings.from_env().enable_memory_learning:
        return None
    return service()


@hookimpl
def mixbridge_live_rated(
    config: dict[str, Any], ratings: dict[str, float], genre: str | None
) -> dict[str, Any] | None:
    """A rating sent from a surface (``/mixbridge/rate``): record the live configuration, then rate it."""
    if not EnhancementSettings.from_env().enable_memory_learning:
        return None
    svc = service()
    render_id = svc.record_render({"source": "live"}, check(config, "live rating"), user=local_user(), genre=genre)
    stars = {k: int(round(v)) for k, v in ratings.items() if k != "directions"}
    return dict(svc.rate(render_id, stars.pop("overall"), user=local_user(), directions=ratings.get("directions"),
                         **stars))
