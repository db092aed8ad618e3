"""Judgments: what the model said about one document in one run, stored as it was read
(model output is untrusted text: a NUL or a lone surrogate becomes U+FFFD, never a lost row)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from .. import text_rules
from ..types import Judgment, Truncation
from . import schema, validation
from .clock import utcnow
from .schema import JUDGMENTS as J, CANDIDATES as QD, RUNS as R


_SET_HYBRID = J.update().where(
    J.c.run_id == bindparam("r_id"), J.c.doc_id == bindparam("d_id")
).values(hybrid_score=bindparam("h"))


def model_text(text: str | None) -> str | None:
    """Model output as stored: a NUL character (which PostgreSQL text cannot hold) and a lone
    surrogate (which no store can encode; a server's JSON escape can make one) become U+FFFD on
    every store, so a judgment is never lost over them and both stores keep the same."""
    if not text:
        return text
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text_rules.LONE_SURROGATE.sub("\ufffd", text)


def judgment_values(judgment: Judgment, run_id: int, document_id: int,
                    now: datetime | None = None) -> dict[str, Any]:
    """The judgments row of ``judgment``."""
    qt, dt = judgment.query_truncation, judgment.document_truncation
    return {
        "run_id": run_id,
        "document_id": document_id,
        "doc_id": judgment.doc_id,
        "idx": judgment.index,
        "raw_output": model_text(judgment.raw_output),
        "trace": model_text(judgment.trace),
        "score": judgment.score,
        "probability": judgment.probability,
        "rank_score": judgment.rank_score,
        "first_stage_score": judgment.first_stage_score,
        "first_stage_source": judgment.first_stage_source,
        "hybrid_score": judgment.hybrid_score,
        "status": judgment.status,
        "failure": judgment.failure,
        "failure_detail": model_text(judgment.failure_detail),
        "prompt_tokens": judgment.prompt_tokens,
        "output_tokens": judgment.output_tokens,
        "latency_s": judgment.latency_s,
        "query_tokens": qt.original_tokens if qt else None,
        "query_tokens_kept": qt.kept_tokens if qt else None,
        "document_tokens": dt.original_tokens if dt else None,
        "document_tokens_kept": dt.kept_tokens if dt else None,
        "prompt_message": model_text(judgment.prompt_message),
        "score_distribution": judgment.score_distribution,
        "expected_score": judgment.expected_score,
        "score_entropy": judgment.score_entropy,
        "extra": judgment.extra or {},
        "created_at": now or utcnow(),
    }


def judgment_from_row(r: Any) -> Judgment:
    """The ``Judgment`` a judgments row holds."""
    m = r._mapping
    return Judgment(
        doc_id=m["doc_id"], index=m["idx"], raw_output=m["raw_output"], status=m["status"],
        trace=m["trace"], score=m["score"], probability=m["probability"],
        rank_score=m["rank_score"], failure=m["failure"], failure_detail=m["failure_detail"],
        first_stage_score=m["first_stage_score"], first_stage_source=m["first_stage_source"],
        hybrid_score=m["hybrid_score"], prompt_tokens=m["prompt_tokens"],
        output_tokens=m["output_tokens"], latency_s=m["latency_s"],
        query_truncation=None if m["query_tokens"] is None
        else Truncation(m["query_tokens"], m["query_tokens_kept"]),
        document_truncation=None if m["document_tokens"] is None
        else Truncation(m["document_tokens"], m["document_tokens_kept"]),
        prompt_message=m["prompt_message"],
        score_distribution=list(m["score_distribution"]) if m["score_distribution"] else None,
        expected_score=m["expected_score"], score_entropy=m["score_entropy"],
        extra=dict(m["extra"] or {}),
    )


def _run_documents(conn: Connection, run_id: int, doc_ids: set[str]) -> dict[str, int]:
    """doc_id -> document row, among the run's query's candidates."""
    query_id = conn.execute(select(R.c.query_id).where(R.c.id == run_id)).scalar()
    if query_id is None:
        raise ValueError(f"no run with id {run_id}")
    found: dict[str, int] = {}
    ids = sorted(doc_ids)
    for i in range(0, len(ids), 500):
        found.update(conn.execute(select(QD.c.doc_id, QD.c.document_id).where(
            QD.c.query_id == query_id, QD.c.doc_id.in_(ids[i:i + 500]))).all())
    return found


def add_judgments(conn: Connection, run_id: int, judgments: Iterable[Judgment]) -> int:
    """Insert judgments of one run, each bound to the text its doc_id names under the run's query."""
    judgments = list(judgments)
    docs = _run_documents(conn, run_id, {j.doc_id for j in judgments})
    now = utcnow()
    rows = []
    for j in judgments:
        if j.doc_id not in docs:
            raise ValueError(f"document {j.doc_id!r} is not among run {run_id}'s documents")
        rows.append(judgment_values(j, run_id, docs[j.doc_id], now))
    if rows:
        conn.execute(J.insert(), rows)
    return len(rows)


def set_hybrid_scores(conn: Connection, run_id: int, hybrid: dict[str, float | None]) -> None:
    """The given documents' hybrid scores: one executemany keyed by (run_id, doc_id), which the
    index ix_judgments_run_doc_id serves, so the cost is linear in the run and independent of the
    store's size."""
    params = [{"r_id": run_id, "d_id": doc_id, "h": validation.finite_number(value, "hybrid score")}
              for doc_id, value in hybrid.items()]
    if params:
        conn.execute(_SET_HYBRID, params)


def run_judgments(conn: Connection, run_id: int) -> list[Judgment]:
    return [judgment_from_row(r) for r in conn.execute(select(J).where(J.c.run_id == run_id).order_by(J.c.id))]
