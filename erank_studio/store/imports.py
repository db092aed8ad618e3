"""Imports: TREC qrels and runs, JSONL / CSV documents and queries, and the export bundle.

Every importer reads and checks the whole file first and writes in one transaction, so a
malformed file (FileFormatError naming file and line) leaves the database unchanged."""
from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from ..types import Document
from . import trec
from ..docfiles import jsonl_records
from ..errors import FileFormatError
from .exports import BUNDLE_FORMAT, BUNDLE_VERSION
from .store import D, J, L, Q, QD, R, Store, text_sha1

ID_KEYS = ("doc_id", "docid", "id", "_id")
TEXT_KEYS = ("content", "text", "contents", "body", "passage")  # "content": as rerank --docs reads
SCORE_KEYS = ("score", "first_stage_score")
QUERY_ID_KEYS = ("query_id", "qid", "id", "_id")
QUERY_TEXT_KEYS = ("text", "query", "title")
FORMATS = ("qrels", "run", "documents", "queries", "bundle")


def _pick(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in record and record[key] is not None:
            return record[key]
    return None


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line, record) from a JSONL file, or from a CSV / TSV file with a header row."""
    lines = trec.read_lines(path)  # UTF-8 and emptiness checked line by line
    suffix = path.suffix.lower()
    out: list[tuple[int, dict[str, Any]]] = []
    if suffix in (".csv", ".tsv"):
        reader = csv.reader(io.StringIO("\n".join(lines)), delimiter="\t" if suffix == ".tsv" else ",")
        try:
            header = next(reader)
        except StopIteration:
            raise FileFormatError(str(path), None, "file is empty") from None
        header = [h.strip() for h in header]
        try:
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    raise FileFormatError(
                        str(path), reader.line_num,
                        f"expected {len(header)} columns ({', '.join(header)}), got {len(row)}",
                    )
                out.append((reader.line_num, dict(zip(header, row))))
        except csv.Error as error:
            raise FileFormatError(str(path), reader.line_num, f"bad CSV: {error}") from None
        if not out:
            raise FileFormatError(str(path), None, "no rows after the header")
        return out
    return jsonl_records(lines, str(path))


def _float(value: Any, path: Path, line: int, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FileFormatError(str(path), line, f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise FileFormatError(str(path), line, f"{name} must be a finite number, got {value!r}")
    return number


def read_documents(path: str | Path) -> list[Document]:
    """Documents from JSONL (``{"doc_id"|"id"|"_id", "text"|"contents", "title"?, "score"?}``)
    or CSV / TSV with a header (columns ``doc_id`` or ``id``, ``text``, optional ``title``,
    ``score``)."""
    path = Path(path)
    records = _records(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        columns = set(records[0][1])
        if not columns & set(ID_KEYS) or not columns & set(TEXT_KEYS):
            need = "doc_id" if not columns & set(ID_KEYS) else "text"
            raise FileFormatError(str(path), 1, f"missing column '{need}' (columns: {', '.join(sorted(columns))})")
    docs, seen = [], set()
    for line, rec in records:
        doc_id, body = _pick(rec, ID_KEYS), _pick(rec, TEXT_KEYS)
        if doc_id is None or str(doc_id).strip() == "":
            raise FileFormatError(str(path), line, "missing document id (doc_id, id or _id)")
        if body is None or not isinstance(body, str):
            raise FileFormatError(str(path), line, "missing document text (content, text or contents)")
        doc_id = str(doc_id).strip()
        if doc_id in seen:
            raise FileFormatError(str(path), line, f"document id {doc_id!r} appears twice")
        seen.add(doc_id)
        title = rec.get("title")
        docs.append(Document(doc_id=doc_id, text=body, title=str(title) if title else None,
                             first_stage_score=_float(_pick(rec, SCORE_KEYS), path, line, "score"),
                             first_stage_source=None))
    for d in docs:
        if d.first_stage_score is not None:
            d.first_stage_source = "given"
    return docs


def read_queries(path: str | Path) -> list[tuple[str, str]]:
    """(query id, text) from JSONL (``query_id``/``qid``/``_id`` and ``text``/``query``) or a
    headerless TSV ``qid<TAB>text`` (the TREC / MS MARCO topics form)."""
    path = Path(path)
    if path.suffix.lower() == ".tsv":
        out = []
        for number, line in enumerate(trec.read_lines(path), start=1):
            if not line.strip():
                continue
            parts = line.split("\t", 1)
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise FileFormatError(str(path), number, "expected 'qid<TAB>query text'")
            out.append((parts[0].strip(), parts[1].strip()))
        if not out:
            raise FileFormatError(str(path), None, "file is empty")
        return out
    out = []
    for line, rec in _records(path):
        qid, body = _pick(rec, QUERY_ID_KEYS), _pick(rec, QUERY_TEXT_KEYS)
        if qid is None or body is None or not isinstance(body, str):
            raise FileFormatError(str(path), line, "expected a query id (query_id, qid, _id) and text")
        out.append((str(qid), body))
    return out


def import_qrels(store: Store, path: str | Path, source: str) -> int:
    rows = trec.read_qrels(path)
    return store.add_qrels(rows, source)


def import_queries(store: Store, path: str | Path, source: str) -> int:
    rows = read_queries(path)
    with store.write() as conn:
        for qid, body in rows:
            store._upsert_query(conn, body, source, qid)
    return len(rows)


def import_documents(store: Store, path: str | Path, source: str | None = None,
                     query_id: int | None = None) -> int:
    """Store documents (identity: source, doc_id, text); with ``query_id`` they join that
    query's candidate list."""
    docs = read_documents(path)
    with store.write() as conn:
        if query_id is not None:
            store._ensure_query(conn, query_id)
            store._link_many(conn, query_id, docs, source or "")
        else:
            for doc in docs:
                store._document_row(conn, doc, source or "")
    return len(docs)


def import_run(store: Store, path: str | Path, source: str) -> int:
    """A TREC run as first-stage candidates: each (qid, docid, score) joins the candidate list
    of the query ``(source, qid)`` with that first-stage score. Queries and documents must
    already be in the store under ``source`` (import them first)."""
    path = Path(path)
    rows = trec.read_run(path)
    lines = [i for i, line in enumerate(trec.read_lines(path), start=1) if line.strip()]
    with store.write() as conn:
        queries = {
            r.source_query_id: r.id
            for r in conn.execute(select(Q.c.id, Q.c.source_query_id).where(Q.c.source == source))
        }
        documents: dict[str, int] = {}
        for r in conn.execute(select(D.c.id, D.c.doc_id).where(D.c.source == source).order_by(D.c.id)):
            documents[r.doc_id] = r.id  # the newest text of a doc_id wins
        for line, (qid, doc_id, _rank, _score, _tag) in zip(lines, rows):
            if qid not in queries:
                raise FileFormatError(str(path), line, f"unknown query {qid!r} for source {source!r} (import the queries first)")
            if doc_id not in documents:
                raise FileFormatError(str(path), line, f"unknown document {doc_id!r} for source {source!r} (import the documents first)")
        positions: dict[int, int] = {}
        for qid, doc_id, _rank, score, _tag in rows:
            query_id = queries[qid]
            if query_id not in positions:
                positions[query_id] = store._next_position(conn, query_id)
            existing = conn.execute(
                select(QD.c.id).where(QD.c.query_id == query_id, QD.c.doc_id == doc_id)
            ).scalar()
            values = {"document_id": documents[doc_id], "first_stage_score": score, "first_stage_source": "given"}
            if existing is None:
                conn.execute(QD.insert().values(query_id=query_id, doc_id=doc_id, position=positions[query_id], **values))
                positions[query_id] += 1
            else:
                conn.execute(QD.update().where(QD.c.id == existing).values(**values))
    return len(rows)


# -- bundle ------------------------------------------------------------------------------------

_REQUIRED = {
    "query": ("id", "text", "source", "source_query_id", "created_at"),
    "document": ("id", "doc_id", "text", "source"),
    "candidate": ("query_id", "doc_id", "document_id", "position"),
    "run": ("id", "query_id", "model", "engine", "instruction", "truncate_length", "generation",
            "alpha", "status", "created_at"),
    "judgment": ("run_id", "document_id", "doc_id", "idx", "raw_output", "status", "created_at"),
    "label": ("query_id", "document_id", "doc_id", "annotator", "retracted", "action", "created_at"),
    "qrel": ("source", "source_query_id", "doc_id", "relevance"),
}


def _when(value: Any, path: Path, line: int) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise FileFormatError(str(path), line, f"bad timestamp {value!r}") from None


def read_bundle(path: str | Path) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    path = Path(path)
    records = _records(path)
    first_line, head = records[0]
    if head.get("kind") != "bundle" or head.get("format") != BUNDLE_FORMAT:
        raise FileFormatError(str(path), first_line, f"not an ERank Studio bundle (first record must be kind 'bundle', format {BUNDLE_FORMAT!r})")
    if head.get("version") != BUNDLE_VERSION:
        raise FileFormatError(str(path), first_line, f"unsupported bundle version {head.get('version')!r}")
    kinds: dict[str, list[tuple[int, dict[str, Any]]]] = {k: [] for k in _REQUIRED}
    ids: dict[str, set] = {"query": set(), "document": set(), "run": set()}
    for line, rec in records[1:]:
        kind = rec.get("kind")
        if kind not in _REQUIRED:
            raise FileFormatError(str(path), line, f"unknown record kind {kind!r}")
        missing = [k for k in _REQUIRED[kind] if k not in rec]
        if missing:
            raise FileFormatError(str(path), line, f"{kind} record lacks {', '.join(missing)}")
        for key in ("created_at", "finished_at"):
            if key in rec:
                rec[key] = _when(rec[key], path, line)
        refs = {"candidate": (("query", "query_id"), ("document", "document_id")),
                "run": (("query", "query_id"),),
                "judgment": (("run", "run_id"), ("document", "document_id")),
                "label": (("query", "query_id"), ("document", "document_id"))}.get(kind, ())
        for target, key in refs:
            if rec[key] not in ids[target]:
                raise FileFormatError(str(path), line, f"{kind} refers to {target} {rec[key]!r}, which the bundle does not define before it")
        if kind in ids:
            ids[kind].add(rec["id"])
        if kind == "label" and rec.get("score") is not None:
            try:
                Store.validate_score(rec["score"])
            except ValueError as error:
                raise FileFormatError(str(path), line, str(error)) from None
        kinds[kind].append((line, rec))
    return kinds


def import_bundle(store: Store, path: str | Path) -> dict[str, int]:
    """Read a bundle back. Queries and documents merge with what is there (same identity, same
    row); runs already present (same query, model and start time) and identical label rows are
    skipped, so importing a bundle twice adds nothing. Returns counts of rows added."""
    kinds = read_bundle(path)
    added = {k: 0 for k in ("queries", "documents", "runs", "judgments", "labels", "qrels")}
    with store.write() as conn:
        qmap: dict[Any, int] = {}
        for _, rec in kinds["query"]:
            before = conn.execute(select(func.count()).select_from(Q)).scalar()
            qmap[rec["id"]] = store._upsert_query(conn, rec["text"], rec["source"], rec["source_query_id"])
            added["queries"] += conn.execute(select(func.count()).select_from(Q)).scalar() - before
        dmap: dict[Any, int] = {}
        for _, rec in kinds["document"]:
            sha = text_sha1(rec["text"])
            found = conn.execute(select(D.c.id).where(
                D.c.source == rec["source"], D.c.doc_id == rec["doc_id"], D.c.text_sha1 == sha)).scalar()
            if found is None:
                found = conn.execute(D.insert().values(
                    doc_id=rec["doc_id"], text=rec["text"], title=rec.get("title"),
                    source=rec["source"], text_sha1=sha)).inserted_primary_key[0]
                added["documents"] += 1
            dmap[rec["id"]] = int(found)
        for _, rec in kinds["candidate"]:
            query_id, document_id = qmap[rec["query_id"]], dmap[rec["document_id"]]
            existing = conn.execute(select(QD.c.id).where(
                QD.c.query_id == query_id, QD.c.doc_id == rec["doc_id"])).scalar()
            values = dict(document_id=document_id, position=rec["position"],
                          first_stage_score=rec.get("first_stage_score"),
                          first_stage_source=rec.get("first_stage_source"))
            if existing is None:
                conn.execute(QD.insert().values(query_id=query_id, doc_id=rec["doc_id"], **values))
            else:
                conn.execute(QD.update().where(QD.c.id == existing).values(**values))
        rmap: dict[Any, int | None] = {}
        for _, rec in kinds["run"]:
            query_id = qmap[rec["query_id"]]
            found = conn.execute(select(R.c.id).where(
                R.c.query_id == query_id, R.c.model == rec["model"], R.c.created_at == rec["created_at"])).scalar()
            if found is not None:
                rmap[rec["id"]] = None  # already here: keep the stored copy
                continue
            values = {k: rec.get(k) for k in ("model", "engine", "instruction", "truncate_length",
                                               "generation", "alpha", "status", "created_at", "finished_at",
                                               "chat_template_source")}
            values["template"] = rec.get("template") or "paper"  # bundles from before 0004: paper wording
            rmap[rec["id"]] = int(conn.execute(R.insert().values(query_id=query_id, **values)).inserted_primary_key[0])
            added["runs"] += 1
        judgment_rows = []
        columns = [c.name for c in J.columns if c.name not in ("id", "run_id", "document_id")]
        for _, rec in kinds["judgment"]:
            run_id = rmap[rec["run_id"]]
            if run_id is None:
                continue
            row = {c: rec.get(c) for c in columns}
            row["extra"] = row["extra"] or {}
            for c, default in (("prompt_tokens", 0), ("output_tokens", 0), ("latency_s", 0.0)):
                if row[c] is None:
                    row[c] = default
            row.update(run_id=run_id, document_id=dmap[rec["document_id"]])
            judgment_rows.append(row)
        if judgment_rows:
            conn.execute(J.insert(), judgment_rows)
            added["judgments"] = len(judgment_rows)
        annotators: dict[str, int] = {}
        for _, rec in kinds["label"]:
            name = rec["annotator"]
            if name not in annotators:
                annotators[name] = store._annotator_id(conn, name)
            query_id, document_id = qmap[rec["query_id"]], dmap[rec["document_id"]]
            dup = conn.execute(select(L.c.id).where(
                L.c.query_id == query_id, L.c.doc_id == rec["doc_id"], L.c.annotator_id == annotators[name],
                L.c.created_at == rec["created_at"], L.c.action == rec["action"])).scalar()
            if dup is not None:
                continue
            conn.execute(L.insert().values(
                query_id=query_id, document_id=document_id, doc_id=rec["doc_id"],
                annotator_id=annotators[name], score=rec.get("score"), rationale=rec.get("rationale"),
                note=rec.get("note"), retracted=bool(rec["retracted"]), action=rec["action"],
                created_at=rec["created_at"]))
            added["labels"] += 1
        by_source: dict[str, list[tuple[str, str, int]]] = {}
        for _, rec in kinds["qrel"]:
            by_source.setdefault(rec["source"], []).append((rec["source_query_id"], rec["doc_id"], int(rec["relevance"])))
        for source, triples in by_source.items():
            added["qrels"] += store._add_qrels(conn, triples, source)
    return added


def import_file(store: Store, fmt: str, path: str | Path, *, source: str | None = None,
                query_id: int | None = None) -> int | dict[str, int]:
    """Dispatch on format: qrels, run, documents, queries, bundle."""
    if fmt == "qrels":
        return import_qrels(store, path, source or "")
    if fmt == "run":
        return import_run(store, path, source or "")
    if fmt == "documents":
        return import_documents(store, path, source, query_id)
    if fmt == "queries":
        return import_queries(store, path, source or "")
    if fmt == "bundle":
        return import_bundle(store, path)
    raise ValueError(f"unknown import format {fmt!r}; choose one of {', '.join(FORMATS)}")
