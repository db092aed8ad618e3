"""Exports: SFT data, TREC qrels and runs, CSV / Parquet tables, and a lossless bundle.

Formats (``FORMATS``):

- ``sft-messages`` JSONL, one line per current human label with a score:
  ``{"messages": [{"role": "user", "content": P}, {"role": "assistant", "content":
  "<think>{rationale}</think><answer>{N}</answer>"}]}``. P is the judgment's stored
  ``prompt_message`` (exactly what the engine sent, truncation included) from the latest
  judgment of that query and document (in the filtered run when ``run_id`` is given); for a
  label no run has judged, P is ``prompt.user_message(query, document, instruction, template)``
  with the query's latest run's instruction and template, or the defaults. rationale = the person's
  edited rationale, else the model's trace (for a blind campaign label only if its person kept
  the trace after the reveal), else empty; N = the person's score. With no
  annotator filter every annotator's current label is one example.
- ``alpaca`` JSON list of ``{"instruction": P, "input": "", "output": target}`` and
  ``sharegpt`` JSON list of ``{"conversations": [{"from": "human", "value": P},
  {"from": "gpt", "value": target}]}`` (LLaMA-Factory's single-turn forms).
- ``qrels`` TREC qrels from human labels (with no annotator filter: the most recent current
  label of anyone). The 0..10 score maps to graded relevance by ``GRADE_RULE``:
  **0-2 -> 0 (not relevant), 3-5 -> 1 (related), 6-8 -> 2 (relevant), 9-10 -> 3 (perfect)**.
- ``run-rank`` / ``run-hybrid`` TREC runs ranked by rank_score / hybrid score, tag = model
  (whitespace replaced by "_"); the filtered run, or else the latest run of every query.
  Failed judgments (no score) are left out.
- ``csv`` / ``parquet``: judgments joined with current labels (one row per judgment and
  label; labels no run has judged come with empty judgment columns unless ``run_id`` is set).
- ``bundle`` JSONL of every query, document, candidate list, run, judgment, label row (full
  history) and qrel, read back by ``imports.import_bundle`` without loss.

TREC query ids are the benchmark's own id when the query has one, else the store's query id.
Filters: ``annotator``; ``run_id``; ``only_labelled`` (tables and runs); ``min_disagreement``
k keeps pairs where |human - model| >= k (pairs with no model score are dropped); ``resolve``
(SFT formats, qrels, and the runs' label filters): one label per (query, document) from all
annotators' current labels by a rule of ``resolve.py`` (adjudicated, mean, majority,
annotator:NAME) instead of one example per annotator. Adjudication rows are never an
annotator's label here.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, text, union

from .. import prompt, scoring
from ..grading import RULE as GRADE_RULE
from ..grading import grade
from . import trec
from .annotators import find_annotator
from .campaigns import sft_may_use_trace
from .candidates import ON_ITS_TEXT, ON_ITS_TEXT_SQL
from .resolve import Rule
from .resolve import resolve as resolve_label
from ..safe_output import OutputRefused, check_output_file, write_file
from . import schema
from .store import Store, store_files

from .teams import items_in
from .validation import ADJUDICATE, has_reserved_tag
from .schema import ANNOTATORS as A, DOCUMENTS as D, JUDGMENTS as J, LABELS as L, QUERIES as Q, CANDIDATES as QD, QRELS as QR, RUNS as R

FORMATS = ("sft-messages", "alpaca", "sharegpt", "qrels", "run-rank", "run-hybrid", "csv", "parquet", "bundle")
SUFFIXES = {
    "sft-messages": ".jsonl", "alpaca": ".json", "sharegpt": ".json", "qrels": ".qrels",
    "run-rank": ".run", "run-hybrid": ".run", "csv": ".csv", "parquet": ".parquet", "bundle": ".jsonl",
}
BUNDLE_FORMAT = "erank-studio-bundle"
BUNDLE_VERSION = 1


@dataclass
class ExportFilter:
    annotator: str | None = None
    run_id: int | None = None
    only_labelled: bool = False
    min_disagreement: int | None = None
    # One label per item from several annotators (resolve.py): SFT, qrels and runs' filters.
    resolve: Rule | None = None
    # SFT formats: leave out examples whose target has no reasoning (<think></think>).
    skip_empty_rationale: bool = False

    def __post_init__(self) -> None:
        # "Only my labels" with no name would silently export everyone's labels.
        if self.annotator is not None and not self.annotator.strip():
            raise ValueError("only one person's labels were asked for, but no annotator is named: "
                             "give the annotator's name")


@dataclass
class ExportSummary:
    """What an export wrote: ``rows`` (rows, examples or records), and for the SFT formats how many
    examples had an empty rationale (``<think></think>``: neither the person nor the model gave
    reasoning) and how many of those ``skip_empty_rationale`` left out."""

    rows: int = 0
    empty_rationale: int = 0
    skipped_empty_rationale: int = 0


def assistant_content(rationale: str, score: int) -> str:
    return f"<think>{rationale}</think><answer>{score}</answer>"


# -- labelled pairs (SFT, qrels) -------------------------------------------------------------

_PAIRS_SQL = """
WITH cur AS (
  SELECT max(l.id) AS id FROM labels l WHERE l.action <> :adjudicate {ann_where}
  GROUP BY l.query_id, l.doc_id, l.annotator_id
),
lj AS (
  SELECT max(j.id) AS jid, r.query_id AS query_id, j.document_id AS document_id
  FROM judgments j JOIN runs r ON r.id = j.run_id {run_where}
  GROUP BY r.query_id, j.document_id
)
SELECT l.id AS label_id, l.query_id, l.doc_id, l.document_id, a.name AS annotator, l.score,
       q.source_query_id, lj.jid AS judgment_id {model_score}
FROM cur JOIN labels l ON l.id = cur.id
{on_its_text}
JOIN annotators a ON a.id = l.annotator_id
JOIN queries q ON q.id = l.query_id
{lj_join} JOIN lj ON lj.query_id = l.query_id AND lj.document_id = l.document_id
{model_join}
WHERE l.retracted = :false AND l.score IS NOT NULL
ORDER BY l.query_id, l.doc_id, a.name
"""
_CHUNK = 2000


def _latest_instructions(conn: Connection) -> dict[int, tuple[str, str]]:
    """query id -> (instruction, template) of its latest run."""
    latest = select(R.c.query_id, R.c.instruction, R.c.template).where(
        R.c.id.in_(select(func.max(R.c.id)).group_by(R.c.query_id))
    )
    return {q: (instruction, template) for q, instruction, template in conn.execute(latest).all()}


def labelled_pairs(conn: Connection, flt: ExportFilter) -> list[Any]:
    """Current scored labels (label_id, query_id, doc_id, document_id, annotator, score,
    source_query_id, judgment_id) with the id of their latest judgment, in export order.

    Only small columns here: sorting rows that carry prompts and documents is what makes an
    export slow; the texts are fetched by id afterwards (``_texts``)."""
    if flt.resolve is not None:
        return _resolved_pairs(conn, flt)
    params: dict[str, Any] = {"false": False, "adjudicate": ADJUDICATE}
    ann_where = run_where = ""
    if flt.annotator is not None:
        ann_where = "AND l.annotator_id = :ann"
        params["ann"] = find_annotator(conn, flt.annotator)
    if flt.run_id is not None:
        run_where = "WHERE r.id = :run"
        params["run"] = flt.run_id
    need_judgment = flt.run_id is not None or flt.min_disagreement is not None
    disagree = flt.min_disagreement is not None
    sql = _PAIRS_SQL.format(
        on_its_text=ON_ITS_TEXT_SQL, ann_where=ann_where, run_where=run_where, lj_join="" if need_judgment else "LEFT",
        model_score=", jm.score AS model_score" if disagree else "",
        model_join="JOIN judgments jm ON jm.id = lj.jid" if disagree else "",
    )
    rows = conn.execute(text(sql), params).all()
    if disagree:
        rows = [r for r in rows if r.model_score is not None
                and abs(r.score - r.model_score) >= flt.min_disagreement]
    return rows


@dataclass
class ResolvedPair:
    """One item's label under a resolve rule, shaped like a ``labelled_pairs`` row. ``label_id``
    is the row whose rationale the SFT target uses (the adjudication's or the annotator's; None
    for a mean or majority, whose target takes the model's trace); ``annotator`` says where the
    score came from."""

    label_id: int | None
    query_id: int
    doc_id: str
    document_id: int
    annotator: str
    score: int
    source_query_id: str
    judgment_id: int | None
    model_score: int | None


def _resolved_pairs(conn: Connection, flt: ExportFilter) -> list[ResolvedPair]:
    rule = flt.resolve
    out = []
    run_query = None
    if flt.run_id is not None:
        run_query = conn.execute(select(R.c.query_id).where(R.c.id == flt.run_id)).scalar()
        if run_query is None:
            return []
    for item in items_in(conn, None if run_query is None else [run_query], run_id=flt.run_id):
        adjudicated = item.adjudication.score if item.adjudication is not None else None
        got = resolve_label(rule, item.scores, adjudicated)
        if got is None:
            continue
        score, origin = got
        if flt.run_id is not None or flt.min_disagreement is not None:
            if item.judgment_id is None:
                continue
        if flt.min_disagreement is not None and (
                item.model_score is None or abs(score - item.model_score) < flt.min_disagreement):
            continue
        label_id = (item.adjudication.label_id if origin == "adjudicated"
                    else item.label_ids.get(origin))
        out.append(ResolvedPair(label_id, item.query_id, item.doc_id, item.document_id, origin, score,
                                item.qid, item.judgment_id, item.model_score))
    return out


def _in(conn: Connection, sql: str, ids: list[int]) -> list[Any]:
    """``sql`` with ``IN ({ids})`` filled with placeholders, run on the driver directly: this
    runs once per chunk of an export, where SQLAlchemy's compile step would dominate."""
    if not ids:
        return []
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"  # sqlite3's style, else psycopg's
    return conn.exec_driver_sql(sql.format(ids=",".join([mark] * len(ids))), tuple(ids)).fetchall()


def sft_examples(store: Store, flt: ExportFilter | None = None,
                 summary: ExportSummary | None = None) -> Iterator[tuple[str, str]]:
    """(user message, assistant target) for every exported label."""
    for _, user, target in sft_records(store, flt, summary):
        yield user, target


def sft_records(store: Store, flt: ExportFilter | None = None,
                summary: ExportSummary | None = None) -> Iterator[tuple[Any, str, str]]:
    """(labelled pair, user message, assistant target) for every exported label; ``summary``
    counts the empty rationales (and those left out by ``skip_empty_rationale``)."""
    flt = flt or ExportFilter()
    summary = summary if summary is not None else ExportSummary()
    with store.read() as conn:
        instructions = _latest_instructions(conn)
        pairs = labelled_pairs(conn, flt)
        for i in range(0, len(pairs), _CHUNK):
            chunk = pairs[i:i + _CHUNK]
            # id -> (rationale, whether the model's trace may stand in for a missing one: not for
            # a blind campaign label whose person did not keep it after the reveal)
            rationales = {r[0]: (r[1], sft_may_use_trace(r[2], r[3])) for r in _in(
                conn, "SELECT id, rationale, blind, trace_kept FROM labels WHERE id IN ({ids})",
                [p.label_id for p in chunk if p.label_id is not None])}
            judged = {r[0]: r for r in _in(
                conn, "SELECT j.id, j.prompt_message, j.trace, r.instruction, r.template FROM judgments j "
                "JOIN runs r ON r.id = j.run_id WHERE j.id IN ({ids})",
                [p.judgment_id for p in chunk if p.judgment_id is not None])}
            unprompted = [p for p in chunk if p.judgment_id is None or judged[p.judgment_id][1] is None]
            queries: dict[int, str] = {}
            docs: dict[int, str] = {}
            if unprompted:
                queries = dict(_in(conn, "SELECT id, text FROM queries WHERE id IN ({ids})",
                                   sorted({p.query_id for p in unprompted})))
                docs = dict(_in(conn, "SELECT id, text FROM documents WHERE id IN ({ids})",
                                sorted({p.document_id for p in unprompted})))
            for p in chunk:
                j = judged.get(p.judgment_id)
                user = j[1] if j is not None else None
                if user is None:
                    # No stored prompt: built in the wording of the judgment's run, else of the
                    # query's latest run, so one query's examples never mix templates.
                    latest = instructions.get(p.query_id, (None, None))
                    instruction = (j[3] if j is not None else None) or latest[0] or prompt.DEFAULT_INSTRUCTION
                    template = (j[4] if j is not None else None) or latest[1] or prompt.DEFAULT_TEMPLATE
                    user = prompt.user_message(queries[p.query_id], docs[p.document_id], instruction, template)
                rationale, trace_allowed = rationales.get(p.label_id, (None, True))
                if rationale is None:
                    rationale = (j[2] if j is not None and trace_allowed else None) or ""
                    if has_reserved_tag(rationale):
                        # A model trace that quotes a tag would put a second answer into the
                        # target; people's rationales are refused with such tags when typed.
                        rationale = ""
                if not rationale.strip():
                    summary.empty_rationale += 1
                    if flt.skip_empty_rationale:
                        summary.skipped_empty_rationale += 1
                        continue
                yield p, user, assistant_content(rationale, p.score)


def _trec_qid(query_id: int, source_query_id: str | None) -> str:
    return source_query_id if source_query_id else str(query_id)


def _write_sft(store: Store, path: Path, flt: ExportFilter, summary: ExportSummary) -> int:
    # The line is assembled around json-encoded strings: the same JSON as json.dumps of the
    # dict, several times faster on 100,000 long prompts.
    n = 0
    enc = json.encoder.encode_basestring  # the C encoder, ensure_ascii=False semantics
    head, middle, tail = '{"messages": [{"role": "user", "content": ', \
        '}, {"role": "assistant", "content": ', "}]}\n"
    with open(path, "w", encoding="utf-8") as out:
        lines = []
        for user, target in sft_examples(store, flt, summary):
            lines.append(head + enc(user) + middle + enc(target) + tail)
            if len(lines) == 1000:
                out.write("".join(lines))
                n += len(lines)
                lines = []
        out.write("".join(lines))
        n += len(lines)
    return n


def _write_alpaca(store: Store, path: Path, flt: ExportFilter, summary: ExportSummary) -> int:
    items = [{"instruction": u, "input": "", "output": t} for u, t in sft_examples(store, flt, summary)]
    path.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(items)


def _write_sharegpt(store: Store, path: Path, flt: ExportFilter, summary: ExportSummary) -> int:
    items = [
        {"conversations": [{"from": "human", "value": u}, {"from": "gpt", "value": t}]}
        for u, t in sft_examples(store, flt, summary)
    ]
    path.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(items)


def qrels_rows(store: Store, flt: ExportFilter | None = None) -> list[tuple[str, str, int]]:
    flt = flt or ExportFilter()
    best: dict[tuple[int, str], Any] = {}
    with store.read() as conn:
        for row in labelled_pairs(conn, flt):
            key = (row.query_id, row.doc_id)
            if key not in best or row.label_id > best[key].label_id:
                best[key] = row
    return [
        (_trec_qid(r.query_id, r.source_query_id), r.doc_id, grade(r.score))
        for _, r in sorted(best.items())
    ]


def _write_qrels(store: Store, path: Path, flt: ExportFilter, _summary: ExportSummary) -> int:
    return trec.write_qrels(path, qrels_rows(store, flt))


def run_rows(store: Store, flt: ExportFilter | None = None, by: str = "rank") -> list[tuple[str, str, int, float, str]]:
    """TREC run rows ranked by ``rank`` (rank_score) or ``hybrid``.

    One system per query: the model of the query's latest run. A batch that was resumed or
    extended judged a query's candidates over several runs of that model, so the latest judgment
    of each document across those runs counts, and the hybrid is computed again over that merged
    list (with the latest run's alpha): z-scores from different lists do not mix. With ``run_id``
    only that run is exported."""
    flt = flt or ExportFilter()
    with store.read() as conn:
        stmt = (
            select(R.c.query_id, Q.c.source_query_id, R.c.model, R.c.alpha, J.c.run_id, J.c.doc_id,
                   J.c.idx, J.c.score, J.c.rank_score, J.c.first_stage_score)
            .join(R, R.c.id == J.c.run_id).join(Q, Q.c.id == R.c.query_id)
            .where(J.c.rank_score.is_not(None))
            .order_by(J.c.run_id, J.c.id)
        )
        if flt.run_id is not None:
            stmt = stmt.where(J.c.run_id == flt.run_id)
        else:
            latest = select(R.c.query_id, func.max(R.c.id).label("run_id")).group_by(R.c.query_id).subquery()
            latest_model = (
                select(R.c.query_id, R.c.model).join(latest, latest.c.run_id == R.c.id).subquery()
            )
            stmt = stmt.join(
                latest_model, (latest_model.c.query_id == R.c.query_id) & (latest_model.c.model == R.c.model)
            )
        rows = conn.execute(stmt).all()
        keep = None
        if flt.only_labelled or flt.min_disagreement is not None or flt.annotator is not None:
            keep = {(r.query_id, r.doc_id): r for r in labelled_pairs(
                conn, ExportFilter(annotator=flt.annotator, resolve=flt.resolve))}
    lists: dict[int, dict[str, Any]] = {}
    for r in rows:  # ordered by run, so a later judgment of a document replaces an earlier one
        lists.setdefault(r.query_id, {})[r.doc_id] = r
    out: list[tuple[str, str, int, float, str]] = []
    for query_id, by_doc in sorted(lists.items()):
        items = list(by_doc.values())
        if by == "rank":
            values = [r.rank_score for r in items]
        else:
            alpha = max(items, key=lambda r: r.run_id).alpha
            values = scoring.hybrid([r.first_stage_score for r in items], [r.rank_score for r in items], alpha)
        ranked = []
        for r, value in zip(items, values):
            if value is None:
                continue
            if keep is not None and (flt.only_labelled or flt.min_disagreement is not None):
                lab = keep.get((query_id, r.doc_id))
                if lab is None:
                    continue
                if flt.min_disagreement is not None and (
                    r.score is None or abs(lab.score - r.score) < flt.min_disagreement
                ):
                    continue
            ranked.append((float(value), r))
        ranked.sort(key=lambda pair: (-pair[0], pair[1].idx, pair[1].doc_id))
        for rank, (value, r) in enumerate(ranked, start=1):
            out.append((_trec_qid(query_id, r.source_query_id), r.doc_id, rank, value,
                        "_".join(r.model.split()) or "model"))
    return out


def _write_run(by: str):
    def write(store: Store, path: Path, flt: ExportFilter, _summary: ExportSummary) -> int:
        return trec.write_run(path, run_rows(store, flt, by))

    return write


# -- tables ------------------------------------------------------------------------------------

# P(0)..P(10) of each judgment's score distribution, one column each (blank where none was read).
DISTRIBUTION_COLUMNS = [f"p_{n}" for n in range(11)]
JUDGMENT_COLUMNS = [
    "run_id", "query_id", "query", "source", "source_query_id", "model", "engine", "instruction",
    "truncate_length", "alpha", "doc_id", "document_id", "index", "status", "failure",
    "failure_detail", "model_score", "probability", "rank_score", "first_stage_score",
    "first_stage_source", "hybrid_score", "expected_score", "score_entropy",
    *DISTRIBUTION_COLUMNS, "prompt_tokens", "output_tokens", "latency_s",
    "truncated", "trace", "raw_output", "judged_at",
]
LABEL_COLUMNS = ["label_id", "annotator", "human_score", "human_rationale", "note", "labelled_at"]


def table(store: Store, flt: ExportFilter | None = None):
    """A pandas DataFrame of judgments joined with current labels."""
    import pandas as pd

    flt = flt or ExportFilter()
    with store.read() as conn:
        stmt = (
            select(
                J.c.run_id, R.c.query_id, Q.c.text.label("query"), Q.c.source, Q.c.source_query_id,
                R.c.model, R.c.engine, R.c.instruction, R.c.truncate_length, R.c.alpha, J.c.doc_id,
                J.c.document_id, J.c.idx.label("index"), J.c.status, J.c.failure, J.c.failure_detail,
                J.c.score.label("model_score"), J.c.probability, J.c.rank_score, J.c.first_stage_score,
                J.c.first_stage_source, J.c.hybrid_score, J.c.expected_score, J.c.score_entropy,
                J.c.score_distribution, J.c.prompt_tokens, J.c.output_tokens,
                J.c.latency_s, J.c.query_tokens, J.c.query_tokens_kept, J.c.document_tokens,
                J.c.document_tokens_kept, J.c.trace, J.c.raw_output, J.c.created_at.label("judged_at"),
            )
            .join(R, R.c.id == J.c.run_id).join(Q, Q.c.id == R.c.query_id).order_by(J.c.id)
        )
        if flt.run_id is not None:
            stmt = stmt.where(J.c.run_id == flt.run_id)
        judgments = pd.DataFrame(conn.execute(stmt).mappings().all())
        latest = select(func.max(L.c.id)).where(L.c.action != ADJUDICATE).group_by(
            L.c.query_id, L.c.doc_id, L.c.annotator_id)
        lstmt = (
            select(L.c.id.label("label_id"), L.c.query_id, L.c.doc_id, L.c.document_id,
                   A.c.name.label("annotator"), L.c.score.label("human_score"),
                   L.c.rationale.label("human_rationale"), L.c.note, L.c.created_at.label("labelled_at"),
                   Q.c.text.label("query"), Q.c.source, Q.c.source_query_id)
            .join(A, A.c.id == L.c.annotator_id).join(Q, Q.c.id == L.c.query_id).join(QD, ON_ITS_TEXT)
            .where(L.c.id.in_(latest), L.c.retracted.is_(False)).order_by(L.c.id)
        )
        if flt.annotator is not None:
            lstmt = lstmt.where(L.c.annotator_id == find_annotator(conn, flt.annotator))
        labels = pd.DataFrame(conn.execute(lstmt).mappings().all())
    if judgments.empty:
        judgments = pd.DataFrame(columns=[c for c in JUDGMENT_COLUMNS if c != "truncated"] + [
            "query_tokens", "query_tokens_kept", "document_tokens", "document_tokens_kept",
            "score_distribution"])
    distributions = judgments.pop("score_distribution").tolist()
    for n, column in enumerate(DISTRIBUTION_COLUMNS):
        judgments[column] = pd.Series([d[n] if d else None for d in distributions], index=judgments.index,
                                      dtype="float64")
    if labels.empty:
        labels = pd.DataFrame(columns=LABEL_COLUMNS + ["query_id", "doc_id", "document_id", "query",
                                                       "source", "source_query_id"])
    judgments["truncated"] = (
        (judgments["query_tokens_kept"] < judgments["query_tokens"])
        | (judgments["document_tokens_kept"] < judgments["document_tokens"])
    )
    judgments = judgments.drop(columns=["query_tokens", "query_tokens_kept", "document_tokens",
                                        "document_tokens_kept"])
    filtering = flt.only_labelled or flt.min_disagreement is not None
    how = "inner" if filtering else ("left" if flt.run_id is not None else "outer")
    keys = ["query_id", "document_id", "doc_id"]
    merged = judgments.merge(labels.drop(columns=["query", "source", "source_query_id"]),
                             on=keys, how=how, sort=False)
    # Labels with no judgment still carry their query's text and ids.
    if how == "outer" and not labels.empty:
        info = labels.drop_duplicates("query_id").set_index("query_id")
        for col in ("query", "source", "source_query_id"):
            missing = merged[col].isna()
            if missing.any():
                merged.loc[missing, col] = merged.loc[missing, "query_id"].map(info[col])
    if flt.min_disagreement is not None:
        diff = (merged["human_score"] - merged["model_score"]).abs()
        merged = merged[diff >= flt.min_disagreement]
    return _typed(merged[JUDGMENT_COLUMNS + LABEL_COLUMNS].reset_index(drop=True))


# Integer columns stay integers when a merge brings in missing values (pandas would make them
# floats: 9.0): nullable Int64, written as 9 in CSV and int64 in Parquet.
INTEGER_COLUMNS = ["run_id", "query_id", "truncate_length", "document_id", "index", "model_score",
                   "prompt_tokens", "output_tokens", "label_id", "human_score"]


def _typed(frame):
    frame = frame.copy()
    for column in INTEGER_COLUMNS:
        frame[column] = frame[column].astype("Int64")
    frame["truncated"] = frame["truncated"].astype("boolean")
    return frame


def _write_csv(store: Store, path: Path, flt: ExportFilter, _summary: ExportSummary) -> int:
    frame = table(store, flt)
    frame.to_csv(path, index=False)
    return len(frame)


def _write_parquet(store: Store, path: Path, flt: ExportFilter, _summary: ExportSummary) -> int:
    frame = table(store, flt)
    frame.to_parquet(path, index=False)
    return len(frame)


# -- bundle ------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def bundle_records(store: Store, flt: ExportFilter | None = None) -> Iterator[dict[str, Any]]:
    """Every record of the bundle, in an order import can replay (filters: run_id, annotator)."""
    flt = flt or ExportFilter()
    yield {"kind": "bundle", "format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
           "grade_rule": GRADE_RULE}
    with store.read() as conn:
        query_ids = None
        if flt.run_id is not None:
            query_ids = list(conn.execute(select(R.c.query_id).where(R.c.id == flt.run_id)).scalars())

        def rows(stmt, kind: str, drop: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
            for r in conn.execute(stmt).mappings():
                rec = {"kind": kind}
                rec.update({k: _jsonable(v) for k, v in r.items() if k not in drop})
                yield rec

        qs = select(Q).order_by(Q.c.id)
        cands = select(QD).order_by(QD.c.id)
        runs = select(R).order_by(R.c.id)
        labels = select(L, A.c.name.label("annotator")).join(A, A.c.id == L.c.annotator_id).order_by(L.c.id)
        if query_ids is not None:
            qs = qs.where(Q.c.id.in_(query_ids))
            cands = cands.where(QD.c.query_id.in_(query_ids))
            runs = runs.where(R.c.id == flt.run_id)
            labels = labels.where(L.c.query_id.in_(query_ids))
        if flt.annotator is not None:
            labels = labels.where(L.c.annotator_id == find_annotator(conn, flt.annotator))
        judgments = select(J).where(J.c.run_id.in_(select(runs.subquery().c.id))).order_by(J.c.id)
        doc_ids = union(
            select(QD.c.document_id).where(QD.c.id.in_(select(cands.subquery().c.id))),
            select(J.c.document_id).where(J.c.id.in_(select(judgments.subquery().c.id))),
            select(L.c.document_id).where(L.c.id.in_(select(labels.subquery().c.id))),
        )
        docs = select(D).where(D.c.id.in_(doc_ids)).order_by(D.c.id) if query_ids is not None \
            else select(D).order_by(D.c.id)
        yield from rows(qs, "query")
        yield from rows(docs, "document", drop=("text_sha1",))
        yield from rows(cands, "candidate", drop=("id",))
        yield from rows(runs, "run")
        yield from rows(judgments, "judgment", drop=("id",))
        yield from rows(labels, "label", drop=("annotator_id",))
        if query_ids is None:
            yield from rows(select(QR).order_by(QR.c.id), "qrel", drop=("id",))


def _write_bundle(store: Store, path: Path, flt: ExportFilter, _summary: ExportSummary) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for rec in bundle_records(store, flt):
            out.write(json.dumps(rec, ensure_ascii=False))
            out.write("\n")
            n += 1
    return n - 1  # records, header excluded


_WRITERS = {
    "sft-messages": _write_sft,
    "alpaca": _write_alpaca,
    "sharegpt": _write_sharegpt,
    "qrels": _write_qrels,
    "run-rank": _write_run("rank"),
    "run-hybrid": _write_run("hybrid"),
    "csv": _write_csv,
    "parquet": _write_parquet,
    "bundle": _write_bundle,
}


# An export that would destroy something (the store, another database, a device, an existing
# file without ``overwrite``): the one refusal of ``safe_output``, under the exports' name.
ExportRefused = OutputRefused


def check_destination(store: Store, path: str | Path, overwrite: bool = False) -> Path:
    """``path`` if the export may be written there (``safe_output.check_output_file``: never the
    store's own files, any SQLite database or its side files, a device, FIFO, socket or folder;
    an existing file only with ``overwrite``), else ``ExportRefused``."""
    return check_output_file(path, overwrite=overwrite, protected=store_files(store.url))


def export(store: Store, fmt: str, path: str | Path, flt: ExportFilter | None = None,
           *, overwrite: bool = False) -> int:
    """Write the export to ``path``; returns the number of rows / examples / records written.
    The file appears whole or not at all (written beside it, then renamed), and only where
    ``check_destination`` allows."""
    return export_summary(store, fmt, path, flt, overwrite=overwrite).rows


def export_summary(store: Store, fmt: str, path: str | Path, flt: ExportFilter | None = None,
                   *, overwrite: bool = False) -> ExportSummary:
    """``export``, telling also what the rows hold (``ExportSummary``)."""
    if fmt not in _WRITERS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    flt = flt or ExportFilter()
    summary = ExportSummary()
    summary.rows = write_file(path, lambda tmp: _WRITERS[fmt](store, tmp, flt, summary),
                              overwrite=overwrite, protected=store_files(store.url))
    return summary


def export_to_tempfile(store: Store, fmt: str, flt: ExportFilter | None = None,
                       directory: str | None = None) -> tuple[str, int]:
    """Export to a new temporary file (for a UI download button): (path, rows)."""
    name, summary = export_summary_to_tempfile(store, fmt, flt, directory)
    return name, summary.rows


def export_summary_to_tempfile(store: Store, fmt: str, flt: ExportFilter | None = None,
                               directory: str | None = None) -> tuple[str, ExportSummary]:
    """``export_to_tempfile`` with the ``ExportSummary``: (path, summary)."""
    fd, name = tempfile.mkstemp(prefix=f"erank-{fmt}-", suffix=SUFFIXES.get(fmt, ""), dir=directory)
    os.close(fd)
    try:
        return name, export_summary(store, fmt, name, flt, overwrite=True)
    except BaseException:
        os.unlink(name)
        raise


def export_bytes(store: Store, fmt: str, flt: ExportFilter | None = None) -> bytes:
    """The export's bytes (small exports, tests)."""
    name, _ = export_to_tempfile(store, fmt, flt)
    try:
        return Path(name).read_bytes()
    finally:
        os.unlink(name)
