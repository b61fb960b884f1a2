"""The memory service as a plugin: renders are recorded and recommendations offered through hooks.

Listed in plugins.toml like any plugin; switched off by ENABLE_MEMORY_LEARNING=false.
A memory failure never fails a render: it is logged and the render goes on.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from core.hookspecs import hookimpl
from core.keys import Settings
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
    """The memory service for the database and cache now configured (one per configuration)."""
    from memory.db import database_url

    key = (database_url(), os.environ.get("MIXBRIDGE_REDIS_URL", ""))
    if key not in _services:
        from memory.service import MemoryService

        _services[key] = MemoryService(host=_host[0] if _host else None)
    return _services[key]


def live_settings(config: dict[str, Any]) -> Settings:
    """A live configuration as Settings.

    Takes Settings as they are, or the controller's ``{chain/slot: {param: value}}``;
    ``{slot: {param: value}}`` from a single running chain has lost its chain's name
    and is keyed ``live/slot/param``.
    """
    out: Settings = {}
    for k, v in config.items():
        if isinstance(v, dict):
            prefix = k if "/" in k else f"live/{k}"
            out.update({f"{prefix}/{p}": x for p, x in v.items()
                        if isinstance(x, int | float | str) and not isinstance(x, bool)})
        else:
            out[k] = v
    return out


@hookimpl
def mixbridge_render_finished(session: Any, report: dict[str, Any], output: str) -> str | None:
    if not EnhancementSettings.from_env().enable_memory_learning:
        return None
    try:
        return str(service().record_render(report, session.settings(), user=local_user(), genre=session.genre))
    except Exception as e:  # noqa: BLE001 - memory is optional for a render
        log.warning("render not recorded in memory: %s: %s", type(e).__name__, e)
        return None


@hookimpl
def mixbridge_recommend(genre: str, user: str | None, audio: str | None) -> dict[str, Any] | None:
    if not EnhancementSettings.from_env().enable_memory_learning:
        return None
    try:
        return dict(service().get_mixing_recommendations(user or local_user(), genre, audio))
    except Exception as e:  # noqa: BLE001
        log.warning("no recommendation from memory: %s: %s", type(e).__name__, e)
        return None


@hookimpl
def mixbridge_live_rated(
    config: dict[str, Any], ratings: dict[str, float], genre: str | None
) -> dict[str, Any] | None:
    """A rating sent from a surface (``/mixbridge/rate``): record the live configuration, then rate it."""
    if not EnhancementSettings.from_env().enable_memory_learning:
        return None
    svc = service()
    render_id = svc.record_render({"source": "live"}, live_settings(config), user=local_user(), genre=genre)
    whole = {k: int(round(v)) for k, v in ratings.items()}
    return dict(svc.rate(render_id, whole.pop("overall"), user=local_user(), **whole))
