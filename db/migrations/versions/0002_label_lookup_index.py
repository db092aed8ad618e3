"""Index behind current_labels and label_history (query, doc_id, annotator, newest row).

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_labels_lookup", "labels", ["query_id", "doc_id", "annotator_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_labels_lookup", table_name="labels")
