"""Atomic file writes: a file appears whole or not at all, and only regular files are replaced.

Every writer in mixbridge (audio, reports, sessions, presets, caches, exports) goes
through here: the content is written to a ``.part`` file beside the target, synced,
then renamed over it. An existing target that is not a regular file (a device such
as ``/dev/full``, a FIFO, a directory, a socket) is refused before anything is
written: renaming over it would replace a device node with a WAV.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import MixbridgeError

PART = ".part"


class OutputError(MixbridgeError):
    """An output path that cannot or must not be written (not a regular file, too long, empty...)."""

    errno: int | None = None


def check_target(path: str | Path) -> Path:
    """``path`` as a Path if it may be written: not empty, and absent or a regular file."""
    if str(path).strip() == "":
        raise OutputError("output path is empty")
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return p
    except OSError as e:  # name too long, permission, a loop of links...
        raise OutputError(f"{str(p)[:200]}: cannot write here ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise OutputError(f"{p}: exists and is {kind}; refusing to replace it")
    return p


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write; renamed onto ``path`` when the block succeeds, removed when it fails.

    Examples
    --------
    >>> with atomic_path("out.wav") as tmp:   # doctest: +SKIP
    ...     sf.write(tmp, audio, 48000)
    """
    p = check_target(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{str(p)[:200]}: cannot create its folder ({e.strerror or e})") from None
    tmp = p.with_name(f".{p.name}.{os.getpid()}{PART}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        check_target(p)  # still not replaced by something else meanwhile
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; OutputError says why it could not."""
    return _write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode())


def copy_file(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src`` onto ``dst`` atomically (a full disk leaves ``dst`` as it was)."""
    import shutil

    return _write(dst, lambda tmp: shutil.copyfile(src, tmp))


def _write(path: str | Path, fill: Callable[[Path], object]) -> Path:
    p = Path(path)
    try:
        with atomic_path(p) as tmp:
            fill(tmp)
    except OSError as e:
        err = OutputError(f"{str(p)[:200]}: cannot write ({e.strerror or e})")
        err.errno = e.errno  # ENOSPC: a full disk (the HTTP API answers 507)
        raise err from None
    return p


def clean_parts(folder: str | Path) -> int:
    """Remove ``.part`` files a killed writer left in ``folder`` (not recursive); returns how many."""
    n = 0
    try:
        entries = list(Path(folder).glob(f".*{PART}"))
    except OSError:
        return 0
    for f in entries:
        try:
            if f.is_file():
                f.unlink()
                n += 1
        except OSError:
            pass
    return n
