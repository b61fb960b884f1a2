"""Generators: a synthetic singer and a procedural instrumental, offered through the hooks.

``mixbridge_generate_vocals`` sings the lyrics (or a generated line) in the key and
tempo with :func:`plugins.generators.singer.sing`; ``mixbridge_generate_music`` plays a
genre-styled drums/bass/chords backing with
:func:`plugins.generators.instrumental.generate`. Both are deterministic (seed 0).
"""

from __future__ import annotations

import numpy as np

from core.hookspecs import hookimpl


@hookimpl
def mixbridge_service(name: str) -> object:
    """The ``generators`` service: sing, progression, generate and the STYLES (every option the hooks hide)."""
    if name != "generators":
        return None
    from types import SimpleNamespace

    from plugins.generators.instrumental import STYLES, generate, progression
    from plugins.generators.singer import sing

    return SimpleNamespace(sing=sing, generate=generate, progression=progression, STYLES=STYLES)


@hookimpl
def mixbridge_generate_vocals(lyrics: str, key: str, bpm: float, duration: float, sample_rate: int) -> np.ndarray:
    """Sing ``lyrics`` in ``key``, float32 (1, frames), for any ``style``.

    The singer also answers ``style="spoken"``: it is the fallback when no
    text-to-speech plugin (plugins.speech, espeak-ng) answered first.
    """
    from plugins.generators.singer import sing

    return sing(lyrics, key, bpm, duration, sample_rate).audio


@hookimpl
def mixbridge_generate_music(genre: str, key: str, bpm: float, duration: float, sample_rate: int) -> np.ndarray:
    """Drums, bass and chords in ``key`` at ``bpm`` styled by ``genre``, float32 (2, frames)."""
    from plugins.generators.instrumental import generate

    return generate(genre, key, bpm, duration, sample_rate)
