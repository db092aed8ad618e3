"""Search and filter over a campaign's items or a run's documents: text (in the query, the document
or its id), the model's score range, human-model disagreement, status, and who labelled it (me,
anyone, no one).

A blind campaign answers as its payloads do: the model's score is in a row only where the person
asking has labelled the item, and filtering on the model's score or on disagreement is refused
there (the filter alone would tell which items the model scored high)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from .errors import CampaignError
from .payload import model_judgment
from .setup import Campaign, find
from .tables import A, D, I, J, L, LE, Q, R, utcnow
from .work import LEASED

if TYPE_CHECKING:
    from .. import Store

LABELLED_BY = ("", "me", "anyone", "no one")
CAMPAIGN_STATUSES = ("", "done", "leased", "left")
RUN_STATUSES = ("", "labelled", "unlabelled")
SNIPPET_CHARS = 160
DEFAULT_LIMIT = 200


@dataclass
class RecordFilter:
    text: str = ""
    model_min: int | None = None
    model_max: int | None = None
    disagreement: int | None = None  # at least this |human - model| for some person's label
    status: str = ""
    labelled_by: str = ""
    person: str = ""  # who "me" is
    limit: int = DEFAULT_LIMIT

    def check(self, statuses: tuple[str, ...], blind: bool) -> None:
        for value, name in ((self.model_min, "model score from"), (self.model_max, "model score to"),
                            (self.disagreement, "disagreement")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10):
                raise CampaignError(f"{name} must be a whole number from 0 to 10, got {value!r}")
        if self.status not in statuses:
            raise CampaignError(f"status must be one of {', '.join(s for s in statuses if s)}, got {self.status!r}")
        if self.labelled_by not in LABELLED_BY:
            raise CampaignError(f"labelled by must be me, anyone or no one, got {self.labelled_by!r}")
        if self.labelled_by == "me" and not self.person.strip():
            raise CampaignError("'labelled by me' needs your name")
        if blind and (self.model_min is not None or self.model_max is not None or self.disagreement is not None):
            raise CampaignError("this campaign is blind: it cannot be filtered by the model's score or by disagreement")

    def keeps(self, row: dict[str, Any]) -> bool:
        text = self.text.strip().lower()
        if text and text not in row["query"].lower() and text not in row["_text"].lower() \
                and text not in row["doc_id"].lower():
            return False
        model = row["model_score"]
        if self.model_min is not None and (model is None or model < self.model_min):
            return False
        if self.model_max is not None and (model is None or model > self.model_max):
            return False
        if self.disagreement is not None and (model is None or not any(
                abs(s - model) >= self.disagreement for s in row["labels"].values())):
            return False
        if self.status and row["status"] != self.status:
            return False
        who = set(row["labels"])
        if self.labelled_by == "me" and self.person.strip() not in who:
            return False
        if self.labelled_by == "anyone" and not who:
            return False
        return not (self.labelled_by == "no one" and who)


def _current(rows: list[Any]) -> dict[tuple[int, str], dict[str, int]]:
    """(query, doc_id) -> person -> current score, from label rows oldest first (a retracted row
    or one without a score clears that person's label)."""
    out: dict[tuple[int, str], dict[str, int]] = {}
    for r in rows:
        scores = out.setdefault((r.query_id, r.doc_id), {})
        if r.retracted or r.score is None:
            scores.pop(r.name, None)
        else:
            scores[r.name] = r.score
    return out


def _finish(rows: list[dict[str, Any]], flt: RecordFilter) -> list[dict[str, Any]]:
    kept = [r for r in rows if flt.keeps(r)][: max(1, flt.limit)]
    for r in kept:
        r["snippet"] = r.pop("_text")[:SNIPPET_CHARS]
    return kept


def campaign_records(store: Store, name: str, flt: RecordFilter) -> list[dict[str, Any]]:
    """The campaign's items that pass the filter, in the campaign's order."""
    with store.read() as conn:
        campaign: Campaign = find(conn, name)
        flt.check(CAMPAIGN_STATUSES, campaign.blind)
        items = conn.execute(select(I, Q.c.text.label("query"), Q.c.source_query_id, D.c.text.label("document"))
                             .join(Q, Q.c.id == I.c.query_id).join(D, D.c.id == I.c.document_id)
                             .where(I.c.campaign_id == campaign.id).order_by(I.c.position)).all()
        labels = _current(conn.execute(
            select(L.c.query_id, L.c.doc_id, L.c.score, L.c.retracted, A.c.name).join(A, A.c.id == L.c.annotator_id)
            .where(L.c.campaign_id == campaign.id).order_by(L.c.id)).all())
        now = utcnow()
        leased = set(conn.execute(select(LE.c.item_id).join(I, I.c.id == LE.c.item_id).where(
            I.c.campaign_id == campaign.id, LE.c.state == LEASED, LE.c.expires_at > now)).scalars())
        rows = []
        for item in items:
            scores = labels.get((item.query_id, item.doc_id), {})
            visible = not campaign.blind or flt.person.strip() in scores
            judged = model_judgment(conn, item) if visible else None
            status = "done" if len(scores) >= campaign.overlap else "leased" if item.id in leased else "left"
            rows.append({"item": item.id, "query_key": item.source_query_id or str(item.query_id),
                         "query": item.query, "doc_id": item.doc_id, "_text": item.document,
                         "model_score": judged["score"] if judged else None, "labels": scores, "status": status})
    return _finish(rows, flt)


def run_records(store: Store, run_id: int, flt: RecordFilter) -> list[dict[str, Any]]:
    """A run's documents (their latest judgment in the run) that pass the filter, by rank."""
    flt.check(RUN_STATUSES, blind=False)
    with store.read() as conn:
        run = conn.execute(select(R.c.query_id).where(R.c.id == run_id)).first()
        if run is None:
            raise CampaignError(f"no run with id {run_id}")
        query = conn.execute(select(Q.c.text, Q.c.source_query_id).where(Q.c.id == run.query_id)).first()
        latest = select(func.max(J.c.id)).where(J.c.run_id == run_id).group_by(J.c.doc_id)
        judged = conn.execute(select(J.c.doc_id, J.c.score, J.c.rank_score, D.c.text).join(D, D.c.id == J.c.document_id)
                              .where(J.c.id.in_(latest))).all()
        labels = _current(conn.execute(
            select(L.c.query_id, L.c.doc_id, L.c.score, L.c.retracted, A.c.name).join(A, A.c.id == L.c.annotator_id)
            .where(L.c.query_id == run.query_id, L.c.action != "adjudicate").order_by(L.c.id)).all())
    judged = sorted(judged, key=lambda j: (j.rank_score is None, -(j.rank_score or 0.0), j.doc_id))
    rows = []
    for j in judged:
        scores = labels.get((run.query_id, j.doc_id), {})
        rows.append({"item": None, "query_key": query.source_query_id or str(run.query_id), "query": query.text,
                     "doc_id": j.doc_id, "_text": j.text, "model_score": j.score, "labels": scores,
                     "status": "labelled" if scores else "unlabelled"})
    return _finish(rows, flt)


HEADERS = ["item", "query", "document", "snippet", "model", "labels", "status"]


def table_rows(records: list[dict[str, Any]]) -> list[list[Any]]:
    """Rows for a table (HEADERS): labels as "person score" pairs."""
    return [[r["item"] if r["item"] is not None else "", r["query_key"], r["doc_id"], r["snippet"],
             "" if r["model_score"] is None else r["model_score"],
             ", ".join(f"{p} {s}" for p, s in sorted(r["labels"].items())), r["status"]] for r in records]
