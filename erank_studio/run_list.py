"""The runs a person can find: each with its query and benchmark id, the model by its display name,
the template, the status, how many documents were judged and labelled, and when it started
(``python -m erank_studio runs``; the ids ``compare`` and ``queue --run`` take)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .models import display_name


def benchmark_query_id(source: str | None, source_query_id: str | None) -> str | None:
    """A benchmark query's id as people know it: the task and the query's id in it
    ("bright/biology" and "59" -> "biology-59"); None for a typed query."""
    if not source_query_id:
        return None
    task = (source or "").rstrip("/").rsplit("/", 1)[-1]
    return f"{task}-{source_query_id}" if task else str(source_query_id)


def query_label(store, query_id: int) -> str:
    """The benchmark id of the store's query ``query_id``, else "#<id>" (a typed query)."""
    query = next((q for q in store.queries() if q["id"] == query_id), None)
    label = benchmark_query_id(query["source"], query["source_query_id"]) if query else None
    return label or f"#{query_id}"


@dataclass
class RunSummary:
    id: int
    query: str
    benchmark_query_id: str | None
    model: str  # the display name
    template: str
    status: str
    judged: int
    labelled: int  # judged documents with a current label by anyone
    started: str  # ISO 8601, UTC

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_runs(store, limit: int | None = None) -> list[RunSummary]:
    """The newest runs first (at most ``limit``)."""
    queries = {q["id"]: q for q in store.queries()}
    summaries = []
    for run in store.runs(limit=limit):
        query = queries.get(run.query_id, {})
        labels = store.current_labels(run.query_id)
        judged_ids = {j.doc_id for j in store.run_judgments(run.id)}
        summaries.append(RunSummary(
            id=run.id, query=run.query_text,
            benchmark_query_id=benchmark_query_id(query.get("source"), query.get("source_query_id")),
            model=display_name(run.model), template=run.template, status=str(run.status),
            judged=run.n_judgments, labelled=len(judged_ids & set(labels)),
            started=run.created_at.isoformat(timespec="seconds") if run.created_at else "",
        ))
    return summaries


def format_table(runs: list[RunSummary], query_width: int = 40) -> str:
    """A plain table for a terminal (the query shortened to ``query_width`` characters)."""
    columns = ["run", "query", "benchmark", "model", "template", "status", "judged", "labelled", "started"]
    rows = []
    for r in runs:
        query = " ".join(r.query.split())
        query = query if len(query) <= query_width else query[: query_width - 1] + "…"
        rows.append([str(r.id), query, r.benchmark_query_id or "-", r.model, r.template, r.status,
                     str(r.judged), str(r.labelled), r.started])
    widths = [max(len(c), *(len(row[n]) for row in rows)) if rows else len(c) for n, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
