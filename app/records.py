"""Every output is a rateable render: the one way the application records into memory.

The application reaches the memory through one service object, the one the
``memory.recorder`` plugin holds for this process (``host.service("memory")``).
A memory that is off or failing never fails the work it records: the output is
written and the report says why it has no render id.
"""

from __future__ import annotations

import logging
from typing import Any

from core.errors import MixbridgeError
from core.host import PluginHost
from core.keys import Settings
from memory.recorder import local_user

log = logging.getLogger(__name__)


def open_memory(host: PluginHost) -> Any:
    """The memory service, or None when it is switched off, not loaded or cannot be reached (logged)."""
    try:
        return host.service("memory")
    except MixbridgeError:
        return None
    except Exception as e:  # noqa: BLE001 - a memory that cannot start must not stop a render
        log.warning("memory service unavailable: %s: %s", type(e).__name__, e)
        return None


def record_render(memory: Any, report: dict[str, Any], config: Settings, *, user: str | None, genre: str | None,
                  audio: str | None = None, song_id: str | None = None) -> str | None:
    """Record ``report`` (and ``config``, the settings that made it) for ``user``; its render id, or None.

    The id is also put in ``report["render_id"]``; a failure goes into ``report["warnings"]``.
    """
    report["render_id"] = None
    if memory is None:
        return None
    try:
        render_id = str(memory.record_render(report, config, user=user or local_user(), genre=genre, audio=audio,
                                             song_id=song_id))
    except Exception as e:  # noqa: BLE001 - memory is optional for a render
        msg = f"render not recorded in memory: {type(e).__name__}: {e}"
        log.warning("%s", msg)
        report.setdefault("warnings", []).append(msg)
        return None
    report["render_id"] = render_id
    return render_id


def announce(render_id: str | None, warnings: list[str]) -> None:
    """The closing lines of a command that made a render: how to rate it, then its warnings."""
    if render_id:
        print(f"render id {render_id} (rate it: mixbridge rate {render_id} --overall 1-5)")
    for w in warnings:
        print(f"warning: {w}")
