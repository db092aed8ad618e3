"""Roles for team work: which person may do what beyond labelling. The one role today is
"adjudicator" (sets the final label where annotators disagree). One row per (person, role);
revoking removes the row. Adjudications themselves are label rows with action "adjudicate"
(String(10) already holds it), so they need no column.

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("annotator_id", sa.Integer(), sa.ForeignKey("annotators.id"), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("annotator_id", "role", name="uq_roles_annotator_role"),
    )


def downgrade() -> None:
    op.drop_table("roles")
