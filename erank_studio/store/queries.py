"""Queries: a benchmark query found by (source, its id), a typed one by its text."""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, select

from . import schema, validation
from .clock import utcnow
from .schema import QUERIES as Q


class QueryRow(NamedTuple):
    id: int
    text: str
    source: str | None  # None for a typed query
    source_query_id: str | None

    def as_dict(self) -> dict[str, object]:
        return self._asdict()


def upsert_query(conn: Connection, text: str, source: str | None, source_query_id: str | None,
                 created_at: datetime | None = None) -> tuple[int, bool]:
    """(query id, whether it was inserted)."""
    validation.text(text, "query text")
    src, sqid = source or "", source_query_id or ""
    if sqid:
        validation.identifier(sqid, "query id")
    stmt = select(Q.c.id).where(Q.c.source == src, Q.c.source_query_id == sqid)
    if not sqid:
        stmt = stmt.where(Q.c.text == text)
    found = conn.execute(stmt.order_by(Q.c.id).limit(1)).scalar()
    if found is not None:
        return int(found), False
    inserted = conn.execute(Q.insert().values(text=text, source=src, source_query_id=sqid,
                                              created_at=created_at or utcnow())).inserted_primary_key[0]
    return int(inserted), True


def query_row(conn: Connection, query_id: int) -> QueryRow:
    """The query, or ValueError when there is none of that id."""
    row = conn.execute(select(Q).where(Q.c.id == query_id)).first()
    if row is None:
        raise ValueError(f"no query with id {query_id}")
    return QueryRow(row.id, row.text, row.source or None, row.source_query_id or None)


def query_rows(conn: Connection) -> list[QueryRow]:
    """Every query, oldest first."""
    return [QueryRow(r.id, r.text, r.source or None, r.source_query_id or None)
            for r in conn.execute(select(Q).order_by(Q.c.id))]
