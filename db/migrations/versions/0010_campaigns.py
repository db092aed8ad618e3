"""Labelling campaigns: named sets of items each labelled by ``overlap`` people, handed out by
leases, under versioned guidelines, blind or not. Labels gain nullable columns saying which
campaign, whether blind, which guideline version, how many seconds, and whether a blind label kept
the model's trace; labels made outside campaigns leave them NULL.

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"

down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("overlap", sa.Integer(), nullable=False),
        sa.Column("blind", sa.Boolean(), nullable=False),
        sa.Column("strategy", sa.String(30), nullable=False),
        sa.Column("lease_s", sa.Integer(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "campaign_guidelines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("campaign_id", "version", name="uq_campaign_guidelines"),
    )
    op.create_table(
        "campaign_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("query_id", sa.Integer(), sa.ForeignKey("queries.id"), nullable=False),
        sa.Column("document_id", sa.Integer(), sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("doc_id", sa.String(500), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id"), nullable=True),
        sa.UniqueConstraint("campaign_id", "query_id", "doc_id", name="uq_campaign_items"),
    )
    op.create_index("ix_campaign_items_order", "campaign_items", ["campaign_id", "position"])
    op.create_table(
        "campaign_leases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("campaign_items.id"), nullable=False),
        sa.Column("annotator_id", sa.Integer(), sa.ForeignKey("annotators.id"), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("leased_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("item_id", "annotator_id", name="uq_campaign_leases"),
    )
    with op.batch_alter_table("labels") as batch:
        batch.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("blind", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("guideline_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("trace_kept", sa.Boolean(), nullable=True))
        batch.create_foreign_key("fk_labels_campaign", "campaigns", ["campaign_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("labels") as batch:
        batch.drop_constraint("fk_labels_campaign", type_="foreignkey")
        batch.drop_column("trace_kept")
        batch.drop_column("seconds")
        batch.drop_column("guideline_version")
        batch.drop_column("blind")
        batch.drop_column("campaign_id")
    op.drop_table("campaign_leases")
    op.drop_index("ix_campaign_items_order", table_name="campaign_items")
    op.drop_table("campaign_items")
    op.drop_table("campaign_guidelines")
    op.drop_table("campaigns")
