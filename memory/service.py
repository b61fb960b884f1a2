"""The memory service: configurations, renders, feedback, vectors and recommendations.

Embedded defaults need no server (SQLite file, in-process cache, local Chroma
directory); MIXBRIDGE_DATABASE_URL, MIXBRIDGE_REDIS_URL and MIXBRIDGE_CHROMA_URL
select PostgreSQL, Redis and a Chroma server.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from core import files
from core.errors import MemoryServiceError, NotFoundError, ParameterError, PermissionDeniedError
from core.settings import EnhancementSettings
from memory import learning
from memory.cache import Cached, RedisCache, TTLCache
from memory.db import make_engine, migrate, transaction
from memory.models import (
    RATINGS,
    AudioFeatureVector,
    MixingConfiguration,
    MixingFeedback,
    QualityHistory,
    Render,
    Song,
    User,
)

log = logging.getLogger(__name__)
GROUPS = {"eq": "eq_settings", "compressor": "compression_settings", "reverb": "reverb_settings",
          "delay": "delay_settings", "ducker": "sidechain_settings"}


def _config_dict(c: MixingConfiguration) -> dict[str, Any]:
    config = {plugin: dict(getattr(c, col) or {}) for plugin, col in GROUPS.items() if getattr(c, col)}
    if c.stereo_width is not None:
        config["stereo_width"] = {"width": c.stereo_width}
    return {"id": c.id, "config_type": c.config_type, "genre": c.genre, "user": c.user_id,
            "usage_count": c.usage_count, "is_default": c.is_default, "config": config,
            "created_at": c.created_at.isoformat() if c.created_at else None}


RATING_EXTRAS = {"comment", "is_liked", "pesq", "stoi", "mos"}


def check_ratings(overall: Any, ratings: dict[str, Any]) -> dict[str, int]:
    """The star ratings of a feedback, checked (known fields, whole numbers 1-5); ParameterError otherwise."""
    bad = set(ratings) - set(RATINGS) - RATING_EXTRAS - {"user"}
    if bad:
        raise ParameterError(f"unknown rating field(s) {sorted(bad)} (use {', '.join(RATINGS)})")
    values = {"overall": overall, **{k: v for k, v in ratings.items() if k in RATINGS and v is not None}}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5:
            raise ParameterError(f"{k}: rating {v!r} must be a whole number from 1 to 5")
    return values


class MemoryService:
    """Examples
    --------
    >>> mem = MemoryService()                                        # doctest: +SKIP
    >>> rid = mem.record_render(report, {"compressor": {"ratio": 3}}, user="alice", genre="pop")  # doctest: +SKIP
    >>> mem.rate(rid, overall=4)                                     # doctest: +SKIP
    """

    def __init__(self, url: str | None = None, redis_url: str | None = None, chroma_path: str | Path | None = None,
                 schema: str | None = None, settings: EnhancementSettings | None = None, seed: int = 0) -> None:
        self.settings = settings or EnhancementSettings.from_env()
        self.engine = make_engine(url, schema)
        migrate(self.engine, schema)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        redis_url = redis_url or os.environ.get("MIXBRIDGE_REDIS_URL")
        ttl = self.settings.cache_ttl_seconds
        store = RedisCache(redis_url, ttl, prefix=f"mixbridge:{schema or 'public'}:") if redis_url else TTLCache(ttl)
        self.cache = Cached(store)
        self.chroma_path = chroma_path
        self._vectors: Any = None
        self.rng = np.random.default_rng(seed)

    @property
    def vectors(self) -> Any:
        if self._vectors is None:
            from memory.vectors import VectorStore

            self._vectors = VectorStore(path=self.chroma_path)
        return self._vectors

    # -- configurations ----------------------------------------------------------------
    @staticmethod
    def _ensure_user(s: Any, user: str | None) -> None:
        if user and s.get(User, user) is None:
            s.add(User(id=user))
            s.flush()

    def create_config(self, config: dict[str, dict[str, Any]], config_type: str = "manual", genre: str | None = None,
                      user: str | None = None, song_id: str | None = None, is_default: bool = False) -> str:
        """Store a configuration ({plugin: {param: value}}); returns its id."""
        from memory.models import CONFIG_TYPES

        if config_type not in CONFIG_TYPES:
            raise ParameterError(f"config_type {config_type!r}: use one of {', '.join(CONFIG_TYPES)}")
        with transaction(self.Session) as s:
            self._ensure_user(s, user)
            row = MixingConfiguration(
                config_type=config_type, genre=genre, user_id=user, song_id=song_id, is_default=is_default,
                stereo_width=(config.get("stereo_width") or {}).get("width"),
                **{col: dict(config.get(plugin) or {}) for plugin, col in GROUPS.items()})
            s.add(row)
            s.flush()
            return row.id

    def get_config(self, config_id: str) -> dict[str, Any]:
        """A configuration by id, through the cache."""
        def load() -> dict[str, Any] | None:
            with self.Session() as s:
                row = s.get(MixingConfiguration, config_id)
                return _config_dict(row) if row else None

        found = self.cache.get(f"config:{config_id}", load)
        if found is None:
            raise NotFoundError(f"no mixing configuration {config_id}")
        return found

    def list_configs(self, genre: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        with self.Session() as s:
            q = select(MixingConfiguration).order_by(MixingConfiguration.created_at)
            if genre:
                q = q.where(MixingConfiguration.genre == genre)
            if user:
                q = q.where(MixingConfiguration.user_id == user)
            return [_config_dict(c) for c in s.scalars(q)]

    def use_config(self, config_id: str) -> int:
        """Count one more use; the cached copy is invalidated."""
        with transaction(self.Session) as s:
            row = s.get(MixingConfiguration, config_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no mixing configuration {config_id}")
            row.usage_count += 1
            count = row.usage_count
        self.cache.invalidate(f"config:{config_id}")
        return count

    # -- renders and feedback ----------------------------------------------------------------
    def record_render(self, report: dict[str, Any], config: dict[str, Any], user: str | None = None,
                      genre: str | None = None, audio: str | None = None, song_id: str | None = None,
                      config_type: str = "manual", render_id: str | None = None) -> str:
        """Store a render (its configuration, metrics and features); returns the render id to rate.

        ``render_id`` (from memory.journal) makes a replay idempotent: a render already stored is kept.
        """
        if render_id is not None:
            with self.Session() as s:
                if s.get(Render, render_id) is not None:
                    return render_id
        plugin_config = config if all(isinstance(v, dict) for v in config.values()) else {}
        config_id = self.create_config(plugin_config, config_type, genre, user, song_id)
        metrics = report.get("quality_metrics") or {}
        vec = feats = None
        if audio:
            from core import audio_io
            from memory.features import features, vector

            a, sr = audio_io.read(audio)
            feats = features(a, sr)
            vec = vector(feats)
        with transaction(self.Session) as s:
            self._ensure_user(s, user)
            given = {"id": render_id} if render_id else {}
            render = Render(**given, user_id=user, song_id=song_id, configuration_id=config_id, genre=genre,
                            output_path=(report.get("outputs") or {}).get("song") or report.get("output"),
                            metrics=metrics, report=json.loads(json.dumps(report, default=float)))
            s.add(render)
            s.flush()
            s.add(QualityHistory(configuration_id=config_id, render_id=render.id, pesq=metrics.get("pesq"),
                                 stoi=metrics.get("stoi"), mos=metrics.get("mos"), overall=metrics.get("overall")))
            if feats is not None and vec is not None:
                s.add(AudioFeatureVector(render_id=render.id, chromadb_id=render.id, vector_dimension=len(vec),
                                         tempo=feats["tempo"], spectral_centroid=feats["spectral_centroid"],
                                         mfcc_features=feats["mfcc_mean"], frequency_bands=feats["band_energies"]))
            render_id = render.id
        if vec is not None:
            self.vectors.add([render_id], vec[None], [{"genre": genre, "user": user, "config_id": config_id}])
        return render_id

    def rate(self, render_id: str, overall: int, user: str | None = None, feedback_id: str | None = None,
             **ratings: Any) -> dict[str, Any]:
        """Store feedback on a render; ratings are whole numbers 1-5. Learns once enough arrived.

        ``feedback_id`` (from memory.journal) makes a replay idempotent: a rating already stored is kept.
        """
        extra = RATING_EXTRAS
        values = check_ratings(overall, ratings)
        with transaction(self.Session) as s:
            if feedback_id is not None and (done := s.get(MixingFeedback, feedback_id)) is not None:
                return {"id": done.id, "render_id": render_id, **values}
            render = s.get(Render, render_id)
            if render is None:
                raise NotFoundError(f"no render {render_id}")
            if user and render.user_id and render.user_id != user:
                raise PermissionDeniedError("that render belongs to another user")
            if user and not render.user_id:  # a render's own user exists already
                self._ensure_user(s, user)
            given = {"id": feedback_id} if feedback_id else {}
            fb = MixingFeedback(**given, render_id=render_id, configuration_id=render.configuration_id,
                                user_id=user or render.user_id, **values,
                                **{k: ratings[k] for k in extra if ratings.get(k) is not None})
            s.add(fb)
            s.flush()
            stored = {"id": fb.id, "render_id": render_id, **values}
            owner, genre = fb.user_id, render.genre
        if self.settings.enable_memory_learning and owner and genre:
            stored["learned_config_id"] = self.learn(owner, genre)
        return stored

    def _rated(self, user: str, genre: str) -> list[tuple[dict[str, Any], float, str]]:
        with self.Session() as s:
            rows = s.execute(
                select(MixingConfiguration, func.avg(MixingFeedback.overall))
                .join(MixingFeedback, MixingFeedback.configuration_id == MixingConfiguration.id)
                .where(MixingFeedback.user_id == user, MixingConfiguration.genre == genre)
                .group_by(MixingConfiguration.id).order_by(MixingConfiguration.created_at)).all()
            return [(_config_dict(c)["config"], float(avg), c.id) for c, avg in rows]

    def learn(self, user: str, genre: str) -> str | None:
        """Propose and store the next configuration once >= 3 ratings exist for user and genre."""
        rated = self._rated(user, genre)
        if len(rated) < learning.MIN_RATINGS:
            return None
        proposal = learning.propose([(c, r) for c, r, _ in rated], self.rng)
        return self.create_config(proposal["config"], "learned", genre, user)

    # -- recommendations ----------------------------------------------------------------------
    def get_mixing_recommendations(self, user: str | None, genre: str, audio: str | None = None,
                                   k: int = 5) -> dict[str, Any]:
        """The configuration to start from, and why: the user's learned one, good neighbours, or none."""
        explanation: dict[str, Any] = {"ratings": [], "neighbours": []}
        learned = None
        if user:
            mine = [c for c in self.list_configs(genre=genre, user=user) if c["config_type"] == "learned"]
            if mine:
                learned = mine[-1]
                rated = self._rated(user, genre)
                explanation["ratings"] = [{"config_id": cid, "mean_overall": r} for _, r, cid in rated]
        neighbour = None
        if audio:
            from core import audio_io
            from memory.features import features, vector

            a, sr = audio_io.read(audio)
            hits = self.vectors.search(vector(features(a, sr)), k=k, genre=genre)
            scored = []
            for h in hits:
                with self.Session() as s:
                    mean = s.scalar(select(func.avg(MixingFeedback.overall)).where(MixingFeedback.render_id == h["id"]))
                scored.append({**h, "mean_overall": float(mean) if mean is not None else None})
            explanation["neighbours"] = scored
            good = [h for h in scored if h["mean_overall"] is not None and h["mean_overall"] >= 4]
            if good:
                neighbour = self.get_config(good[0]["metadata"]["config_id"])
        if learned and neighbour:
            x = 0.7 * learning.to_vector(learned["config"]) + 0.3 * learning.to_vector(neighbour["config"])
            return {"config": learning.from_vector(x), "source": "learned+neighbours",
                    "config_id": learned["id"], "explanation": explanation}
        if learned:
            return {"config": learned["config"], "source": "learned", "config_id": learned["id"],
                    "explanation": explanation}
        if neighbour:
            return {"config": neighbour["config"], "source": "neighbours", "config_id": neighbour["id"],
                    "explanation": explanation}
        return {"config": {}, "source": "genre_preset", "config_id": None, "explanation": explanation}

    # -- songs (for the HTTP API) -------------------------------------------------------------
    def create_song(self, user: str, vocals_path: str, music_path: str, genre: str | None = None,
                    title: str = "") -> str:
        with transaction(self.Session) as s:
            self._ensure_user(s, user)
            song = Song(user_id=user, vocals_path=vocals_path, music_path=music_path, genre=genre, title=title)
            s.add(song)
            s.flush()
            return song.id

    def get_song(self, user: str, song_id: str) -> dict[str, Any]:
        with self.Session() as s:
            song = s.get(Song, song_id)
            if song is None:
                raise NotFoundError(f"no song {song_id}")
            if song.user_id != user:
                raise PermissionDeniedError("that song belongs to another user")
            return {"id": song.id, "vocals_path": song.vocals_path, "music_path": song.music_path,
                    "genre": song.genre, "title": song.title}

    def check_song(self, user: str, song_id: str) -> None:
        self.get_song(user, song_id)

    # -- moving what was learned ---------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.Session() as s:
            counts = {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                      for m in (User, Song, MixingConfiguration, Render, MixingFeedback, AudioFeatureVector)}
            learned = s.scalar(select(func.count()).select_from(MixingConfiguration)
                               .where(MixingConfiguration.config_type == "learned"))
            mean = s.scalar(select(func.avg(MixingFeedback.overall)))
        return {"database": self.engine.url.render_as_string(hide_password=True), "counts": counts,
                "learned_configurations": learned, "mean_overall_rating": float(mean) if mean is not None else None,
                "cache": {"backend": self.cache.store.backend, "hits": self.cache.hits, "misses": self.cache.misses}}

    def export(self, path: str | Path) -> dict[str, int]:
        """Write configurations, renders and feedback as JSON."""
        from sqlalchemy import inspect

        def rows(model: Any) -> list[dict[str, Any]]:
            cols = [c.key for c in inspect(model).mapper.column_attrs]
            with self.Session() as s:
                return [{c: getattr(r, c) for c in cols} for r in s.scalars(select(model))]

        data = {m.__tablename__: rows(m) for m in (User, Song, MixingConfiguration, Render, MixingFeedback)}
        files.write_text(path, json.dumps(data, default=str, indent=1))
        return {k: len(v) for k, v in data.items()}

    def import_(self, path: str | Path) -> dict[str, int]:
        """Load an export; rows already present (same id) are kept as they are."""
        from datetime import datetime

        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise MemoryServiceError(f"{path}: not a mixbridge memory export ({e})") from None
        added: dict[str, int] = {}
        with transaction(self.Session) as s:
            for model in (User, Song, MixingConfiguration, Render, MixingFeedback):
                n = 0
                for row in data.get(model.__tablename__, []):
                    if s.get(model, row["id"]) is not None:
                        continue
                    if row.get("created_at"):
                        row["created_at"] = datetime.fromisoformat(row["created_at"])
                    s.add(model(**row))
                    n += 1
                s.flush()
                added[model.__tablename__] = n
        return added
