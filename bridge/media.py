"""Audio paths from requests resolve only inside the configured media root.

Absolute paths, ``..`` (also percent-encoded, once or several times), backslashes,
NUL bytes and symlinks that lead out of the root are refused before anything is read.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from core.errors import BridgeError


class PathRefused(BridgeError):
    """A request path that would leave the media root (or is malformed)."""


def _decode(raw: str) -> str:
    s = raw
    for _ in range(5):  # %252e%252e -> %2e%2e -> ..
        d = unquote(s)
        if d == s:
            return s
        s = d
    raise PathRefused(f"{raw!r}: too many levels of percent-encoding")


def resolve_media(root: str | Path, raw: str, must_exist: bool = True) -> Path:
    """The real path of ``raw`` under ``root``; PathRefused when it would escape.

    Examples
    --------
    >>> resolve_media("/srv/media", "../etc/passwd")   # doctest: +SKIP
    Traceback (most recent call last):
    PathRefused: '../etc/passwd': '..' is not allowed in media paths
    """
    if not isinstance(raw, str) or not raw.strip():
        raise PathRefused("an audio path must be a non-empty string")
    s = _decode(raw)
    if "\x00" in s or "\\" in s:
        raise PathRefused(f"{raw!r}: NUL bytes and backslashes are not allowed in media paths")
    p = PurePosixPath(s)
    if p.is_absolute() or (len(s) > 1 and s[1] == ":"):
        raise PathRefused(f"{raw!r}: absolute paths are not allowed; give a path inside the media root")
    if ".." in p.parts:
        raise PathRefused(f"{raw!r}: '..' is not allowed in media paths")
    base = Path(root).resolve()
    full = (base / p).resolve()
    if not full.is_relative_to(base):
        raise PathRefused(f"{raw!r}: resolves outside the media root (a symlink?)")
    if must_exist and not full.is_file():
        raise FileNotFoundError(f"{raw}: no such file in the media root")
    return full


def relative(root: str | Path, path: Path) -> str:
    """``path`` as the client should see it: relative to the media root."""
    return str(Path(path).resolve().relative_to(Path(root).resolve()))
