"""Documents and query candidate lists: which text a document id means under a query.

A (query, doc_id) pair names one text forever. A label, a judgment and a qrel are about the text
the person or the model read, so a file, API call, import or benchmark that brings another text
under an id the query already uses is refused (``DocumentIdTaken``, naming the id and the start
of both texts) instead of silently re-pointing the id: the caller gives the new text its own id
(the app derives typed documents' ids from their text). Stores written before this rule were
repaired by migration 0009 (``renamed_documents``)."""
from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, func, select

from ..errors import StoreError
from ..types import Document
from . import schema, validation
from .schema import DOCUMENTS as D, LABELS as L, CANDIDATES as QD

# A label shown only where its doc_id names, under its query, the text it was made on: every
# read that shows labels joins on this (after migration 0009 and with ids never re-pointed it
# always holds; the join keeps it so whatever a store's history).
ON_ITS_TEXT = (QD.c.query_id == L.c.query_id) & (QD.c.doc_id == L.c.doc_id) & (QD.c.document_id == L.c.document_id)
ON_ITS_TEXT_SQL = ("JOIN query_documents qd ON qd.query_id = l.query_id AND qd.doc_id = l.doc_id "
                   "AND qd.document_id = l.document_id")
# How much of each text a refusal quotes: enough to recognise it, short enough for one line.
QUOTED_CHARS = 60


class DocumentIdTaken(StoreError):
    """A document id of a query was given with a text other than the one it already names."""

    def __init__(self, query_id: int, doc_id: str, stored_text: str, new_text: str) -> None:
        self.query_id, self.doc_id = query_id, doc_id
        super().__init__(
            f"document id {doc_id!r} of query {query_id} already names another text "
            f"({_quoted(stored_text)}), not {_quoted(new_text)}: give the new text its own id "
            "(labels and judgments stay with the text they were made on)")


def _quoted(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= QUOTED_CHARS else flat[:QUOTED_CHARS] + "…")


def text_sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def document_rows(conn: Connection, docs: list[Document], source: str,
                  shas: list[str] | None = None) -> tuple[dict[tuple[str, str], int], int]:
    """The document rows of many documents in a few statements, inserting those not yet
    stored: ((doc_id, sha1 of text) -> documents.id, how many were inserted)."""
    shas = shas or [text_sha1(d.text) for d in docs]
    wanted = sorted({d.doc_id for d in docs})

    def known() -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for i in range(0, len(wanted), 500):
            for r in conn.execute(select(D.c.id, D.c.doc_id, D.c.text_sha1).where(
                    D.c.source == source, D.c.doc_id.in_(wanted[i:i + 500]))):
                found[(r.doc_id, r.text_sha1)] = r.id
        return found

    rows = known()
    new: dict[tuple[str, str], dict[str, Any]] = {}
    for d, sha in zip(docs, shas):
        if (d.doc_id, sha) not in rows and (d.doc_id, sha) not in new:
            new[(d.doc_id, sha)] = {"doc_id": d.doc_id, "text": d.text, "title": d.title,
                                    "source": source, "text_sha1": sha}
    if new:
        conn.execute(D.insert(), list(new.values()))
        rows = known()
    return rows, len(new)


def next_position(conn: Connection, query_id: int) -> int:
    top = conn.execute(select(func.max(QD.c.position)).where(QD.c.query_id == query_id)).scalar()
    return 0 if top is None else int(top) + 1


def stored_text(conn: Connection, document_id: int) -> str:
    return str(conn.execute(select(D.c.text).where(D.c.id == document_id)).scalar_one())


def links(conn: Connection, query_id: int) -> dict[str, tuple[int, int, str]]:
    """The query's candidates: doc_id -> (link row id, document row id, sha1 of its text)."""
    return {r.doc_id: (r.id, r.document_id, r.text_sha1) for r in conn.execute(
        select(QD.c.id, QD.c.doc_id, QD.c.document_id, D.c.text_sha1)
        .join(D, D.c.id == QD.c.document_id).where(QD.c.query_id == query_id))}


def link_documents(conn: Connection, query_id: int, docs: list[Document], source: str = "") -> dict[str, int]:
    """Make ``docs`` candidates of the query (those already there keep their row; a given
    first-stage score is updated): doc_id -> document row. An id the query already uses for
    another text, or given twice with two texts, raises ``DocumentIdTaken`` (nothing linked)."""
    for d in docs:
        validation.document(d.doc_id, d.text, d.title)
    shas = [text_sha1(d.text) for d in docs]
    seen: dict[str, tuple[str, str]] = {}
    for d, sha in zip(docs, shas):
        if d.doc_id in seen and seen[d.doc_id][0] != sha:
            raise DocumentIdTaken(query_id, d.doc_id, seen[d.doc_id][1], d.text)
        seen[d.doc_id] = (sha, d.text)
    existing = links(conn, query_id)
    for d, sha in zip(docs, shas):
        if d.doc_id in existing and existing[d.doc_id][2] != sha:
            raise DocumentIdTaken(query_id, d.doc_id, stored_text(conn, existing[d.doc_id][1]), d.text)
    rows, _ = document_rows(conn, docs, source, shas)
    position = next_position(conn, query_id)
    inserts, result = [], {}
    for d, sha in zip(docs, shas):
        if d.doc_id in existing:
            link_id, document_id, _ = existing[d.doc_id]
            result[d.doc_id] = document_id  # the same text: the row it was first linked with
            if d.first_stage_score is not None:
                conn.execute(QD.update().where(QD.c.id == link_id).values(
                    first_stage_score=d.first_stage_score, first_stage_source=d.first_stage_source))
            continue
        document_id = rows[(d.doc_id, sha)]
        result[d.doc_id] = document_id
        inserts.append({"query_id": query_id, "doc_id": d.doc_id, "document_id": document_id,
                        "position": position, "first_stage_score": d.first_stage_score,
                        "first_stage_source": d.first_stage_source})
        existing[d.doc_id] = (0, document_id, sha)
        position += 1
    if inserts:
        conn.execute(QD.insert(), inserts)
    return result


def candidate_document(conn: Connection, query_id: int, doc_id: str) -> int | None:
    """The document row ``doc_id`` names under the query, or None."""
    return conn.execute(select(QD.c.document_id).where(QD.c.query_id == query_id, QD.c.doc_id == doc_id)).scalar()


def documents_of(conn: Connection, query_id: int) -> list[Document]:
    """The query's candidate list, in the order it was given."""
    rows = conn.execute(
        select(QD.c.doc_id, D.c.text, D.c.title, QD.c.first_stage_score, QD.c.first_stage_source)
        .join(D, D.c.id == QD.c.document_id).where(QD.c.query_id == query_id).order_by(QD.c.position, QD.c.id)
    )
    return [Document(doc_id=r.doc_id, text=r.text, title=r.title, first_stage_score=r.first_stage_score,
                     first_stage_source=r.first_stage_source) for r in rows]


def renamed_documents(conn: Connection) -> list[dict[str, Any]]:
    """What migration 0009 did: each document id that had been re-pointed to a new text and
    whose older text got an id of its own, oldest first."""
    RD = schema.RENAMED_DOCUMENTS
    return [dict(r) for r in conn.execute(
        select(RD.c.query_id, RD.c.old_doc_id, RD.c.new_doc_id, RD.c.labels, RD.c.judgments, RD.c.renamed_at)
        .order_by(RD.c.id)).mappings()]
