"""Judgments keep the model's whole score distribution at the answer: P(0..10), its expected score
E[N] and its entropy (bits), so the studio can show how sure the model was and queue the least
sure judgments for labelling. NULL for judgments stored before this revision or by an engine that
could not read the distribution.

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("judgments") as batch:
        batch.add_column(sa.Column("score_distribution", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("expected_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("score_entropy", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("judgments") as batch:
        batch.drop_column("score_entropy")
        batch.drop_column("expected_score")
        batch.drop_column("score_distribution")
