"""Audio paths from requests resolve only inside the requesting user's media folder.

The media root holds one folder per user (``<root>/<user>/...``); request paths are
relative to the root (``alice/vocals.wav``). Absolute paths, ``..`` (also
percent-encoded, once or several times), backslashes, NUL bytes, over-long paths
and symlinks that lead out of the root are refused (400) before anything is read;
a path into another user's folder is forbidden (403). Error messages never repeat
the submitted path: it is the client's input, and may be megabytes long.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from core.errors import BridgeError, PermissionDeniedError

MAX_PATH = 1024  # characters, after percent-decoding (Linux allows 4096 bytes, a name 255)
MAX_NAME = 255


class PathRefused(BridgeError):
    """A request path that would leave the media root (or is malformed)."""


def _decode(raw: str) -> str:
    s = raw
    for _ in range(5):  # %252e%252e -> %2e%2e -> ..
        d = unquote(s)
        if d == s:
            return s
        s = d
    raise PathRefused("too many levels of percent-encoding")


def user_folder(root: str | Path, user: str) -> Path:
    """``<root>/<user>``: the one folder ``user`` reads and writes in."""
    from bridge.auth import check_user

    return (Path(root).resolve() / check_user(user)).resolve()


def resolve_media(root: str | Path, raw: str, must_exist: bool = True, user: str | None = None) -> Path:
    """The real path of ``raw`` under ``root`` (under ``root/user`` when ``user`` is given).

    PathRefused when it is malformed or would escape the root; PermissionDeniedError
    when it lies in another user's folder; FileNotFoundError when ``must_exist`` and
    it is not a file.

    Examples
    --------
    >>> resolve_media("/srv/media", "../etc/passwd")   # doctest: +SKIP
    Traceback (most recent call last):
    PathRefused: '..' is not allowed in media paths
    """
    if not isinstance(raw, str) or not raw.strip():
        raise PathRefused("an audio path must be a non-empty string")
    if len(raw) > 3 * MAX_PATH:
        raise PathRefused(f"path too long ({len(raw)} characters; at most {MAX_PATH})")
    s = _decode(raw)
    if len(s) > MAX_PATH or any(len(part.encode(errors="replace")) > MAX_NAME for part in s.split("/")):
        raise PathRefused(f"path too long (at most {MAX_PATH} characters, {MAX_NAME} bytes per name)")
    if "\x00" in s or "\\" in s:
        raise PathRefused("NUL bytes and backslashes are not allowed in media paths")
    if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in s):
        raise PathRefused("control characters and lone surrogates are not allowed in media paths")
    p = PurePosixPath(s)
    if p.is_absolute() or (len(s) > 1 and s[1] == ":"):
        raise PathRefused("absolute paths are not allowed; give a path inside the media root")
    if ".." in p.parts:
        raise PathRefused("'..' is not allowed in media paths")
    base = Path(root).resolve()
    try:
        full = (base / p).resolve()
        is_file = full.is_file()
    except OSError as e:  # a name too long, a loop of links...
        raise PathRefused(f"unusable path ({os.strerror(e.errno) if e.errno else type(e).__name__})") from None
    if not full.is_relative_to(base):
        raise PathRefused("resolves outside the media root (a symlink?)")
    if user is not None and not full.is_relative_to(user_folder(base, user)):
        raise PermissionDeniedError(f"that path is not in your media folder ({user}/...)")
    if must_exist and not is_file:
        raise FileNotFoundError("no such file in your media folder")
    return full


def relative(root: str | Path, path: Path) -> str:
    """``path`` as the client should see it: relative to the media root."""
    return str(Path(path).resolve().relative_to(Path(root).resolve()))
