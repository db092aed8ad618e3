"""Index runs (created_at, id): the run list, newest first with a limit, reads only the runs it
shows instead of sorting every run in the store.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_created", "runs", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_runs_created", table_name="runs")
