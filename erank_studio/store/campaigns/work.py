"""A person's work in a campaign: the next item (under a lease), their label, a skip, and keeping
the model's trace once it was revealed.

Hand-out rule: a person gets the first item, in the campaign's fixed order, that has room
(distinct people who labelled it + people other than them holding an unexpired lease < overlap),
that they have not labelled and have not skipped. With overlap k, up to k people may hold an item
at once, never more; a lease ends when its person labels the item or when it expires, so a closed
tab never blocks an item. A person asking again while holding an unexpired lease on an item they
have not labelled gets that item back (a reload shows the same item).

Atomicity: each call is one write transaction. Writers are serialised by the store itself (SQLite:
the lock file and BEGIN IMMEDIATE; PostgreSQL: the store's advisory lock), and the candidate item
row is also locked ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite has no row locks and needs none),
so two people can never both take the last place of an item. A label checks the same rule again: a
person whose lease expired and whose place was taken meanwhile is refused, nothing saved, so an item
never ends with more than k people's labels."""
from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, select

from ...errors import ValidationError
from .. import validation
from . import guidelines
from .errors import CampaignError
from .payload import item_payload, item_row, model_judgment
from .lookup import Campaign, find
from .tables import I, L, LE, person_id, utcnow

if TYPE_CHECKING:
    from .. import Store

LEASED, SKIPPED = "leased", "skipped"
MAX_SECONDS = 7 * 24 * 3600.0  # a week: a "seconds" beyond it is a mistake, not a label time


def _person(conn: Connection, name: Any) -> int:
    try:
        return int(person_id(conn, validation.annotator(name, "person")))
    except ValidationError as error:
        raise CampaignError(str(error)) from None


def _labellers(conn: Connection, campaign: Campaign, item: Any) -> set[int]:
    """The people holding a scored label on the item in this campaign."""
    return set(conn.execute(select(L.c.annotator_id).where(
        L.c.campaign_id == campaign.id, L.c.query_id == item.query_id, L.c.doc_id == item.doc_id,
        L.c.score.is_not(None))).scalars())


def _holders(conn: Connection, item_id: int, now: Any) -> set[int]:
    """The people holding an unexpired lease on the item."""
    return set(conn.execute(select(LE.c.annotator_id).where(
        LE.c.item_id == item_id, LE.c.state == LEASED, LE.c.expires_at > now)).scalars())


def _candidates(conn: Connection, campaign: Campaign, me: int, now: Any) -> list[int]:
    """Item ids the hand-out rule allows for ``me``, in the campaign's order (read in three
    statements, not one per item)."""
    items = conn.execute(select(I.c.id, I.c.query_id, I.c.doc_id).where(I.c.campaign_id == campaign.id)
                         .order_by(I.c.position)).all()
    labelled: dict[tuple[int, str], set[int]] = {}
    for r in conn.execute(select(L.c.query_id, L.c.doc_id, L.c.annotator_id).where(
            L.c.campaign_id == campaign.id, L.c.score.is_not(None))):
        labelled.setdefault((r.query_id, r.doc_id), set()).add(r.annotator_id)
    held: dict[int, set[int]] = {}
    skipped: set[int] = set()
    for r in conn.execute(select(LE.c.item_id, LE.c.annotator_id, LE.c.state, LE.c.expires_at)
                          .join(I, I.c.id == LE.c.item_id).where(I.c.campaign_id == campaign.id)):
        if r.state == SKIPPED and r.annotator_id == me:
            skipped.add(r.item_id)
        elif r.state == LEASED and r.expires_at > now and r.annotator_id != me:
            held.setdefault(r.item_id, set()).add(r.annotator_id)
    out = []
    for item in items:
        people = labelled.get((item.query_id, item.doc_id), set())
        if me in people or item.id in skipped:
            continue
        if len(people) + len(held.get(item.id, set())) < campaign.overlap:
            out.append(item.id)
    return out


def _my_lease(conn: Connection, item_id: int, me: int) -> Any:
    return conn.execute(select(LE).where(LE.c.item_id == item_id, LE.c.annotator_id == me)).first()


def _set_lease(conn: Connection, item_id: int, me: int, state: str, now: Any, expires: Any) -> None:
    if _my_lease(conn, item_id, me) is None:
        conn.execute(LE.insert().values(item_id=item_id, annotator_id=me, state=state, leased_at=now,
                                        expires_at=expires))
    else:
        conn.execute(LE.update().where(LE.c.item_id == item_id, LE.c.annotator_id == me)
                     .values(state=state, leased_at=now, expires_at=expires))


def _held_item(conn: Connection, campaign: Campaign, me: int, now: Any) -> Any:
    """The item ``me`` holds an unexpired lease on and has not labelled yet, if any."""
    rows = conn.execute(select(I, LE.c.expires_at).join(LE, LE.c.item_id == I.c.id).where(
        I.c.campaign_id == campaign.id, LE.c.annotator_id == me, LE.c.state == LEASED,
        LE.c.expires_at > now).order_by(I.c.position)).all()
    for row in rows:
        if me not in _labellers(conn, campaign, row):
            return row
    return None


def next_item(store: Store, name: str, person: str) -> dict[str, Any] | None:
    """Lease the next item to ``person`` and return what they may see of it (payload.py), or
    None when nothing is left for them."""
    with store.write() as conn:
        campaign = find(conn, name)
        me = _person(conn, person)
        now = utcnow()
        held = _held_item(conn, campaign, me, now)
        if held is not None:
            return item_payload(conn, campaign, held, me, held.expires_at)
        expires = now + timedelta(seconds=campaign.lease_s)
        for item_id in _candidates(conn, campaign, me, now):
            # PostgreSQL: lock the row, passing over one another transaction holds; then check
            # the rule again under the lock (what was read above may be a moment old).
            if conn.execute(select(I.c.id).where(I.c.id == item_id)
                            .with_for_update(skip_locked=True)).first() is None:
                continue
            item = item_row(conn, campaign, item_id)
            if len(_labellers(conn, campaign, item)) + len(_holders(conn, item_id, now) - {me}) >= campaign.overlap:
                continue
            _set_lease(conn, item_id, me, LEASED, now, expires)
            return item_payload(conn, campaign, item, me, expires)
        return None


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_SECONDS:
        raise CampaignError(f"seconds must be a number from 0 to {MAX_SECONDS:.0f}, got {value!r}")
    return float(value)


def label(store: Store, name: str, person: str, item_id: int, score: Any, rationale: str | None = None,
          note: str | None = None, seconds: float | None = None,
          guideline_version: int | None = None) -> dict[str, Any]:
    """Save ``person``'s label of the item (a correction of their own earlier label is a new row).
    Records the campaign, whether it was blind, the guideline version (the one shown, else the
    current one) and the seconds (given, else measured from the lease: display to label). Returns
    {"label": id, "item", "score", "seconds", "guideline_version", "blind", "model": the revealed
    judgment}."""
    try:
        score, rationale, note, person = validation.label(score, rationale, note, person)
    except ValidationError as error:
        raise CampaignError(str(error)) from None
    if score is None:
        raise CampaignError("a campaign label needs a score from 0 to 10 (skip an item instead)")
    seconds = _seconds(seconds)
    with store.write() as conn:
        campaign = find(conn, name)
        item = item_row(conn, campaign, item_id)
        conn.execute(select(I.c.id).where(I.c.id == item.id).with_for_update())  # PostgreSQL: one labeller at a time
        me = _person(conn, person)
        now = utcnow()
        labellers = _labellers(conn, campaign, item)
        others = labellers - {me}
        if me not in labellers and len(others) >= campaign.overlap:
            raise CampaignError(f"item {item.id} already has its {campaign.overlap} label(s) (your lease ran out "
                                "and another person took it); nothing saved, ask for the next item")
        lease = _my_lease(conn, item.id, me)
        holding = lease is not None and lease.state == LEASED and lease.expires_at > now
        if me not in labellers and not holding and \
                len(others) + len(_holders(conn, item.id, now) - {me}) >= campaign.overlap:
            raise CampaignError(f"item {item.id} is being labelled by others who hold it now; nothing saved, "
                                "ask for the next item")
        if seconds is None and lease is not None and lease.state == LEASED:
            seconds = min(max((now - lease.leased_at).total_seconds(), 0.0), MAX_SECONDS)
        current, _ = guidelines.current(conn, campaign.id)
        if guideline_version is None:
            guideline_version = current
        elif isinstance(guideline_version, bool) or not isinstance(guideline_version, int) \
                or not 1 <= guideline_version <= current:
            raise CampaignError(f"guideline version must be from 1 to {current}, got {guideline_version!r}")
        label_id = int(conn.execute(L.insert().values(
            query_id=item.query_id, document_id=item.document_id, doc_id=item.doc_id, annotator_id=me,
            score=score, rationale=rationale, note=note, retracted=False, action="set", created_at=now,
            campaign_id=campaign.id, blind=campaign.blind, guideline_version=guideline_version,
            seconds=seconds, trace_kept=False if campaign.blind else None)).inserted_primary_key[0])
        conn.execute(delete(LE).where(LE.c.item_id == item.id, LE.c.annotator_id == me))
        return {"label": label_id, "item": item.id, "score": score, "seconds": seconds,
                "guideline_version": guideline_version, "blind": campaign.blind,
                "model": model_judgment(conn, item)}


def skip(store: Store, name: str, person: str, item_id: int) -> None:
    """``person`` passes on the item: their lease ends and it is never handed to them again."""
    with store.write() as conn:
        campaign = find(conn, name)
        item = item_row(conn, campaign, item_id)
        me = _person(conn, person)
        now = utcnow()
        _set_lease(conn, item.id, me, SKIPPED, now, now)


def reveal(store: Store, name: str, person: str, item_id: int) -> dict[str, Any] | None:
    """The model's judgment of the item for ``person``: refused in a blind campaign until they
    have labelled it."""
    from .payload import may_see_model

    with store.read() as conn:
        campaign = find(conn, name)
        item = item_row(conn, campaign, item_id)
        me = person_id(conn, person, create=False) if isinstance(person, str) else None
        if not may_see_model(conn, campaign, item, me):
            raise CampaignError(f"campaign {campaign.name!r} is blind: label item {item.id} first, "
                                "then the model's judgment is shown")
        return model_judgment(conn, item)


def keep_trace(store: Store, name: str, person: str, item_id: int) -> int:
    """After the reveal of a blind item, ``person`` keeps the model's trace as their label's
    rationale for training: a new label row (labels are append-only), the same score, rationale
    and note, ``trace_kept`` True. Returns its id."""
    with store.write() as conn:
        campaign = find(conn, name)
        item = item_row(conn, campaign, item_id)
        me = _person(conn, person)
        mine = conn.execute(select(L).where(
            L.c.campaign_id == campaign.id, L.c.annotator_id == me, L.c.query_id == item.query_id,
            L.c.doc_id == item.doc_id, L.c.score.is_not(None)).order_by(L.c.id.desc()).limit(1)).first()
        if mine is None:
            raise CampaignError(f"label item {item.id} first; then its model trace can be kept")
        if not campaign.blind:
            raise CampaignError(f"campaign {campaign.name!r} is not blind: the model's trace is used already")
        values = {k: getattr(mine, k) for k in ("query_id", "document_id", "doc_id", "annotator_id", "score",
                                                 "rationale", "note", "campaign_id", "blind", "guideline_version",
                                                 "seconds")}
        return int(conn.execute(L.insert().values(**values, retracted=False, action="set", created_at=utcnow(),
                                                  trace_kept=True)).inserted_primary_key[0])
