"""Initial schema: queries, documents, candidate lists, runs, judgments, annotators, labels, qrels.

Revision ID: 0001
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("source_query_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("source", "source_query_id", "text", name="uq_queries_source_id_text"),
    )
    op.create_index("ix_queries_source", "queries", ["source", "source_query_id"])
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("doc_id", sa.String(500), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("text_sha1", sa.String(40), nullable=False),
        sa.UniqueConstraint("source", "doc_id", "text_sha1", name="uq_documents_identity"),
    )
    op.create_table(
        "query_documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("query_id", sa.Integer, sa.ForeignKey("queries.id"), nullable=False),
        sa.Column("doc_id", sa.String(500), nullable=False),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("first_stage_score", sa.Float),
        sa.Column("first_stage_source", sa.String(50)),
        sa.UniqueConstraint("query_id", "doc_id", name="uq_query_documents"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("query_id", sa.Integer, sa.ForeignKey("queries.id"), nullable=False),
        sa.Column("model", sa.String(500), nullable=False),
        sa.Column("engine", sa.String(100), nullable=False),
        sa.Column("instruction", sa.Text, nullable=False),
        sa.Column("truncate_length", sa.Integer, nullable=False),
        sa.Column("generation", sa.JSON, nullable=False),
        sa.Column("alpha", sa.Float, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
    )
    op.create_index("ix_runs_query_id", "runs", ["query_id"])
    op.create_table(
        "judgments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("doc_id", sa.String(500), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("raw_output", sa.Text, nullable=False),
        sa.Column("trace", sa.Text),
        sa.Column("score", sa.Integer),
        sa.Column("probability", sa.Float),
        sa.Column("rank_score", sa.Float),
        sa.Column("first_stage_score", sa.Float),
        sa.Column("first_stage_source", sa.String(50)),
        sa.Column("hybrid_score", sa.Float),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("failure", sa.String(100)),
        sa.Column("failure_detail", sa.Text),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("query_tokens", sa.Integer),
        sa.Column("query_tokens_kept", sa.Integer),
        sa.Column("document_tokens", sa.Integer),
        sa.Column("document_tokens_kept", sa.Integer),
        sa.Column("prompt_message", sa.Text),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_judgments_run_id", "judgments", ["run_id"])
    op.create_table(
        "annotators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("query_id", sa.Integer, sa.ForeignKey("queries.id"), nullable=False),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("doc_id", sa.String(500), nullable=False),
        sa.Column("annotator_id", sa.Integer, sa.ForeignKey("annotators.id"), nullable=False),
        sa.Column("score", sa.Integer),
        sa.Column("rationale", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("retracted", sa.Boolean, nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "qrels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("source_query_id", sa.String(200), nullable=False),
        sa.Column("doc_id", sa.String(500), nullable=False),
        sa.Column("relevance", sa.Integer, nullable=False),
        sa.UniqueConstraint("source", "source_query_id", "doc_id", name="uq_qrels"),
    )


def downgrade() -> None:
    for table in (
        "qrels", "labels", "annotators", "judgments", "runs", "query_documents", "documents", "queries"
    ):
        op.drop_table(table)
