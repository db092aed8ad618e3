"""A document id of a query names one text forever (issue 19).

Before this revision a doc_id given again with another text re-pointed the query's candidate
link to the new text; labels and judgments kept pointing at the text they were made on, so the
link and its labels could disagree. Every (query, doc_id) whose labels or judgments point at
another text than the current link gets that older text as a candidate of its own, under the
id ``<doc_id>~<first 8 hex digits of the text's SHA-1>`` (longer where that is taken), and its
labels and judgments move to it. Each rename is recorded in ``renamed_documents`` and logged.
Labels and judgments that point at another document row with the same text (another source)
are moved to the linked row: they were made on that text.

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("erank_studio.store")

_meta = sa.MetaData()
documents = sa.Table("documents", _meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("doc_id", sa.String),
                     sa.Column("text", sa.Text), sa.Column("title", sa.Text), sa.Column("source", sa.String),
                     sa.Column("text_sha1", sa.String))
links = sa.Table("query_documents", _meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("query_id", sa.Integer),
                 sa.Column("doc_id", sa.String), sa.Column("document_id", sa.Integer),
                 sa.Column("position", sa.Integer))
labels = sa.Table("labels", _meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("query_id", sa.Integer),
                  sa.Column("doc_id", sa.String), sa.Column("document_id", sa.Integer))
judgments = sa.Table("judgments", _meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("run_id", sa.Integer),
                     sa.Column("doc_id", sa.String), sa.Column("document_id", sa.Integer))
runs = sa.Table("runs", _meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("query_id", sa.Integer))


def _renamed_table() -> sa.Table:
    return sa.Table("renamed_documents", _meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("query_id", sa.Integer),
                    sa.Column("old_doc_id", sa.String), sa.Column("new_doc_id", sa.String),
                    sa.Column("old_document_id", sa.Integer), sa.Column("document_id", sa.Integer),
                    sa.Column("labels", sa.Integer), sa.Column("judgments", sa.Integer),
                    sa.Column("renamed_at", sa.DateTime), extend_existing=True)


def upgrade() -> None:
    op.create_table(
        "renamed_documents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("query_id", sa.Integer(), sa.ForeignKey("queries.id"), nullable=False),
        sa.Column("old_doc_id", sa.String(500), nullable=False),
        sa.Column("new_doc_id", sa.String(500), nullable=False),
        sa.Column("old_document_id", sa.Integer(), sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("document_id", sa.Integer(), sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("labels", sa.Integer(), nullable=False),
        sa.Column("judgments", sa.Integer(), nullable=False),
        sa.Column("renamed_at", sa.DateTime(), nullable=False),
    )
    conn = op.get_bind()
    renamed = _renamed_table()
    linked = {(r.query_id, r.doc_id): r.document_id for r in conn.execute(
        sa.select(links.c.query_id, links.c.doc_id, links.c.document_id))}
    used = sa.union(
        sa.select(labels.c.query_id, labels.c.doc_id, labels.c.document_id),
        sa.select(runs.c.query_id, judgments.c.doc_id, judgments.c.document_id)
        .join(runs, runs.c.id == judgments.c.run_id),
    ).subquery()
    strays = [r for r in conn.execute(sa.select(used.c.query_id, used.c.doc_id, used.c.document_id)
                                      .order_by(used.c.query_id, used.c.doc_id, used.c.document_id))
              if linked.get((r.query_id, r.doc_id)) not in (None, r.document_id)]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    done = []
    for query_id, doc_id, old_row in strays:
        old = conn.execute(sa.select(documents).where(documents.c.id == old_row)).one()
        current_sha = conn.execute(sa.select(documents.c.text_sha1).where(
            documents.c.id == linked[(query_id, doc_id)])).scalar()
        if old.text_sha1 == current_sha:  # the same text from another source: the linked row
            _move(conn, query_id, doc_id, old_row, doc_id, linked[(query_id, doc_id)])
            continue
        new_id = _free_id(conn, query_id, doc_id, old.text_sha1)
        new_row = conn.execute(sa.select(documents.c.id).where(
            documents.c.source == old.source, documents.c.doc_id == new_id,
            documents.c.text_sha1 == old.text_sha1)).scalar()
        if new_row is None:
            new_row = conn.execute(documents.insert().values(
                doc_id=new_id, text=old.text, title=old.title, source=old.source,
                text_sha1=old.text_sha1)).inserted_primary_key[0]
        top = conn.execute(sa.select(sa.func.max(links.c.position)).where(links.c.query_id == query_id)).scalar()
        conn.execute(links.insert().values(query_id=query_id, doc_id=new_id, document_id=new_row,
                                           position=(top or 0) + 1))
        n_labels, n_judgments = _move(conn, query_id, doc_id, old_row, new_id, new_row)
        conn.execute(renamed.insert().values(
            query_id=query_id, old_doc_id=doc_id, new_doc_id=new_id, old_document_id=old_row,
            document_id=new_row, labels=n_labels, judgments=n_judgments, renamed_at=now))
        done.append(f"query {query_id}: {doc_id} -> {new_id} ({n_labels} labels, {n_judgments} judgments)")
    if done:
        log.warning("migration 0009: %d re-pointed document id(s) gave their older text its own id "
                    "(listed in the table renamed_documents): %s", len(done), "; ".join(done))


def _free_id(conn, query_id: int, doc_id: str, sha: str) -> str:
    for width in (8, 12, 16, 40):
        candidate = f"{doc_id}~{sha[:width]}"
        taken = conn.execute(sa.select(links.c.id).where(
            links.c.query_id == query_id, links.c.doc_id == candidate)).first()
        if taken is None:
            return candidate
    raise RuntimeError(f"no free id for {doc_id!r} of query {query_id}")


def _move(conn, query_id: int, doc_id: str, old_row: int, new_id: str, new_row: int) -> tuple[int, int]:
    """Point the labels and judgments of (query, doc_id) made on ``old_row`` at (new_id, new_row)."""
    n_labels = conn.execute(labels.update().where(
        labels.c.query_id == query_id, labels.c.doc_id == doc_id, labels.c.document_id == old_row,
    ).values(doc_id=new_id, document_id=new_row)).rowcount
    n_judgments = conn.execute(judgments.update().where(
        judgments.c.doc_id == doc_id, judgments.c.document_id == old_row,
        judgments.c.run_id.in_(sa.select(runs.c.id).where(runs.c.query_id == query_id)),
    ).values(doc_id=new_id, document_id=new_row)).rowcount
    return n_labels, n_judgments


def downgrade() -> None:
    conn = op.get_bind()
    renamed = _renamed_table()
    for r in conn.execute(sa.select(renamed).order_by(renamed.c.id.desc())).all():
        _move(conn, r.query_id, r.new_doc_id, r.document_id, r.old_doc_id, r.old_document_id)
        conn.execute(links.delete().where(links.c.query_id == r.query_id, links.c.doc_id == r.new_doc_id))
    op.drop_table("renamed_documents")
