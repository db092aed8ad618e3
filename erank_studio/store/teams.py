"""Team work on one store: roles, every annotator's current label side by side, the disputed
items an adjudicator settles (``disputed_items``; "queue" is the label-next order's word), and
adjudications.

- A **role** is granted to a person by name (``grant_role``; the CLI's ``roles`` command). The
  one role is "adjudicator". Whoever can run the CLI against the store can grant it: the
  operator of a team's server.
- An **item** is one (query, document) pair with the current label of each annotator who
  labelled it (their latest row; undone labels and score-less notes left out), the model's
  score from the latest judgment of that document for that query, and the latest adjudication.
- An **adjudication** is a label row with action "adjudicate": who (the adjudicator), the final
  score, why (its note, required) and an optional rationale. It is append-only like every label
  (a second adjudication of an item is a new row; the latest counts) and is never anyone's own
  label: agreement, the disputed items and ``Store.current_labels`` read annotators' rows only.

SQLAlchemy Core only (no SQLite-only SQL), so the same code runs on PostgreSQL."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from ..errors import ValidationError
from . import annotators, candidates, schema, validation
from .clock import utcnow
from .labels import LabelRow, insert_label
from .store import Store
from .schema import ANNOTATORS as A, JUDGMENTS as J, LABELS as L, QUERIES as Q, RUNS as R, ROLES as RO


ADJUDICATOR = "adjudicator"


class NotAllowed(ValueError):
    """A person tried something their role does not allow (one-line message, nothing written)."""


@dataclass
class Adjudication:
    label_id: int
    adjudicator: str
    score: int
    reason: str
    rationale: str | None
    created_at: datetime


@dataclass
class Item:
    """One (query, document) pair as the team sees it."""

    query_id: int
    doc_id: str
    qid: str  # the TREC query id: the benchmark's id when the query has one, else the store's id
    document_id: int  # the document row the most recent label points at
    scores: dict[str, int] = field(default_factory=dict)  # annotator -> current score
    label_ids: dict[str, int] = field(default_factory=dict)  # annotator -> id of that label row
    model_score: int | None = None
    judgment_id: int | None = None
    adjudication: Adjudication | None = None

    @property
    def gap(self) -> int:
        """Largest minus smallest annotator score (0 with fewer than two annotators)."""
        return max(self.scores.values()) - min(self.scores.values()) if len(self.scores) > 1 else 0


def trec_qid(query_id: int, source_query_id: str | None) -> str:
    return source_query_id if source_query_id else str(query_id)


# -- roles -----------------------------------------------------------------------------------


def _role(role: str) -> str:
    return validation.choice(role, validation.ROLES, "role")


def _has_role(conn: Connection, name: str, role: str) -> bool:
    aid = annotators.find_annotator(conn, name)
    if aid is None:
        return False
    found = conn.execute(select(RO.c.id).where(RO.c.annotator_id == aid, RO.c.role == role)).first()
    return found is not None


def grant_role(store: Store, name: str, role: str = ADJUDICATOR) -> bool:
    """Give ``name`` the role; False when they had it already."""
    name, role = validation.annotator(name, "name"), _role(role)
    with store.write() as conn:
        if _has_role(conn, name, role):
            return False
        conn.execute(RO.insert().values(annotator_id=annotators.annotator_id(conn, name), role=role,
                                        granted_at=utcnow()))
    return True


def revoke_role(store: Store, name: str, role: str = ADJUDICATOR) -> bool:
    """Take the role from ``name`` (their adjudications stay); False when they did not have it."""
    name, role = validation.annotator(name, "name"), _role(role)
    with store.write() as conn:
        aid = annotators.find_annotator(conn, name)
        if aid is None:
            return False
        return conn.execute(RO.delete().where(RO.c.annotator_id == aid, RO.c.role == role)).rowcount > 0


def has_role(store: Store, name: str | None, role: str = ADJUDICATOR) -> bool:
    if not name or not name.strip():
        return False
    with store.read() as conn:
        return _has_role(conn, name.strip(), _role(role))


def role_holders(store: Store, role: str = ADJUDICATOR) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(
            select(A.c.name).join(RO, RO.c.annotator_id == A.c.id).where(RO.c.role == _role(role))
            .order_by(A.c.name)).scalars())


# -- items -----------------------------------------------------------------------------------


def _query_ids(conn: Connection, source: str | None, qids: Iterable[str] | None) -> list[int] | None:
    """Store query ids chosen by benchmark ``source`` and/or TREC query ids (None: all)."""
    if source is None and qids is None:
        return None
    stmt = select(Q.c.id, Q.c.source_query_id)
    if source is not None:
        stmt = stmt.where(Q.c.source == source)
    rows = conn.execute(stmt).all()
    if qids is not None:
        wanted = {str(q) for q in qids}
        rows = [r for r in rows if trec_qid(r.id, r.source_query_id) in wanted]
    return sorted(r.id for r in rows)


def items(store: Store, *, source: str | None = None, qids: Iterable[str] | None = None) -> list[Item]:
    """Every labelled item of the chosen queries (all by default), in (query, doc_id) order."""
    with store.read() as conn:
        query_ids = _query_ids(conn, source, qids)
        return items_in(conn, query_ids)


def items_in(conn: Connection, query_ids: list[int] | None, run_id: int | None = None) -> list[Item]:
    """The items of these queries (None: all); ``run_id``: the model's judgment is that run's."""
    found: dict[tuple[int, str], Item] = {}
    newest_label: dict[tuple[int, str], int] = {}
    for ids in _chunked(query_ids):
        current = select(func.max(L.c.id)).where(L.c.action != validation.ADJUDICATE)
        if ids is not None:
            current = current.where(L.c.query_id.in_(ids))
        current = current.group_by(L.c.query_id, L.c.doc_id, L.c.annotator_id)
        rows = conn.execute(
            select(L.c.id, L.c.query_id, L.c.doc_id, L.c.document_id, L.c.score, L.c.retracted,
                   A.c.name, Q.c.source_query_id)
            .join(A, A.c.id == L.c.annotator_id).join(Q, Q.c.id == L.c.query_id)
            .join(candidates.QD, candidates.ON_ITS_TEXT)
            .where(L.c.id.in_(current)).order_by(L.c.id)
        ).all()
        for r in rows:
            if r.retracted or r.score is None:
                continue
            key = (r.query_id, r.doc_id)
            item = found.setdefault(key, Item(r.query_id, r.doc_id, trec_qid(r.query_id, r.source_query_id),
                                              r.document_id))
            item.scores[r.name] = int(r.score)
            item.label_ids[r.name] = r.id
            if r.id > newest_label.get(key, -1):
                newest_label[key] = r.id
                item.document_id = r.document_id
        _attach_adjudications(conn, ids, found)
    _attach_model_scores(conn, found, run_id)
    return [found[k] for k in sorted(found)]


def _chunked(query_ids: list[int] | None):
    """None (every query) or the ids in chunks of 500 (bound-parameter limits)."""
    if query_ids is None:
        yield None
        return
    for i in range(0, len(query_ids), 500):
        yield query_ids[i:i + 500]


def _attach_adjudications(conn: Connection, ids: list[int] | None, found: dict[tuple[int, str], Item]) -> None:
    latest = select(func.max(L.c.id)).where(L.c.action == validation.ADJUDICATE)
    if ids is not None:
        latest = latest.where(L.c.query_id.in_(ids))
    latest = latest.group_by(L.c.query_id, L.c.doc_id)
    for r in conn.execute(
        select(L.c.id, L.c.query_id, L.c.doc_id, L.c.score, L.c.note, L.c.rationale, L.c.created_at, A.c.name)
        .join(A, A.c.id == L.c.annotator_id).join(candidates.QD, candidates.ON_ITS_TEXT).where(L.c.id.in_(latest))
    ):
        item = found.get((r.query_id, r.doc_id))
        if item is not None:
            item.adjudication = Adjudication(r.id, r.name, int(r.score), r.note or "", r.rationale, r.created_at)


def _attach_model_scores(conn: Connection, found: dict[tuple[int, str], Item], run_id: int | None = None) -> None:
    """The model's score from the latest judgment of each item's document for its query (the
    rule the SFT export uses for the prompt), or from run ``run_id``'s judgment."""
    by_query: dict[int, list[Item]] = {}
    for item in found.values():
        by_query.setdefault(item.query_id, []).append(item)
    query_ids = sorted(by_query)
    for i in range(0, len(query_ids), 500):
        chunk = query_ids[i:i + 500]
        latest = select(func.max(J.c.id)).join(R, R.c.id == J.c.run_id).where(R.c.query_id.in_(chunk))
        if run_id is not None:
            latest = latest.where(J.c.run_id == run_id)
        latest = latest.group_by(R.c.query_id, J.c.document_id)
        judged = {(r.query_id, r.document_id): r for r in conn.execute(
            select(J.c.id, J.c.document_id, J.c.score, R.c.query_id).join(R, R.c.id == J.c.run_id)
            .where(J.c.id.in_(latest)))}
        for query_id in chunk:
            for item in by_query[query_id]:
                j = judged.get((query_id, item.document_id))
                if j is not None:
                    item.judgment_id = j.id
                    item.model_score = j.score


# -- adjudication ----------------------------------------------------------------------------


def disputed_items(store: Store, min_gap: int, *, source: str | None = None, qids: Iterable[str] | None = None,
                   include_adjudicated: bool = False) -> list[Item]:
    """Items two or more annotators labelled whose scores differ by at least ``min_gap`` points,
    the largest gap first; adjudicated ones only with ``include_adjudicated``."""
    if isinstance(min_gap, bool) or not isinstance(min_gap, int) or not 1 <= min_gap <= 10:
        raise ValidationError("min_gap", f"the gap K must be an integer from 1 to 10, got {min_gap!r}")
    chosen = [it for it in items(store, source=source, qids=qids)
              if len(it.scores) > 1 and it.gap >= min_gap and (include_adjudicated or it.adjudication is None)]
    return sorted(chosen, key=lambda it: (-it.gap, it.query_id, it.doc_id))


def adjudicate(store: Store, query_id: int, doc_id: str, adjudicator: str, score: int, reason: str,
               rationale: str | None = None) -> LabelRow:
    """Set the final label of an item, committed before returning. Refused (``NotAllowed``)
    unless ``adjudicator`` holds the adjudicator role; ``reason`` (why) is required; the item
    needs labels from two or more annotators (one person's label is corrected by that person)."""
    adjudicator = validation.annotator(adjudicator, "adjudicator")
    score = validation.label_score(score, "the final score")
    if score is None:
        raise ValidationError("score", "an adjudication needs a final score from 0 to 10")
    reason = validation.free_text(reason, "reason")
    if not reason or not reason.strip():
        raise ValidationError("reason", "say why (the reason is kept with the final label)")
    rationale = validation.free_text(rationale, "rationale")
    with store.write() as conn:
        if not _has_role(conn, adjudicator, ADJUDICATOR):
            raise NotAllowed(f"{adjudicator} is not an adjudicator; the store's operator grants the role "
                             f"(python -m erank_studio roles grant NAME)")
        labelled = next((it for it in items_in(conn, [int(query_id)]) if it.doc_id == doc_id), None)
        if labelled is None or len(labelled.scores) < 2:
            raise ValidationError("doc_id", f"document {doc_id!r} of query {query_id} has labels from fewer "
                                            "than two annotators: nothing to adjudicate")
        return insert_label(conn, int(query_id), doc_id, adjudicator, score, rationale or None,
                                   reason.strip(), action=validation.ADJUDICATE,
                                   document_id=labelled.document_id)


def ratings(chosen: list[Item]) -> tuple[dict[str, dict[tuple[int, str], int]], dict[tuple[int, str], int]]:
    """The items as ``agreement.report`` reads them: annotator -> {(query_id, doc_id): score}, and
    the model's scores where a judgment has one."""
    by_annotator: dict[str, dict[tuple[int, str], int]] = {}
    model: dict[tuple[int, str], int] = {}
    for item in chosen:
        key = (item.query_id, item.doc_id)
        for name, score in item.scores.items():
            by_annotator.setdefault(name, {})[key] = score
        if item.model_score is not None:
            model[key] = item.model_score
    return by_annotator, model
