"""configurations keyed as core.keys Settings; learning state per user and genre

Revision ID: 0002
Revises: 0001

The six per-kind columns (eq_settings, compression_settings, stereo_width,
reverb_settings, delay_settings, sidechain_settings: ``{param: value}`` without a
chain) become one ``settings`` column of ``"chain/slot/param" -> value``. Old rows
are converted: the vocal chain's processors to ``vocals/...``, the ducker to
``music/ducker/...``, the stereo width to ``master/stereo_width/width``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD = {"eq_settings": "vocals/eq", "compression_settings": "vocals/compressor", "reverb_settings": "vocals/reverb",
       "delay_settings": "vocals/delay", "sidechain_settings": "music/ducker"}


def legacy_settings(row: dict) -> dict:
    """A configuration row of revision 0001 as Settings."""
    out = {}
    for col, prefix in OLD.items():
        for param, value in (row.get(col) or {}).items():
            out[f"{prefix}/{param}"] = value
    if row.get("stereo_width") is not None:
        out["master/stereo_width/width"] = row["stereo_width"]
    return out


def upgrade() -> None:
    with op.batch_alter_table("mixing_configurations") as b:
        b.add_column(sa.Column("settings", sa.JSON(), nullable=True))
    table = sa.table("mixing_configurations", sa.column("id", sa.String), sa.column("settings", sa.JSON),
                     *(sa.column(c, sa.JSON) for c in OLD), sa.column("stereo_width", sa.Float))
    conn = op.get_bind()
    for row in conn.execute(sa.select(table)).mappings().all():
        conn.execute(table.update().where(table.c.id == row["id"]).values(settings=legacy_settings(dict(row))))
    with op.batch_alter_table("mixing_configurations") as b:
        b.alter_column("settings", existing_type=sa.JSON(), nullable=False)
        for col in (*OLD, "stereo_width"):
            b.drop_column(col)
    op.create_table(
        "learning_state",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("genre", sa.String(length=40), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("configuration_id", sa.String(length=36), nullable=True),
        sa.Column("ratings_used", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["configuration_id"], ["mixing_configurations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "genre", name="uq_learning_state_user_genre"),
    )
    op.create_index(op.f("ix_learning_state_user_id"), "learning_state", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_learning_state_user_id"), table_name="learning_state")
    op.drop_table("learning_state")
    with op.batch_alter_table("mixing_configurations") as b:
        for col in OLD:
            b.add_column(sa.Column(col, sa.JSON(), nullable=False, server_default="{}"))
        b.add_column(sa.Column("stereo_width", sa.Float(), nullable=True))
        b.drop_column("settings")
