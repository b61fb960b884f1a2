"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "reference_tracks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("genre", sa.String(length=40), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("frequency_profile", sa.JSON(), nullable=False),
        sa.Column("loudness_lufs", sa.Float(), nullable=True),
        sa.Column("stereo_width", sa.Float(), nullable=True),
        sa.Column("dynamics", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "songs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("genre", sa.String(length=40), nullable=True),
        sa.Column("vocals_path", sa.Text(), nullable=True),
        sa.Column("music_path", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_songs_user_id"), "songs", ["user_id"], unique=False)
    op.create_table(
        "audio_files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("song_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["song_id"],
            ["songs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audio_files_song_id"), "audio_files", ["song_id"], unique=False)
    op.create_table(
        "mixing_configurations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("song_id", sa.String(length=36), nullable=True),
        sa.Column("config_type", sa.String(length=20), nullable=False),
        sa.Column("genre", sa.String(length=40), nullable=True),
        sa.Column("eq_settings", sa.JSON(), nullable=False),
        sa.Column("compression_settings", sa.JSON(), nullable=False),
        sa.Column("stereo_width", sa.Float(), nullable=True),
        sa.Column("reverb_settings", sa.JSON(), nullable=False),
        sa.Column("delay_settings", sa.JSON(), nullable=False),
        sa.Column("sidechain_settings", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "config_type IN ('manual', 'genre_preset', 'reference_match', 'learned')", name="ck_config_type"
        ),
        sa.ForeignKeyConstraint(
            ["song_id"],
            ["songs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_mixing_configurations_genre"), "mixing_configurations", ["genre"], unique=False)
    op.create_index(op.f("ix_mixing_configurations_user_id"), "mixing_configurations", ["user_id"], unique=False)
    op.create_table(
        "renders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("song_id", sa.String(length=36), nullable=True),
        sa.Column("configuration_id", sa.String(length=36), nullable=True),
        sa.Column("genre", sa.String(length=40), nullable=True),
        sa.Column("output_path", sa.Text(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["mixing_configurations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["song_id"],
            ["songs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_renders_configuration_id"), "renders", ["configuration_id"], unique=False)
    op.create_index(op.f("ix_renders_user_id"), "renders", ["user_id"], unique=False)
    op.create_table(
        "audio_feature_vectors",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("render_id", sa.String(length=36), nullable=True),
        sa.Column("chromadb_id", sa.String(length=64), nullable=False),
        sa.Column("vector_dimension", sa.Integer(), nullable=False),
        sa.Column("feature_type", sa.String(length=20), nullable=False),
        sa.Column("tempo", sa.Float(), nullable=True),
        sa.Column("spectral_centroid", sa.Float(), nullable=True),
        sa.Column("mfcc_features", sa.JSON(), nullable=False),
        sa.Column("frequency_bands", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("feature_type IN ('frequency', 'spectral', 'rhythm', 'full')", name="ck_feature_type"),
        sa.ForeignKeyConstraint(
            ["render_id"],
            ["renders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chromadb_id"),
    )
    op.create_index(op.f("ix_audio_feature_vectors_render_id"), "audio_feature_vectors", ["render_id"], unique=False)
    op.create_table(
        "mixing_feedback",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("render_id", sa.String(length=36), nullable=False),
        sa.Column("configuration_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("overall", sa.Integer(), nullable=False),
        sa.Column("vocals_clarity", sa.Integer(), nullable=True),
        sa.Column("music_balance", sa.Integer(), nullable=True),
        sa.Column("stereo_width", sa.Integer(), nullable=True),
        sa.Column("eq_quality", sa.Integer(), nullable=True),
        sa.Column("reverb_quality", sa.Integer(), nullable=True),
        sa.Column("pesq", sa.Float(), nullable=True),
        sa.Column("stoi", sa.Float(), nullable=True),
        sa.Column("mos", sa.Float(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("is_liked", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("eq_quality IS NULL OR (eq_quality >= 1 AND eq_quality <= 5)", name="ck_eq_quality"),
        sa.CheckConstraint(
            "music_balance IS NULL OR (music_balance >= 1 AND music_balance <= 5)", name="ck_music_balance"
        ),
        sa.CheckConstraint("overall IS NULL OR (overall >= 1 AND overall <= 5)", name="ck_overall"),
        sa.CheckConstraint(
            "reverb_quality IS NULL OR (reverb_quality >= 1 AND reverb_quality <= 5)", name="ck_reverb_quality"
        ),
        sa.CheckConstraint("stereo_width IS NULL OR (stereo_width >= 1 AND stereo_width <= 5)", name="ck_stereo_width"),
        sa.CheckConstraint(
            "vocals_clarity IS NULL OR (vocals_clarity >= 1 AND vocals_clarity <= 5)", name="ck_vocals_clarity"
        ),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["mixing_configurations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["render_id"],
            ["renders.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_mixing_feedback_configuration_id"), "mixing_feedback", ["configuration_id"], unique=False)
    op.create_index(op.f("ix_mixing_feedback_render_id"), "mixing_feedback", ["render_id"], unique=False)
    op.create_index(op.f("ix_mixing_feedback_user_id"), "mixing_feedback", ["user_id"], unique=False)
    op.create_table(
        "quality_history",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("configuration_id", sa.String(length=36), nullable=True),
        sa.Column("render_id", sa.String(length=36), nullable=True),
        sa.Column("pesq", sa.Float(), nullable=True),
        sa.Column("stoi", sa.Float(), nullable=True),
        sa.Column("mos", sa.Float(), nullable=True),
        sa.Column("overall", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["mixing_configurations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["render_id"],
            ["renders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_quality_history_configuration_id"), "quality_history", ["configuration_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_quality_history_configuration_id"), table_name="quality_history")
    op.drop_table("quality_history")
    op.drop_index(op.f("ix_mixing_feedback_user_id"), table_name="mixing_feedback")
    op.drop_index(op.f("ix_mixing_feedback_render_id"), table_name="mixing_feedback")
    op.drop_index(op.f("ix_mixing_feedback_configuration_id"), table_name="mixing_feedback")
    op.drop_table("mixing_feedback")
    op.drop_index(op.f("ix_audio_feature_vectors_render_id"), table_name="audio_feature_vectors")
    op.drop_table("audio_feature_vectors")
    op.drop_index(op.f("ix_renders_user_id"), table_name="renders")
    op.drop_index(op.f("ix_renders_configuration_id"), table_name="renders")
    op.drop_table("renders")
    op.drop_index(op.f("ix_mixing_configurations_user_id"), table_name="mixing_configurations")
    op.drop_index(op.f("ix_mixing_configurations_genre"), table_name="mixing_configurations")
    op.drop_table("mixing_configurations")
    op.drop_index(op.f("ix_audio_files_song_id"), table_name="audio_files")
    op.drop_table("audio_files")
    op.drop_index(op.f("ix_songs_user_id"), table_name="songs")
    op.drop_table("songs")
    op.drop_table("reference_tracks")
    op.drop_table("users")
