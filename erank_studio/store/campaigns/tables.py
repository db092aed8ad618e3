"""The tables campaign code reads and writes (schema.py), named once for the package, and the
store's clock and annotator rows (a person's name resolves as everywhere in the store)."""
from __future__ import annotations

from sqlalchemy import Connection

from ..annotators import annotator_id, find_annotator
from ..clock import utcnow
from ..schema import ANNOTATORS as A
from ..schema import CAMPAIGN_GUIDELINES as G
from ..schema import CAMPAIGN_ITEMS as I  # noqa: E741 (the items table, as the store names its tables)
from ..schema import CAMPAIGN_LEASES as LE
from ..schema import CAMPAIGNS as C
from ..schema import DOCUMENTS as D
from ..schema import JUDGMENTS as J
from ..schema import LABELS as L
from ..schema import QUERIES as Q
from ..schema import RUNS as R

__all__ = ["A", "C", "D", "G", "I", "J", "L", "LE", "Q", "R", "person_id", "utcnow"]


def person_id(conn: Connection, name: str, create: bool = True) -> int | None:
    """The annotator row of ``name`` (added on first use unless ``create`` is False)."""
    return annotator_id(conn, name) if create else find_annotator(conn, name)
