"""Hook specifications: the only way plugins reach mixbridge.

Every hook is called from the host on a control thread, never on the audio thread.
Built-in plugins implement these exactly as outside plugins do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import numpy as np

    from core.processor import Processor

hookspec = pluggy.HookspecMarker("mixbridge")
hookimpl = pluggy.HookimplMarker("mixbridge")


@hookspec
def mixbridge_processors() -> list[type[Processor]]:
    """Return the processor classes this plugin provides (classes, not instances)."""


@hookspec(historic=True)
def mixbridge_startup(host: Any) -> None:
    """Called once after all plugins registered; ``host`` is the PluginHost."""


@hookspec(firstresult=True)
def mixbridge_generate_vocals(
    lyrics: str, key: str, bpm: float, duration: float, sample_rate: int, style: str
) -> np.ndarray | None:
    """Return a mono vocal, float32 shape (1, frames), or None to pass.

    ``style`` is "sung" (a melody in ``key``) or "spoken" (text-to-speech on the
    bar grid); an implementation that cannot do the style asked for returns None.
    """


@hookspec(firstresult=True)
def mixbridge_generate_music(
    genre: str, key: str, bpm: float, duration: float, sample_rate: int
) -> np.ndarray | None:
    """Return a stereo instrumental, float32 shape (2, frames), or None to pass."""


@hookspec(firstresult=True)
def mixbridge_predict_prosody(lyrics: str) -> list[dict[str, Any]] | None:
    """Return per-syllable prosody targets (stress, duration, pitch) or None to pass."""


@hookspec
def mixbridge_genre_presets() -> dict[str, dict[str, Any]]:
    """Return genre presets by name (the mixing settings of each genre)."""


@hookspec(firstresult=True)
def mixbridge_render_finished(session: Any, report: dict[str, Any], output: str) -> str | None:
    """Record a finished render (its session, report and output path); return its render id."""


@hookspec(firstresult=True)
def mixbridge_recommend(genre: str, user: str | None, audio: str | None) -> dict[str, Any] | None:
    """Recommend mixing settings or None to pass.

    Returns ``{"config": Settings, "source": ..., "explanation": ...}``: ``config`` is
    :data:`core.keys.Settings` keyed like the session's chains (``vocals/...``,
    ``music/...``, ``master/...``), ready for ``Session.apply_settings``.
    """


RATINGS = ("overall", "vocals_clarity", "music_balance", "stereo_width", "eq_quality", "reverb_quality")
"""The rating fields (each 1-5) of ``mixbridge rate``, ``/mixbridge/rate`` and the HTTP feedback."""


@hookspec(firstresult=True)
def mixbridge_live_rated(
    config: dict[str, Any], ratings: dict[str, float], genre: str | None
) -> dict[str, Any] | None:
    """Store ratings (1-5) of a configuration heard live; return what was stored.

    ``config`` is :data:`core.keys.Settings` (``chain/slot/param`` -> value); the
    controller's ``{chain/slot: {param: value}}`` is accepted too.
    """
