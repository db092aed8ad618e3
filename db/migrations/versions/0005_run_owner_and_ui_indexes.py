"""Runs record the process that judges them (so a run whose process died can be marked
"interrupted"); indexes behind the UI's and the batch's lookups, so that their cost follows what
they show rather than the store's size: judgments by (run_id, doc_id) for the alpha change's
bulk update, runs by status for finding the interrupted ones, runs by (query_id, model) for the
batch's per-query lookup.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(300), nullable=True))
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_query_model", "runs", ["query_id", "model"])
    op.create_index("ix_judgments_run_doc_id", "judgments", ["run_id", "doc_id"])


def downgrade() -> None:
    op.drop_index("ix_judgments_run_doc_id", table_name="judgments")
    op.drop_index("ix_runs_query_model", table_name="runs")
    op.drop_index("ix_runs_status", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("owner")
