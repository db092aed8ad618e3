"""A campaign, found by name: the one reading every campaign module shares (setup creates them;
records, work, payload, progress and anchoring look them up)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from .errors import CampaignError
from .tables import C, I

if TYPE_CHECKING:
    from .. import Store


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    overlap: int
    blind: bool
    strategy: str
    lease_s: int
    origin: str
    n_items: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "overlap": self.overlap, "blind": self.blind, "strategy": self.strategy,
                "lease_s": self.lease_s, "origin": self.origin, "items": self.n_items}


def _campaign(conn: Connection, row: Any) -> Campaign:
    n = conn.execute(select(func.count()).select_from(I).where(I.c.campaign_id == row.id)).scalar()
    return Campaign(id=row.id, name=row.name, overlap=row.overlap, blind=bool(row.blind), strategy=row.strategy,
                    lease_s=row.lease_s, origin=row.origin, n_items=int(n or 0))


def find(conn: Connection, name: str) -> Campaign:
    """The campaign called ``name``, or a CampaignError naming the ones there are."""
    row = conn.execute(select(C).where(C.c.name == name)).first()
    if row is None:
        names = list(conn.execute(select(C.c.name).order_by(C.c.id).limit(20)).scalars())
        raise CampaignError(f"no campaign named {name!r}; campaigns: {', '.join(names) or 'none yet'}")
    return _campaign(conn, row)


def get(store: Store, name: str) -> Campaign:
    with store.read() as conn:
        return find(conn, name)


def names(store: Store) -> list[str]:
    """Every campaign's name, oldest first (the app's picker)."""
    with store.read() as conn:
        return list(conn.execute(select(C.c.name).order_by(C.c.id)).scalars())
