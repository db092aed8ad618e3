"""What a person is sent about an item, and the one rule that decides it.

In a blind campaign nothing of the model's (its score, P(N), rank_score, E[N], distribution, rank,
first-stage score, trace, raw output) leaves the store for a person until that person has labelled
the item: ``item_payload`` leaves the "model" key out, and ``model_judgment`` is reached only through
``reveal``, which checks the label first. Not hidden by the page: never sent."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from . import guidelines
from .errors import CampaignError
from .lookup import Campaign
from .tables import D, I, J, L, Q

# The keys of a judgment a blind campaign withholds (the tests look for each of them).
MODEL_KEYS = ("score", "probability", "rank_score", "expected_score", "score_distribution", "rank",
              "first_stage_score", "hybrid_score", "trace", "raw_output", "status", "failure")


def model_judgment(conn: Connection, item: Any) -> dict[str, Any] | None:
    """The model's judgment of the item's document row in the item's run (its latest row), with
    the document's 1-based rank in that run by rank_score; None without a run or judgment."""
    if item.run_id is None:
        return None
    row = conn.execute(select(J).where(J.c.run_id == item.run_id, J.c.document_id == item.document_id)
                       .order_by(J.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    rank = None
    if row.rank_score is not None:
        above = conn.execute(select(func.count()).select_from(J).where(
            J.c.run_id == item.run_id, J.c.rank_score > row.rank_score)).scalar()
        rank = int(above or 0) + 1
    return {"score": row.score, "probability": row.probability, "rank_score": row.rank_score,
            "expected_score": row.expected_score, "score_distribution": row.score_distribution, "rank": rank,
            "first_stage_score": row.first_stage_score, "hybrid_score": row.hybrid_score, "trace": row.trace,
            "raw_output": row.raw_output, "status": row.status, "failure": row.failure}


def has_labelled(conn: Connection, campaign: Campaign, item: Any, person: int) -> bool:
    """Whether ``person`` holds a label on the item in this campaign."""
    return conn.execute(select(L.c.id).where(
        L.c.campaign_id == campaign.id, L.c.annotator_id == person, L.c.query_id == item.query_id,
        L.c.doc_id == item.doc_id, L.c.score.is_not(None)).limit(1)).first() is not None


def may_see_model(conn: Connection, campaign: Campaign, item: Any, person: int | None) -> bool:
    """The rule: a campaign that is not blind shows the model; a blind one only after the label."""
    return not campaign.blind or (person is not None and has_labelled(conn, campaign, item, person))


def item_row(conn: Connection, campaign: Campaign, item_id: Any) -> Any:
    """The item ``item_id`` of the campaign, or a CampaignError."""
    if isinstance(item_id, bool) or not isinstance(item_id, int):
        raise CampaignError(f"an item is a whole number, not {item_id!r}")
    row = conn.execute(select(I).where(I.c.id == item_id, I.c.campaign_id == campaign.id)).first()
    if row is None:
        raise CampaignError(f"campaign {campaign.name!r} has no item {item_id}")
    return row


def item_payload(conn: Connection, campaign: Campaign, item: Any, person: int | None,
                 leased_until: Any = None) -> dict[str, Any]:
    """The item as a person sees it: query, document, guidelines; the model's judgment only
    where ``may_see_model`` allows it."""
    query = conn.execute(select(Q.c.text, Q.c.source_query_id).where(Q.c.id == item.query_id)).first()
    document = conn.execute(select(D.c.text, D.c.title).where(D.c.id == item.document_id)).first()
    version, text = guidelines.current(conn, campaign.id)
    payload: dict[str, Any] = {
        "item": item.id, "campaign": campaign.name, "blind": campaign.blind, "position": item.position,
        "query_id": item.query_id, "query_key": query.source_query_id or str(item.query_id), "query": query.text,
        "doc_id": item.doc_id, "title": document.title, "document": document.text,
        "guidelines": {"version": version, "text": text},
        "leased_until": leased_until.isoformat(timespec="seconds") + "Z" if leased_until is not None else None,
    }
    if may_see_model(conn, campaign, item, person):
        payload["model"] = model_judgment(conn, item)
    return payload
