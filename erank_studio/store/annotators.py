"""Annotators: the people who label, found by name.

A name is compared without case ("Alice" and "alice" are one person), and a new spelling of a
known name resolves to the existing row, so one person's labels never split over two rows.
Stores written before this rule may hold both "Alice" and "alice" as two rows: they still open,
and their labels stay apart (merging would change whose label is current). A name then finds
its exact spelling first, else the oldest row that matches without case."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, select

from . import schema
from .schema import ANNOTATORS as A


def name_key(name: str) -> str:
    """What two spellings of one person's name have in common."""
    return name.casefold()


def find_annotator(conn: Connection, name: str) -> int | None:
    """The annotator row ``name`` means (exact spelling first, else without case), or None."""
    exact = conn.execute(select(A.c.id).where(A.c.name == name).order_by(A.c.id).limit(1)).scalar()
    if exact is not None:
        return int(exact)
    # The table holds one row per person: reading the names is cheap, and casefold() is exact
    # where SQLite's lower() folds ASCII only.
    key = name_key(name)
    for row_id, known in conn.execute(select(A.c.id, A.c.name).order_by(A.c.id)):
        if name_key(known) == key:
            return int(row_id)
    return None


def annotator_id(conn: Connection, name: str) -> int:
    """The row of ``name``, added when nobody of that name (without case) is known yet."""
    found = find_annotator(conn, name)
    if found is not None:
        return found
    created = datetime.now(timezone.utc).replace(tzinfo=None)
    return int(conn.execute(A.insert().values(name=name, created_at=created)).inserted_primary_key[0])


def annotator_name(conn: Connection, row_id: int) -> str:
    return str(conn.execute(select(A.c.name).where(A.c.id == row_id)).scalar_one())


def annotator_names(conn: Connection) -> list[str]:
    """Every annotator's name, in the order they were first seen."""
    return list(conn.execute(select(A.c.name).order_by(A.c.id)).scalars())
