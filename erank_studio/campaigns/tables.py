"""The tables campaign code reads and writes (store/schema.py), and the two bits of plumbing every
campaign module needs: the clock and a person's row. Kept here rather than borrowed from the
Store's private helpers, whose module layout is the store's own business."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, select

from ..store import schema

C = schema.Campaign.__table__
G = schema.CampaignGuidelines.__table__
I = schema.CampaignItem.__table__  # noqa: E741 (the items table, as the store names its tables)
LE = schema.CampaignLease.__table__
L = schema.Label.__table__
A = schema.Annotator.__table__
J = schema.JudgmentRow.__table__
Q = schema.Query.__table__
D = schema.DocumentRow.__table__
R = schema.Run.__table__


def utcnow() -> datetime:
    """Naive UTC, as every timestamp in the store."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def person_id(conn: Connection, name: str, create: bool = True) -> int | None:
    """The annotator row of ``name`` (created on first use unless ``create`` is False)."""
    found = conn.execute(select(A.c.id).where(A.c.name == name)).scalar()
    if found is not None or not create:
        return found
    return int(conn.execute(A.insert().values(name=name, created_at=utcnow())).inserted_primary_key[0])
