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


SERVICES = {
    "analysis": "spectral_features(audio, sr), masking(vocals, music, sr), band energies (plugins.analysis)",
    "reference": "analyse(audio, sr), match(...): reference-track matching (plugins.reference)",
    "genre": "classify(audio, sr) -> (genre, confidence), synth_clip(...) (plugins.genre)",
    "voice": "enhance_voice(audio, sr, ...) -> (audio, report): the voice stage (plugins.voice)",
    "metrics": "calculate_all_metrics(reference, processed, sr), dnsmos, pesq, stoi (plugins.metrics)",
    "vocoder": "find_vocos_weights(), random_vocos_dir(), VOCOS_ENV: neural vocoder loading (plugins.vocoder)",
    "generators": "sing(...), generate(...), progression(...), STYLES: the synthetic singer and instrumental",
    "external": "discover(): the VST3, AU and LV2 plugins installed here (plugins.external)",
    "memory": "the process's MemoryService (memory.recorder); None when ENABLE_MEMORY_LEARNING=false",
}
"""The services the application asks the host for by name, and what each provides."""


@hookspec(firstresult=True)
def mixbridge_service(name: str) -> Any:
    """Return the object that provides the service ``name`` (see :data:`SERVICES`), or None.

    The application reaches plugin code only through the host: ``host.service("voice")``.
    A plugin replaces a built-in service by answering first (``tryfirst=True``).
    """


RATINGS = ("overall", "vocals_clarity", "music_balance", "stereo_width", "eq_quality", "reverb_quality")
"""The rating fields (each 1-5) of ``mixbridge rate``, ``/mixbridge/rate`` and the HTTP feedback."""

TOO = {
    "narrow": ("stereo_width", -1), "wide": ("stereo_width", 1),
    "dark": ("eq_quality", -1), "bright": ("eq_quality", 1),
    "quiet-vocal": ("music_balance", -1), "loud-vocal": ("music_balance", 1),
    "dry": ("reverb_quality", -1), "wet": ("reverb_quality", 1),
}
"""Which way a mix is off, as a person says it (``rate --too wide``, ``/mixbridge/rate 3 wide``):
the signed aspect rating ``{aspect: -1 or +1}`` the learner steps along (memory.learning.DIRECTIONS)."""


@hookspec(firstresult=True)
def mixbridge_live_rated(
    config: dict[str, Any], ratings: dict[str, float], genre: str | None
) -> dict[str, Any] | None:
    """Store ratings (1-5) of a configuration heard live; return what was stored.

    ``config`` is :data:`core.keys.Settings` (``chain/slot/param`` -> value) of every
    slot not bypassed: what the listener heard. ``ratings`` may hold ``directions``
    ({aspect: -1 or +1}, from :data:`TOO`'s words).
    """


@hookspec
def mixbridge_commands(sub: Any, bench: Any) -> None:
    """Add ``mixbridge`` subcommands: ``sub`` is the top-level argparse subparsers, ``bench``
    the subparsers of ``mixbridge bench`` (as datasette's ``register_commands``).

    Each handler is ``func(args) -> int`` set with ``set_defaults(func=...)`` and
    imports what it needs when it runs, so ``--help`` and other commands stay fast.
    """
