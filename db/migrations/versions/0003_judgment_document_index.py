"""Covering index judgments (run_id, document_id): finding the latest judgment of each labelled
document (SFT export) scans this instead of the wide judgment rows.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_judgments_run_document", "judgments", ["run_id", "document_id"])


def downgrade() -> None:
    op.drop_index("ix_judgments_run_document", table_name="judgments")
