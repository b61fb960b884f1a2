"""Feature vectors in ChromaDB: an embedded directory by default, a Chroma server by URL.

Embeddings are always given explicitly (no embedding model is loaded or
downloaded) and Chroma's telemetry is off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import MemoryServiceError
from core.settings import data_dir

COLLECTION = "audio_features"


class VectorStore:
    """Top-k similarity over feature vectors with metadata filters (genre, user)."""

    def __init__(self, path: str | Path | None = None, url: str | None = None, collection: str = COLLECTION) -> None:
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        url = url or os.environ.get("MIXBRIDGE_CHROMA_URL")
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
            self.collection = self.client.get_or_create_collection(
                collection, embedding_function=None, metadata={"hnsw:space": "l2"})
        except Exception as e:  # noqa: BLE001
            raise MemoryServiceError(f"vector store unavailable ({url or path}): {type(e).__name__}: {e}") from e

    def add(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        clean = [{k: v for k, v in m.items() if v is not None} or {"_": 0} for m in metadatas]
        for i in range(0, len(ids), 5000):  # Chroma caps one batch
            self.collection.upsert(ids=ids[i : i + 5000], embeddings=vectors[i : i + 5000].tolist(),
                                   metadatas=clean[i : i + 5000])

    def search(self, vector: np.ndarray, k: int = 5, genre: str | None = None,
               user: str | None = None) -> list[dict[str, Any]]:
        """The ``k`` nearest stored vectors as dicts: id, distance, metadata."""
        conds = [{key: val} for key, val in (("genre", genre), ("user", user)) if val]
        where = conds[0] if len(conds) == 1 else ({"$and": conds} if conds else None)
        n = self.collection.count()
        if n == 0:
            return []
        res = self.collection.query(query_embeddings=[np.asarray(vector).tolist()], n_results=min(k, n), where=where)
        return [{"id": i, "distance": float(d), "metadata": m}
                for i, d, m in zip(res["ids"][0], res["distances"][0], res["metadatas"][0], strict=True)]

    def count(self) -> int:
        return int(self.collection.count())
