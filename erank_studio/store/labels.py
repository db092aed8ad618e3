"""Labels: what a person said about one document for one query. Append-only: a correction or an
undo is a new row, the latest row of each person is their current label, and a label is shown
only on the text it was made on (``candidates.ON_ITS_TEXT``)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from ..types import Document
from . import annotators, candidates, schema, validation
from .clock import utcnow
from .queries import query_row
from .schema import ANNOTATORS as A, LABELS as L, CANDIDATES as QD


@dataclass(frozen=True)
class LabelRow:
    id: int
    query_id: int
    doc_id: str
    annotator: str
    score: int | None
    rationale: str | None
    note: str | None
    created_at: datetime
    retracted: bool = False
    action: str = "set"  # "set", "undo", or "adjudicate" (an adjudicator's final label)


def _label_select():
    """Label rows with their annotator's name, only those made on the text their doc_id names
    under the query now."""
    return select(
        L.c.id, L.c.query_id, L.c.doc_id, A.c.name.label("annotator"), L.c.score, L.c.rationale,
        L.c.note, L.c.created_at, L.c.retracted, L.c.action,
    ).join(A, A.c.id == L.c.annotator_id).join(QD, candidates.ON_ITS_TEXT)


def _label_row(r: Any) -> LabelRow:
    return LabelRow(id=r.id, query_id=r.query_id, doc_id=r.doc_id, annotator=r.annotator, score=r.score,
                    rationale=r.rationale, note=r.note, created_at=r.created_at,
                    retracted=bool(r.retracted), action=r.action)


def insert_label(conn: Connection, query_id: int, doc_id: str, annotator: str, score: int | None,
                 rationale: str | None, note: str | None, *, retracted: bool = False, action: str = "set",
                 document: Document | None = None, created_at: datetime | None = None,
                 document_id: int | None = None) -> LabelRow:
    """Append one label row (no checks of its values: ``validation.label`` first). ``document``
    links a document that is not yet among the query's candidates."""
    if document_id is None:
        if document is not None:
            if document.doc_id != doc_id:
                raise ValueError(f"document id {document.doc_id!r} does not match {doc_id!r}")
            query_row(conn, query_id)
            document_id = candidates.link_documents(conn, query_id, [document])[doc_id]
        else:
            document_id = candidates.candidate_document(conn, query_id, doc_id)
            if document_id is None:
                raise ValueError(f"document {doc_id!r} is not a candidate of query {query_id}: "
                                 "add it first (store.add_documents or add_label(document=...))")
    annotator_id = annotators.annotator_id(conn, annotator)
    created = created_at or utcnow()
    new_id = conn.execute(L.insert().values(
        query_id=query_id, document_id=document_id, doc_id=doc_id, annotator_id=annotator_id, score=score,
        rationale=rationale, note=note, retracted=retracted, action=action, created_at=created,
    )).inserted_primary_key[0]
    return LabelRow(id=int(new_id), query_id=query_id, doc_id=doc_id, annotator=annotator, score=score,
                    rationale=rationale, note=note, created_at=created, retracted=retracted, action=action)


def _latest_own_row(conn: Connection, query_id: int, doc_id: str, annotator: str) -> Any:
    aid = annotators.find_annotator(conn, annotator)
    if aid is None:
        return None
    return conn.execute(
        _label_select().where(L.c.query_id == query_id, L.c.doc_id == doc_id, L.c.annotator_id == aid,
                              L.c.action != validation.ADJUDICATE)
        .order_by(L.c.id.desc()).limit(1)
    ).first()


def add_label(conn: Connection, query_id: int, doc_id: str, annotator: str, score: int | None,
              rationale: str | None, note: str | None, document: Document | None = None) -> LabelRow:
    """A person's label, already checked (``validation.label``). When it equals their current
    label (a double click, a retried request, a re-render), no row is written and the current
    one is returned: one action, one row, so undo reverts what the person last saw change.
    Call it inside the write transaction, so that two copies of one event cannot both add."""
    row = _latest_own_row(conn, query_id, doc_id, annotator)
    if row is not None and not row.retracted and (row.score, row.rationale, row.note) == (score, rationale, note):
        return _label_row(row)
    return insert_label(conn, query_id, doc_id, annotator, score, rationale, note, document=document)


def add_labels(conn: Connection, labels: Iterable[tuple[int, str, str, int | None, str | None, str | None]]) -> int:
    """Many labels ``(query_id, doc_id, annotator, score, rationale, note)`` (imports, benchmarks)."""
    items = list(labels)
    now = utcnow()
    people: dict[str, int] = {}
    docs: dict[tuple[int, str], int] = {}
    loaded: set[int] = set()
    rows = []
    for query_id, doc_id, annotator, score, rationale, note in items:
        score, rationale, note, annotator = validation.label(score, rationale, note, annotator)
        if annotator not in people:
            people[annotator] = annotators.annotator_id(conn, annotator)
        if query_id not in loaded:
            loaded.add(query_id)
            for r in conn.execute(select(QD.c.doc_id, QD.c.document_id).where(QD.c.query_id == query_id)):
                docs[(query_id, r.doc_id)] = r.document_id
        if (query_id, doc_id) not in docs:
            raise ValueError(f"document {doc_id!r} is not a candidate of query {query_id}")
        rows.append({"query_id": query_id, "document_id": docs[(query_id, doc_id)], "doc_id": doc_id,
                     "annotator_id": people[annotator], "score": score, "rationale": rationale,
                     "note": note, "retracted": False, "action": "set", "created_at": now})
    if rows:
        conn.execute(L.insert(), rows)
    return len(items)


def current_labels(conn: Connection, query_id: int, annotator: str | None = None) -> dict[str, LabelRow]:
    """doc_id -> the current label: the latest row of that annotator, or with no annotator the
    most recent current label of anyone. Retracted (undone) labels are absent, and so are
    adjudications (an adjudicator's final label is not their own label)."""
    latest = select(func.max(L.c.id)).where(L.c.query_id == query_id, L.c.action != validation.ADJUDICATE)
    if annotator is not None:
        aid = annotators.find_annotator(conn, annotator)
        if aid is None:
            return {}
        latest = latest.where(L.c.annotator_id == aid)
    latest = latest.group_by(L.c.doc_id, L.c.annotator_id)
    out: dict[str, LabelRow] = {}
    for r in conn.execute(_label_select().where(L.c.id.in_(latest)).order_by(L.c.id)):
        if not r.retracted:
            out[r.doc_id] = _label_row(r)  # ordered by id: the newest wins
    return out


def label_history(conn: Connection, query_id: int, doc_id: str, annotator: str | None = None) -> list[LabelRow]:
    """Every label row of the document, oldest first: sets, undos and adjudications."""
    stmt = _label_select().where(L.c.query_id == query_id, L.c.doc_id == doc_id)
    if annotator is not None:
        stmt = stmt.where(L.c.annotator_id == annotators.find_annotator(conn, annotator))
    return [_label_row(r) for r in conn.execute(stmt.order_by(L.c.id))]


def undo_label(conn: Connection, query_id: int, doc_id: str, annotator: str) -> LabelRow | None:
    """Undo this annotator's last action by appending a row: the state before it, or a
    retracted row when there was none. Repeated undos walk further back. Returns the new
    current label (None when the document is now unlabelled by this annotator)."""
    rows = conn.execute(
        _label_select().where(
            L.c.query_id == query_id, L.c.doc_id == doc_id,
            L.c.annotator_id == annotators.find_annotator(conn, annotator),
            L.c.action != validation.ADJUDICATE,  # undo walks back labels, not adjudications
        ).order_by(L.c.id)
    ).all()
    stack: list[Any] = []
    for r in rows:
        if r.action == "undo":
            if stack:
                stack.pop()
        else:
            stack.append(r)
    if not stack:
        return None  # nothing to undo
    stack.pop()
    document_id = conn.execute(select(L.c.document_id).where(L.c.id == rows[-1].id)).scalar()
    if stack:
        prev = stack[-1]
        return insert_label(conn, query_id, doc_id, annotator, prev.score, prev.rationale, prev.note,
                            action="undo", document_id=document_id)
    insert_label(conn, query_id, doc_id, annotator, None, None, None, retracted=True, action="undo",
                 document_id=document_id)
    return None


def count_labels(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(L)).scalar())
