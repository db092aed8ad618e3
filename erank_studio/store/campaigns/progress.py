"""How far a campaign is: per person and overall, items done, leased and left, labels per hour and
the median seconds per label (display to label, as stored on each label).

- overall: ``done`` items have their k labels, ``leased`` items lack labels and someone holds an
  unexpired lease, ``left`` items lack labels and nobody holds them;
- a person: ``done`` the items they labelled, ``leased`` the items they hold now, ``left`` the items
  the hand-out rule could still give them (room left, not theirs, not skipped by them);
- labels per hour: labels over the hours from the first to the last label (None with fewer than two);
  median seconds: over the labels that carry a time."""
from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from .lookup import find
from .tables import A, I, L, LE, utcnow
from .work import LEASED, SKIPPED

if TYPE_CHECKING:
    from .. import Store


def _rates(rows: list[Any]) -> dict[str, Any]:
    times = sorted(r.created_at for r in rows)
    hours = (times[-1] - times[0]).total_seconds() / 3600 if len(times) > 1 else 0.0
    seconds = [r.seconds for r in rows if r.seconds is not None]
    return {"labels": len(rows), "labels_per_hour": round(len(rows) / hours, 1) if hours > 0 else None,
            "median_seconds": round(statistics.median(seconds), 1) if seconds else None}


def status(store: Store, name: str) -> dict[str, Any]:
    """{"campaign": settings, "overall": {...}, "people": {name: {...}}} (see the module doc)."""
    with store.read() as conn:
        campaign = find(conn, name)
        now = utcnow()
        items = conn.execute(select(I.c.id, I.c.query_id, I.c.doc_id).where(I.c.campaign_id == campaign.id)).all()
        labels = conn.execute(select(L.c.query_id, L.c.doc_id, L.c.annotator_id, L.c.created_at, L.c.seconds)
                              .where(L.c.campaign_id == campaign.id, L.c.score.is_not(None))
                              .order_by(L.c.id)).all()
        leases = conn.execute(select(LE.c.item_id, LE.c.annotator_id, LE.c.state, LE.c.expires_at)
                              .join(I, I.c.id == LE.c.item_id).where(I.c.campaign_id == campaign.id)).all()
        people = dict(conn.execute(select(A.c.id, A.c.name).where(
            A.c.id.in_({r.annotator_id for r in labels} | {r.annotator_id for r in leases}))).all())
    item_of = {(i.query_id, i.doc_id): i.id for i in items}
    by_item: dict[int, set[int]] = {}
    for r in labels:
        by_item.setdefault(item_of[(r.query_id, r.doc_id)], set()).add(r.annotator_id)
    active = [r for r in leases if r.state == LEASED and r.expires_at > now]
    held: dict[int, set[int]] = {}
    for r in active:
        held.setdefault(r.item_id, set()).add(r.annotator_id)
    skipped = {(r.item_id, r.annotator_id) for r in leases if r.state == SKIPPED}
    k = campaign.overlap
    done = {i.id for i in items if len(by_item.get(i.id, ())) >= k}
    leased = {i for i in held if i not in done}
    overall = {"items": len(items), "done": len(done), "leased": len(leased),
               "left": len(items) - len(done) - len(leased), "wanted": k * len(items), **_rates(list(labels))}
    per_person = {}
    for pid, person in sorted(people.items(), key=lambda p: p[1]):
        mine = [r for r in labels if r.annotator_id == pid]
        room = [i.id for i in items
                if pid not in by_item.get(i.id, set()) and (i.id, pid) not in skipped
                and len(by_item.get(i.id, set())) + len(held.get(i.id, set()) - {pid}) < k]
        per_person[person] = {"done": len({(r.query_id, r.doc_id) for r in mine}),
                              "leased": sum(1 for r in active if r.annotator_id == pid),
                              "left": len(room), **_rates(mine)}
    return {"campaign": campaign.to_dict(), "overall": overall, "people": per_person}


PEOPLE_HEADERS = ["person", "done", "leased", "left", "labels/hour", "median s"]


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The campaign's settings and the overall progress, a line each."""
    c, o = result["campaign"], result["overall"]
    return [f"campaign {c['name']}: {c['items']} items from {c['origin']}, {c['overlap']} label(s) each, "
            f"{'blind' if c['blind'] else 'model shown'}, order {c['strategy']}, lease {c['lease_s']} s",
            f"overall: {o['done']} done, {o['leased']} leased, {o['left']} left; {o['labels']} of "
            f"{o['wanted']} labels; {_cell(o['labels_per_hour'])} labels/hour; median {_cell(o['median_seconds'])} s"]


def people_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row a person (PEOPLE_HEADERS), for the CLI's table and the app's."""
    return [[p, str(v["done"]), str(v["leased"]), str(v["left"]), _cell(v["labels_per_hour"]),
             _cell(v["median_seconds"])] for p, v in result["people"].items()]


def format_status(result: dict[str, Any]) -> str:
    """The status as lines of text (the CLI)."""
    rows = [PEOPLE_HEADERS, *people_rows(result)]
    widths = [max(len(r[n]) for r in rows) for n in range(len(rows[0]))]
    return "\n".join(summary_lines(result) + [
        "  ".join(v.ljust(w) if n == 0 else v.rjust(w) for n, (v, w) in enumerate(zip(r, widths))) for r in rows])
