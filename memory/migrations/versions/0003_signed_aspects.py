"""signed aspects on a rating: which way a listener wants an aspect to go

Revision ID: 0003
Revises: 0002

``mixing_feedback.directions`` holds ``{"stereo_width": -1, ...}`` (-1 too little,
+1 too much, 0 about right; memory.learning.DIRECTIONS); NULL when none were given.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mixing_feedback") as b:
        b.add_column(sa.Column("directions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mixing_feedback") as b:
        b.drop_column("directions")
