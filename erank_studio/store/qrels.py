"""Qrels: relevance judgments imported from a benchmark, keyed by the benchmark's own ids."""
from __future__ import annotations

from sqlalchemy import Connection, bindparam, select

from . import schema
from .queries import query_row
from .schema import QRELS as QR


def add_qrels(conn: Connection, triples: list[tuple[str, str, int]], source: str) -> int:
    """Insert new (query, doc) pairs and update changed relevances (checked triples); returns
    how many rows were added or changed (0 for qrels already stored as they are)."""
    existing: dict[tuple[str, str], tuple[int, int]] = {}
    qids = sorted({q for q, _, _ in triples})
    for i in range(0, len(qids), 500):
        for r in conn.execute(select(QR.c.id, QR.c.source_query_id, QR.c.doc_id, QR.c.relevance)
                              .where(QR.c.source == source, QR.c.source_query_id.in_(qids[i:i + 500]))):
            existing[(r.source_query_id, r.doc_id)] = (r.id, r.relevance)
    new: dict[tuple[str, str], int] = {}
    for q, d, rel in triples:
        new[(q, d)] = rel
    inserts, updates = [], []
    for (q, d), rel in new.items():
        old = existing.get((q, d))
        if old is None:
            inserts.append({"source": source, "source_query_id": q, "doc_id": d, "relevance": rel})
        elif old[1] != rel:
            updates.append((old[0], rel))
    if inserts:
        conn.execute(QR.insert(), inserts)
    if updates:
        conn.execute(QR.update().where(QR.c.id == bindparam("row")).values(relevance=bindparam("rel")),
                     [{"row": row_id, "rel": rel} for row_id, rel in updates])
    return len(inserts) + len(updates)


def qrels_for(conn: Connection, query_id: int) -> dict[str, int]:
    """doc_id -> relevance of the query's benchmark qrels ({} for a typed query)."""
    q = query_row(conn, query_id)
    if not q.source_query_id:
        return {}
    return dict(conn.execute(select(QR.c.doc_id, QR.c.relevance).where(
        QR.c.source == (q.source or ""), QR.c.source_query_id == q.source_query_id)).all())
