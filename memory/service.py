"""The memory service: configurations, renders, feedback, vectors and recommendations.

Embedded defaults need no server (SQLite file, in-process cache, local Chroma
directory); MIXBRIDGE_DATABASE_URL, MIXBRIDGE_REDIS_URL and MIXBRIDGE_CHROMA_URL
select PostgreSQL, Redis and a Chroma server.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from core import files
from core.errors import MemoryServiceError, NotFoundError, ParameterError, PermissionDeniedError, UnknownGenreError
from core.keys import Settings, check
from core.settings import EnhancementSettings
from memory import learning
from memory.cache import Cached, RedisCache, TTLCache
from memory.db import make_engine, migrate, transaction
from memory.models import (
    RATINGS,
    AudioFeatureVector,
    LearningState,
    MixingConfiguration,
    MixingFeedback,
    QualityHistory,
    Render,
    Song,
    User,
)
from memory.models import now as learning_now
from memory.space import Space, space_for

log = logging.getLogger(__name__)
OWN_RATINGS_USED = 200  # the newest ratings a proposal learns from: bounded work per rating
OTHERS_RATINGS_USED = 300
GOOD = 4  # a rating from which a mix is worth starting from for someone else


def _config_dict(c: MixingConfiguration) -> dict[str, Any]:
    return {"id": c.id, "config_type": c.config_type, "genre": c.genre, "user": c.user_id,
            "usage_count": c.usage_count, "is_default": c.is_default, "config": dict(c.settings or {}),
            "created_at": c.created_at.isoformat() if c.created_at else None}


EXPORTED = (User, Song, MixingConfiguration, Render, MixingFeedback, LearningState)


def _legacy_config_row(row: dict[str, Any]) -> dict[str, Any]:
    """A configuration row of an export made before the settings key, in today's columns."""
    from importlib import import_module

    legacy = import_module("memory.migrations.versions.0002_settings_key_and_learning_state")
    old = {*legacy.OLD, "stereo_width"}
    return {**{k: v for k, v in row.items() if k not in old}, "settings": legacy.legacy_settings(row)}


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
                 schema: str | None = None, settings: EnhancementSettings | None = None, host: Any = None) -> None:
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
        self._host = host

    @property
    def host(self) -> Any:
        """The plugin host whose processors declare the search space's ranges (plugins.toml's, by default)."""
        if self._host is None:
            from core.host import PluginHost

            self._host = PluginHost.from_toml()
        return self._host

    def space(self, genre: str) -> Space | None:
        """The genre's search space; None for a genre without a preset (nothing to learn around)."""
        try:
            return space_for(genre, self.host)
        except UnknownGenreError:
            return None

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

    def create_config(self, config: Settings, config_type: str = "manual", genre: str | None = None,
                      user: str | None = None, song_id: str | None = None, is_default: bool = False) -> str:
        """Store a configuration (:data:`core.keys.Settings`, ``"chain/slot/param" -> value``); returns its id."""
        from memory.models import CONFIG_TYPES

        if config_type not in CONFIG_TYPES:
            raise ParameterError(f"config_type {config_type!r}: use one of {', '.join(CONFIG_TYPES)}")
        settings = check(config, "configuration")
        with transaction(self.Session) as s:
            self._ensure_user(s, user)
            row = MixingConfiguration(
                config_type=config_type, genre=genre, user_id=user, song_id=song_id, is_default=is_default,
                settings=settings)
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
    def record_render(self, report: dict[str, Any], config: Settings, user: str | None = None,
                      genre: str | None = None, audio: str | None = None, song_id: str | None = None,
                      config_type: str = "manual", render_id: str | None = None) -> str:
        """Store a render (its Settings, metrics and features); returns the render id to rate.

        ``config`` is Settings, or a session's TOML structure (a report's ``session``),
        whose :meth:`core.session.Session.settings` are stored. ``render_id`` (from
        memory.journal) makes a replay idempotent: a render already stored is kept.
        """
        if render_id is not None:
            with self.Session() as s:
                if s.get(Render, render_id) is not None:
                    return render_id
        if "tracks" in config and isinstance(config["tracks"], list):
            from core.session import Session

            config = Session.from_dict(config, where="render's session").settings()
        config_id = self.create_config(config, config_type, genre, user, song_id)
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
             directions: dict[str, int] | None = None, **ratings: Any) -> dict[str, Any]:
        """Store feedback on a render; ratings are whole numbers 1-5. Learns from every rating.

        ``directions`` (optional) says which way an aspect is off: ``{"stereo_width": -1}``
        is "too narrow", +1 "too wide", 0 "about right" (:data:`memory.learning.DIRECTIONS`).
        ``feedback_id`` (from memory.journal) makes a replay idempotent: a rating already stored is kept.
        """
        if directions is not None:
            directions = learning.check_directions(directions)
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
                                user_id=user or render.user_id, directions=directions, **values,
                                **{k: ratings[k] for k in extra if ratings.get(k) is not None})
            s.add(fb)
            s.flush()
            stored = {"id": fb.id, "render_id": render_id, **values,
                      **({"directions": directions} if directions is not None else {})}
            owner, genre = fb.user_id, render.genre
        if self.settings.enable_memory_learning and owner and genre:
            stored["learned_config_id"] = self.learn(owner, genre)
        return stored

    def _rated(self, genre: str, user: str | None = None) -> list[learning.Rated]:
        """Every rating of the genre's mixes, oldest first: the user's newest and other listeners' newest."""
        cols = (MixingConfiguration.settings, MixingFeedback.user_id, MixingFeedback.created_at,
                MixingFeedback.directions, *(getattr(MixingFeedback, r) for r in RATINGS))
        base = (select(*cols).join(MixingFeedback, MixingFeedback.configuration_id == MixingConfiguration.id)
                .where(MixingConfiguration.genre == genre).order_by(MixingFeedback.created_at.desc()))
        with self.Session() as s:
            rows = list(s.execute(base.where(MixingFeedback.user_id == user).limit(OWN_RATINGS_USED))) if user else []
            others = base.limit(OTHERS_RATINGS_USED) if user is None else (
                base.where((MixingFeedback.user_id != user) | MixingFeedback.user_id.is_(None))
                .limit(OTHERS_RATINGS_USED))
            rows += list(s.execute(others))
        out = [learning.Rated(dict(row[0] or {}), float(row[4]),
                              {a: float(v) for a, v in zip(RATINGS[1:], row[5:], strict=True) if v is not None},
                              row[1], row[2], row[3]) for row in rows]
        return sorted(out, key=lambda r: r.at.timestamp() if r.at else 0.0)

    def learning_state(self, user: str, genre: str) -> dict[str, Any] | None:
        """What the learner holds for user and genre: its state, last proposal and why (None before any)."""
        with self.Session() as s:
            row = s.scalar(select(LearningState).where(LearningState.user_id == user, LearningState.genre == genre))
            if row is None:
                return None
            return {"state": dict(row.state), "explanation": dict(row.explanation),
                    "configuration_id": row.configuration_id, "ratings_used": row.ratings_used,
                    "updated_at": row.updated_at.isoformat() if row.updated_at else None}

    def learn(self, user: str, genre: str) -> str | None:
        """Propose the next mix for user and genre from every rating; store it and the learner's state.

        Returns the new learned configuration's id, or None when the genre has no
        search space (no preset) or the user has not rated in it yet.
        """
        space = self.space(genre)
        if space is None:
            return None
        rated = self._rated(genre, user)
        if not any(r.user == user for r in rated):
            return None
        before = self.learning_state(user, genre)
        state = learning.State.from_dict(before["state"] if before else None)
        rng = np.random.default_rng(zlib.crc32(f"{user}|{genre}|{len(rated)}".encode()))
        proposal = learning.propose(space, rated, user, state, rng)
        config_id = self.create_config(proposal.settings, "learned", genre, user)
        values = {"state": proposal.state.to_dict(), "explanation": proposal.explanation,
                  "configuration_id": config_id, "ratings_used": len(rated), "updated_at": learning_now()}
        # concurrent ratings learn concurrently: the proposal made from the most ratings wins,
        # compared and written in one statement (atomic on SQLite and PostgreSQL alike)
        newest = (update(LearningState).where(LearningState.user_id == user, LearningState.genre == genre,
                                              LearningState.ratings_used <= len(rated)).values(**values))
        for attempt in range(2):
            try:
                with transaction(self.Session) as s:
                    if s.execute(newest).rowcount == 0 and s.scalar(select(LearningState.id).where(
                            LearningState.user_id == user, LearningState.genre == genre)) is None:
                        s.add(LearningState(user_id=user, genre=genre, **values))
                break
            except IntegrityError:  # another rating created the row first: compare with it instead
                if attempt:
                    raise
        return config_id

    # -- recommendations ----------------------------------------------------------------------
    def get_mixing_recommendations(self, user: str | None, genre: str, audio: str | None = None,
                                   k: int = 5) -> dict[str, Any]:
        """The settings to start from, and why.

        A user with ratings in the genre gets the learner's latest proposal. A new
        user starts from other listeners' well-rated mixes: the Chroma neighbours of
        ``audio`` (similar songs) and the genre's best-rated configurations, blended in
        the search space; with nothing rated yet, the genre preset (empty settings).
        """
        explanation: dict[str, Any] = {"neighbours": [], "genre_best": []}
        state = self.learning_state(user, genre) if user else None
        if state and state["configuration_id"]:
            learned = self.get_config(state["configuration_id"])
            return {"config": learned["config"], "source": "learned", "config_id": learned["id"],
                    "explanation": {**explanation, **state["explanation"], "learner": state["state"],
                                    "ratings_used": state["ratings_used"]}}
        starts: list[tuple[Settings, float, str]] = []
        if audio:
            from core import audio_io
            from memory.features import features, vector

            a, sr = audio_io.read(audio)
            for h in self.vectors.search(vector(features(a, sr)), k=k, genre=genre):
                with self.Session() as s:
                    mean = s.scalar(select(func.avg(MixingFeedback.overall)).where(MixingFeedback.render_id == h["id"]))
                h = {**h, "mean_overall": float(mean) if mean is not None else None}
                explanation["neighbours"].append(h)
                if h["mean_overall"] is not None and h["mean_overall"] >= GOOD:
                    cfg = self.get_config(h["metadata"]["config_id"])
                    starts.append((cfg["config"], h["mean_overall"] / (1.0 + h["distance"]), cfg["id"]))
        for cfg_id, mean, n in self._genre_best(genre):
            explanation["genre_best"].append({"config_id": cfg_id, "mean_overall": mean, "ratings": n})
            if all(cfg_id != cid for _, _, cid in starts):
                starts.append((self.get_config(cfg_id)["config"], 0.5 * mean, cfg_id))
        if not starts:
            return {"config": {}, "source": "genre_preset", "config_id": None, "explanation": explanation}
        starts.sort(key=lambda s: -s[1])
        config = dict(starts[0][0])
        space = self.space(genre)
        if space is not None and len(starts) > 1:
            config.update(learning.blend(space, [(c, w) for c, w, _ in starts]))
        source = "neighbours" if explanation["neighbours"] and any(
            h["mean_overall"] is not None and h["mean_overall"] >= GOOD for h in explanation["neighbours"]) \
            else "genre_best"
        explanation["blended_from"] = [{"config_id": cid, "weight": round(w, 3)} for _, w, cid in starts]
        return {"config": config, "source": source, "config_id": starts[0][2], "explanation": explanation}

    def _genre_best(self, genre: str, n: int = 3) -> list[tuple[str, float, int]]:
        """The genre's best-rated configurations (mean overall >= GOOD): id, mean, number of ratings."""
        mean = func.avg(MixingFeedback.overall)
        with self.Session() as s:
            rows = s.execute(
                select(MixingConfiguration.id, mean, func.count(MixingFeedback.id))
                .join(MixingFeedback, MixingFeedback.configuration_id == MixingConfiguration.id)
                .where(MixingConfiguration.genre == genre).group_by(MixingConfiguration.id)
                .having(mean >= GOOD).order_by(mean.desc(), func.count(MixingFeedback.id).desc()).limit(n)).all()
        return [(r[0], float(r[1]), int(r[2])) for r in rows]

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
        """Write configurations (Settings), renders, feedback and the learner's state as JSON."""
        from sqlalchemy import inspect

        def rows(model: Any) -> list[dict[str, Any]]:
            cols = [c.key for c in inspect(model).mapper.column_attrs]
            with self.Session() as s:
                return [{c: getattr(r, c) for c in cols} for r in s.scalars(select(model))]

        data = {m.__tablename__: rows(m) for m in EXPORTED}
        files.write_text(path, json.dumps(data, default=str, indent=1))
        return {k: len(v) for k, v in data.items()}

    def import_(self, path: str | Path) -> dict[str, int]:
        """Load an export; rows already present (same id) are kept as they are.

        An export from before the settings key (per-kind columns such as
        ``compression_settings``) is converted to Settings as the 0002 migration does.
        """
        from datetime import datetime

        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise MemoryServiceError(f"{path}: not a mixbridge memory export ({e})") from None
        added: dict[str, int] = {}
        with transaction(self.Session) as s:
            for model in EXPORTED:
                n = 0
                for row in data.get(model.__tablename__, []):
                    if s.get(model, row["id"]) is not None:
                        continue
                    for stamp in ("created_at", "updated_at"):
                        if row.get(stamp):
                            row[stamp] = datetime.fromisoformat(row[stamp])
                    if model is MixingConfiguration and "settings" not in row:
                        row = _legacy_config_row(row)
                    s.add(model(**row))
                    n += 1
                s.flush()
                added[model.__tablename__] = n
        return added
