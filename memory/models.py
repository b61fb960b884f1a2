"""The reference design's schema as SQLAlchemy 2.0 models (portable: SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.hookspecs import RATINGS

CONFIG_TYPES = ("manual", "genre_preset", "reference_match", "learned")
FEATURE_TYPES = ("frequency", "spectral", "rhythm", "full")


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Song(Base):
    __tablename__ = "songs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    genre: Mapped[str | None] = mapped_column(String(40))
    vocals_path: Mapped[str | None] = mapped_column(Text)
    music_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class AudioFile(Base):
    __tablename__ = "audio_files"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    song_id: Mapped[str | None] = mapped_column(ForeignKey("songs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # vocals, music, mix, preview
    path: Mapped[str] = mapped_column(Text)
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class MixingConfiguration(Base):
    """A mix's settings as :data:`core.keys.Settings` (``"chain/slot/param" -> value``)."""

    __tablename__ = "mixing_configurations"
    __table_args__ = (CheckConstraint(f"config_type IN {CONFIG_TYPES}", name="ck_config_type"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    song_id: Mapped[str | None] = mapped_column(ForeignKey("songs.id"))
    config_type: Mapped[str] = mapped_column(String(20), default="manual")
    genre: Mapped[str | None] = mapped_column(String(40), index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # core.keys.Settings
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class ReferenceTrack(Base):
    __tablename__ = "reference_tracks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    genre: Mapped[str | None] = mapped_column(String(40))
    path: Mapped[str | None] = mapped_column(Text)
    frequency_profile: Mapped[list[Any]] = mapped_column(JSON, default=list)
    loudness_lufs: Mapped[float | None] = mapped_column(Float)
    stereo_width: Mapped[float | None] = mapped_column(Float)
    dynamics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class AudioFeatureVector(Base):
    __tablename__ = "audio_feature_vectors"
    __table_args__ = (CheckConstraint(f"feature_type IN {FEATURE_TYPES}", name="ck_feature_type"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    render_id: Mapped[str | None] = mapped_column(ForeignKey("renders.id"), index=True)
    chromadb_id: Mapped[str] = mapped_column(String(64), unique=True)
    vector_dimension: Mapped[int] = mapped_column(Integer)
    feature_type: Mapped[str] = mapped_column(String(20), default="full")
    tempo: Mapped[float | None] = mapped_column(Float)
    spectral_centroid: Mapped[float | None] = mapped_column(Float)
    mfcc_features: Mapped[list[Any]] = mapped_column(JSON, default=list)
    frequency_bands: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Render(Base):
    """Every render: its configuration, features and metrics, under the id printed to the user."""

    __tablename__ = "renders"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    song_id: Mapped[str | None] = mapped_column(ForeignKey("songs.id"))
    configuration_id: Mapped[str | None] = mapped_column(ForeignKey("mixing_configurations.id"), index=True)
    genre: Mapped[str | None] = mapped_column(String(40))
    output_path: Mapped[str | None] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class MixingFeedback(Base):
    __tablename__ = "mixing_feedback"
    __table_args__ = tuple(
        CheckConstraint(f"{r} IS NULL OR ({r} >= 1 AND {r} <= 5)", name=f"ck_{r}") for r in RATINGS
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    render_id: Mapped[str] = mapped_column(ForeignKey("renders.id"), index=True)
    configuration_id: Mapped[str | None] = mapped_column(ForeignKey("mixing_configurations.id"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    overall: Mapped[int] = mapped_column(Integer)
    vocals_clarity: Mapped[int | None] = mapped_column(Integer)
    music_balance: Mapped[int | None] = mapped_column(Integer)
    stereo_width: Mapped[int | None] = mapped_column(Integer)
    eq_quality: Mapped[int | None] = mapped_column(Integer)
    reverb_quality: Mapped[int | None] = mapped_column(Integer)
    directions: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # signed aspects: memory.learning.DIRECTIONS
    pesq: Mapped[float | None] = mapped_column(Float)
    stoi: Mapped[float | None] = mapped_column(Float)
    mos: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    is_liked: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class QualityHistory(Base):
    __tablename__ = "quality_history"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    configuration_id: Mapped[str | None] = mapped_column(ForeignKey("mixing_configurations.id"), index=True)
    render_id: Mapped[str | None] = mapped_column(ForeignKey("renders.id"))
    pesq: Mapped[float | None] = mapped_column(Float)
    stoi: Mapped[float | None] = mapped_column(Float)
    mos: Mapped[float | None] = mapped_column(Float)
    overall: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class LearningState(Base):
    """The learner's state for one user and genre: trust region, trust, the last explanation."""

    __tablename__ = "learning_state"
    __table_args__ = (UniqueConstraint("user_id", "genre", name="uq_learning_state_user_genre"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    genre: Mapped[str] = mapped_column(String(40))
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    configuration_id: Mapped[str | None] = mapped_column(ForeignKey("mixing_configurations.id"))
    ratings_used: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
