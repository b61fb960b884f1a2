"""A bounded on-disk cache of enhanced audio, keyed by the input audio and the whole configuration.

A repeated request with the same audio bytes and the same effective settings is
answered with the stored file without recomputing. Entries are evicted least
recently used first once the cache exceeds its size budget.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import files


def cache_key(inputs: list[Path], config: dict[str, Any]) -> str:
    """SHA-256 over each input file's bytes and the canonical JSON of ``config``."""
    h = hashlib.sha256()
    for p in inputs:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\x00")
    h.update(json.dumps(config, sort_keys=True, default=str).encode())
    return h.hexdigest()


class EnhancedAudioCache:
    """LRU file cache of at most ``max_bytes``.

    Examples
    --------
    >>> cache = EnhancedAudioCache("/tmp/mbcache", max_bytes=1 << 30)   # doctest: +SKIP
    >>> path, hit = cache.get_or_make(key, lambda out: enhance(src, out))   # doctest: +SKIP
    """

    def __init__(self, folder: str | Path, max_bytes: int = 2 << 30) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        files.clean_parts(self.folder)  # left by a writer killed mid-write
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.wav"

    def get(self, key: str) -> Path | None:
        p = self._path(key)
        if p.is_file():
            os.utime(p)  # mark as recently used
            self.hits += 1
            return p
        return None

    def get_or_make(self, key: str, make: Callable[[Path], Any]) -> tuple[Path, bool]:
        """The cached file for ``key`` (hit=True), or one made by ``make(tmp_path)`` and stored."""
        found = self.get(key)
        if found:
            return found, True
        self.misses += 1
        tmp = self.folder / f".{key}.{os.getpid()}-{threading.get_ident()}{files.PART}"
        meta = tmp.with_suffix(".json")
        try:
            make(tmp)
            if meta.is_file():
                os.replace(meta, self._path(key).with_suffix(".json"))
            os.replace(tmp, self._path(key))
        finally:
            tmp.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
        self.evict()
        return self._path(key), False

    def evict(self) -> list[Path]:
        """Remove least recently used entries until the cache fits its budget."""
        with self._lock:
            entries = sorted((p.stat().st_mtime, p) for p in self.folder.glob("*.wav") if p.is_file())
            total = sum(p.stat().st_size for _, p in entries)
            removed = []
            for _, p in entries:
                if total <= self.max_bytes:
                    break
                total -= p.stat().st_size
                p.unlink(missing_ok=True)
                removed.append(p)
            return removed

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob("*.wav"))

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
