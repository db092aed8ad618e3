"""Search and filter over a campaign's items, a run's documents or a dataset's batch: text (in the
query, the document or its id), the model's score range, human-model disagreement, status, and who
labelled it (me, anyone, no one). A campaign "of a filter" (setup.create) holds exactly the
documents of its run or batch that this search finds (``matching_pairs``).

A blind campaign answers as its payloads do: the model's score is in a row only where the person
asking has labelled the item, and filtering on the model's score or on disagreement is refused
there (the filter alone would tell which items the model scored high)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from .errors import CampaignError
from .payload import model_judgment
from .lookup import Campaign, find
from .sources import Source, batch_items
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

    @property
    def active(self) -> bool:
        """Whether any criterion is set (an inactive filter keeps everything)."""
        return bool(self.text.strip() or self.status or self.labelled_by) or any(
            v is not None for v in (self.model_min, self.model_max, self.disagreement))

    def describe(self, withhold_model: bool = False) -> str:
        """The criteria in words, e.g. ``text 'tidal', model score 5..10, labelled by no one``;
        ``withhold_model``: the model's score range and disagreement only named as such (what a
        blind campaign's people read must not say where the model put its items)."""
        parts = [f"text {self.text.strip()!r}"] if self.text.strip() else []
        on_model = self.model_min is not None or self.model_max is not None or self.disagreement is not None
        if withhold_model and on_model:
            parts.append("criteria on the model's score (withheld: the campaign is blind)")
        if not withhold_model and (self.model_min is not None or self.model_max is not None):
            parts.append(f"model score {0 if self.model_min is None else self.model_min}.."
                         f"{10 if self.model_max is None else self.model_max}")
        if not withhold_model and self.disagreement is not None:
            parts.append(f"|human - model| >= {self.disagreement}")
        if self.status:
            parts.append(f"status {self.status}")
        if self.labelled_by:
            parts.append(f"labelled by {self.person.strip() if self.labelled_by == 'me' else self.labelled_by}")
        return ", ".join(parts) or "no criteria"

    def check(self, statuses: tuple[str, ...], blind: bool) -> None:
        for value, name in ((self.model_min, "model score from"), (self.model_max, "model score to"),
                            (self.disagreement, "disagreement")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10):
                raise CampaignError(f"{name} must be a whole number from 0 to 10, got {value!r}")
        if self.model_min is not None and self.model_max is not None and self.model_min > self.model_max:
            raise CampaignError(f"model score from {self.model_min} is above model score to {self.model_max}: "
                                "no score is in that range")
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
        r.pop("_query_id", None)
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


def _labels_of(conn: Any, query_ids: set[int]) -> dict[tuple[int, str], dict[str, int]]:
    """(query, doc_id) -> person -> current score, outside adjudication, for these queries."""
    return _current(conn.execute(
        select(L.c.query_id, L.c.doc_id, L.c.score, L.c.retracted, A.c.name).join(A, A.c.id == L.c.annotator_id)
        .where(L.c.query_id.in_(query_ids), L.c.action != "adjudicate").order_by(L.c.id)).all())


def _document_row(query_key: str, query: str, query_id: int | None, doc_id: str, text: str, score: int | None,
                  labels: dict[str, int]) -> dict[str, Any]:
    """One unfiltered row of a query's document (not a campaign item)."""
    return {"item": None, "query_key": query_key, "query": query, "doc_id": doc_id, "_text": text,
            "_query_id": query_id, "model_score": score, "labels": labels,
            "status": "labelled" if labels else "unlabelled"}


def _judged_rows(conn: Any, judged: list[tuple[int, int, str, int | None]]) -> list[dict[str, Any]]:
    """Unfiltered rows for (run, query, doc_id, model score) entries, in their order: the text the
    run's latest judgment of the document read, and everyone's current label of the (query,
    document) outside adjudication."""
    run_ids = {e[0] for e in judged}
    query_ids = {e[1] for e in judged}
    texts = {(r.run_id, r.doc_id): r.text for r in conn.execute(  # ordered by id: the latest judgment wins
        select(J.c.run_id, J.c.doc_id, D.c.text).join(D, D.c.id == J.c.document_id)
        .where(J.c.run_id.in_(run_ids)).order_by(J.c.id))}
    queries = {r.id: r for r in conn.execute(select(Q.c.id, Q.c.text, Q.c.source_query_id)
                                             .where(Q.c.id.in_(query_ids)))}
    labels = _labels_of(conn, query_ids)
    return [_document_row(queries[query_id].source_query_id or str(query_id), queries[query_id].text, query_id,
                          doc_id, texts[(run_id, doc_id)], score, labels.get((query_id, doc_id), {}))
            for run_id, query_id, doc_id, score in judged]


def _run_rows(store: Store, run_id: int) -> list[dict[str, Any]]:
    """A run's documents (their latest judgment in the run), by rank, unfiltered."""
    with store.read() as conn:
        run = conn.execute(select(R.c.query_id).where(R.c.id == run_id)).first()
        if run is None:
            raise CampaignError(f"no run with id {run_id}")
        latest = select(func.max(J.c.id)).where(J.c.run_id == run_id).group_by(J.c.doc_id)
        judged = conn.execute(select(J.c.doc_id, J.c.score, J.c.rank_score).where(J.c.id.in_(latest))).all()
        judged = sorted(judged, key=lambda j: (j.rank_score is None, -(j.rank_score or 0.0), j.doc_id))
        return _judged_rows(conn, [(run_id, run.query_id, j.doc_id, j.score) for j in judged])


def _batch_rows(store: Store, source: Source) -> list[dict[str, Any]]:
    """A batch's documents, query by query in the batch's order and by the model's rank within
    each query, unfiltered."""
    position = {q: n for n, q in enumerate(dict.fromkeys(i.query_id for i in source.items))}
    items = sorted(source.items, key=lambda i: (position[i.query_id], i.model_rank is None, i.model_rank or 0,
                                                i.doc_id))
    with store.read() as conn:
        return _judged_rows(conn, [(i.run_id, i.query_id, i.doc_id, i.score) for i in items])


def run_records(store: Store, run_id: int, flt: RecordFilter) -> list[dict[str, Any]]:
    """A run's documents (their latest judgment in the run) that pass the filter, by rank."""
    flt.check(RUN_STATUSES, blind=False)
    return _finish(_run_rows(store, run_id), flt)


def batch_records(store: Store, dataset: str, flt: RecordFilter, model: str | None = None,
                  top_k: int | None = None) -> list[dict[str, Any]]:
    """A dataset batch's documents (each query's top k by the model when given) that pass the
    filter: the candidates of ``campaign create --dataset``."""
    flt.check(RUN_STATUSES, blind=False)
    return _finish(_batch_rows(store, batch_items(store, dataset, model, top_k)), flt)


def kept_documents(store: Store, query_id: int | None, query: str,
                   documents: list[tuple[str, str, int | None]], flt: RecordFilter) -> set[str]:
    """The doc_ids of one query's (doc_id, text, model score) documents that the filter keeps,
    whatever its limit, with the labels the store holds for the query (the Rerank table's filter:
    the documents on screen, a run in progress included, searched as ``run_records`` searches)."""
    flt.check(RUN_STATUSES, blind=False)
    labels: dict[tuple[int, str], dict[str, int]] = {}
    if query_id is not None:
        with store.read() as conn:
            labels = _labels_of(conn, {query_id})
    rows = [_document_row("", query, query_id, d, text, score, labels.get((query_id, d), {}))
            for d, text, score in documents]
    return {r["doc_id"] for r in rows if flt.keeps(r)}


def matching_pairs(store: Store, flt: RecordFilter, source: Source, run_id: int | None) -> set[tuple[int, str]]:
    """(query id, doc_id) of every document of the source (the run ``run_id``, else a dataset's
    batch) that the filter keeps, whatever its limit: run_records / batch_records without the cut."""
    flt.check(RUN_STATUSES, blind=False)
    rows = _run_rows(store, run_id) if run_id is not None else _batch_rows(store, source)
    return {(r["_query_id"], r["doc_id"]) for r in rows if flt.keeps(r)}


HEADERS = ["item", "query", "document", "snippet", "model", "labels", "status"]


def table_rows(records: list[dict[str, Any]]) -> list[list[Any]]:
    """Rows for a table (HEADERS): labels as "person score" pairs."""
    return [[r["item"] if r["item"] is not None else "", r["query_key"], r["doc_id"], r["snippet"],
             "" if r["model_score"] is None else r["model_score"],
             ", ".join(f"{p} {s}" for p, s in sorted(r["labels"].items())), r["status"]] for r in records]
