"""Runs record the prompt template they were judged with and where the chat template came from.

Runs written before this revision were judged with the paper's Figure 5 wording (the only one
the studio had), so they get template "paper"; where their chat template came from was not
recorded, so that stays NULL ("unknown").

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("template", sa.String(20), nullable=False, server_default="paper"))
        batch.add_column(sa.Column("chat_template_source", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("chat_template_source")
        batch.drop_column("template")
