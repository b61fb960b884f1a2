"""Where the real-material corpus lives and what it holds (built by scripts/corpus.sh).

The corpus is evaluation material made from Debian packages (real recorded music,
FluidR3_GM renders, real and synthetic speech); its ``manifest.json`` lists every
file with its kind, genre, split and source. Anything judged "on real material"
reads it through here, and skips with :data:`MISSING` when it has not been built.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.errors import AudioFileError

MISSING = "real-material corpus not built: run scripts/corpus.sh (or set MIXBRIDGE_CORPUS)"


def corpus_dir() -> Path:
    """``$MIXBRIDGE_CORPUS``, or ``~/.cache/mixbridge/corpus``."""
    return Path(os.environ.get("MIXBRIDGE_CORPUS") or Path.home() / ".cache" / "mixbridge" / "corpus").expanduser()


def available(root: Path | None = None) -> bool:
    """True when the corpus has a manifest and every file it lists exists."""
    try:
        entries(root)
    except AudioFileError:
        return False
    return True


def entries(root: Path | None = None, kind: str | None = None, split: str | None = None) -> list[dict[str, Any]]:
    """Manifest rows (``path`` made absolute), filtered by ``kind`` prefix and ``split``.

    Raises AudioFileError naming the corpus directory when it is missing or incomplete.

    Examples
    --------
    >>> [e["genre"] for e in entries(kind="music-real", split="test")][:1]  # doctest: +SKIP
    ['classical']
    """
    root = root or corpus_dir()
    try:
        rows = json.loads((root / "manifest.json").read_text())["files"]
    except (OSError, ValueError, KeyError) as e:
        raise AudioFileError(f"{root}: {MISSING} ({e})") from None
    out = []
    for row in rows:
        path = root / row["path"]
        if not path.is_file():
            raise AudioFileError(f"{path}: listed in the corpus manifest but missing; {MISSING}")
        if (kind is None or row["kind"].startswith(kind)) and (split is None or row["split"] == split):
            out.append(row | {"path": path})
    return out
