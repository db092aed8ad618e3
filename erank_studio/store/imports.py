"""Imports: TREC qrels and runs, JSONL / CSV documents and queries, and the export bundle.

Every importer reads and checks the whole file first, with the rules the Store API applies
(``validation``), so a malformed file (FileFormatError naming file and line) leaves the database
unchanged. Only then does it write, in chunks of ``CHUNK`` rows, each its own short transaction,
so that a long import never holds the store for more than about a second and a person's label
gets in between chunks. Importing the same file twice adds nothing the second time."""
from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select

from ..docfiles import jsonl_records
from ..errors import FileFormatError, ValidationError
from ..types import Document
from . import trec, validation
from .annotators import annotator_id
from .candidates import DocumentIdTaken, stored_text
from .exports import BUNDLE_FORMAT, BUNDLE_VERSION
from . import candidates, qrels, queries, schema
from .candidates import text_sha1
from .store import Store
from .schema import DOCUMENTS as D, JUDGMENTS as J, LABELS as L, QUERIES as Q, CANDIDATES as QD, RUNS as R


ID_KEYS = ("doc_id", "docid", "id", "_id")
TEXT_KEYS = ("content", "text", "contents", "body", "passage")  # "content": as rerank --docs reads
SCORE_KEYS = ("score", "first_stage_score")
QUERY_ID_KEYS = ("query_id", "qid", "id", "_id")
QUERY_TEXT_KEYS = ("text", "query", "title")
FORMATS = ("qrels", "run", "documents", "queries", "bundle")
CHUNK = 2000  # rows per write transaction: well under a second on a laptop disk


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _checked(path: Path, line: int | None, check, *args):
    """``check(*args)`` with a ValidationError turned into a FileFormatError at file and line."""
    try:
        return check(*args)
    except ValidationError as error:
        raise FileFormatError(str(path), line, str(error)) from None


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
        if body is None or not isinstance(body, str) or not body.strip():
            raise FileFormatError(str(path), line, "missing document text (content, text or contents)")
        doc_id = _checked(path, line, validation.identifier, str(doc_id).strip(), "document id")
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
            out.append((_checked(path, number, validation.identifier, parts[0].strip(), "query id"),
                        parts[1].strip()))
        if not out:
            raise FileFormatError(str(path), None, "file is empty")
        return out
    out, seen = [], set()
    for line, rec in _records(path):
        qid, body = _pick(rec, QUERY_ID_KEYS), _pick(rec, QUERY_TEXT_KEYS)
        if qid is None or body is None or not isinstance(body, str) or not body.strip():
            raise FileFormatError(str(path), line, "expected a query id (query_id, qid, _id) and text")
        qid = _checked(path, line, validation.identifier, str(qid), "query id")
        if qid in seen:
            raise FileFormatError(str(path), line, f"query id {qid!r} appears twice")
        seen.add(qid)
        out.append((qid, body))
    return out


def import_qrels(store: Store, path: str | Path, source: str) -> int:
    rows = trec.read_qrels(path)
    for chunk in _chunks(rows):
        with store.write(bulk=True) as conn:
            qrels.add_qrels(conn, chunk, source)
    return len(rows)


def import_queries(store: Store, path: str | Path, source: str) -> int:
    rows = read_queries(path)
    for chunk in _chunks(rows):
        with store.write(bulk=True) as conn:
            for qid, body in chunk:
                queries.upsert_query(conn, body, source, qid)
    return len(rows)


def import_documents(store: Store, path: str | Path, source: str | None = None,
                     query_id: int | None = None) -> int:
    """Store documents (identity: source, doc_id, text); with ``query_id`` they join that
    query's candidate list. A few statements per chunk, never one per document."""
    docs = read_documents(path)
    if query_id is not None:
        with store.read() as conn:
            queries.query_row(conn, query_id)
    for chunk in _chunks(docs):
        with store.write(bulk=True) as conn:
            if query_id is not None:
                candidates.link_documents(conn, query_id, chunk, source or "")
            else:
                candidates.document_rows(conn, chunk, source or "")
    return len(docs)


def import_run(store: Store, path: str | Path, source: str) -> int:
    """A TREC run as first-stage candidates: each (qid, docid, score) joins the candidate list
    of the query ``(source, qid)`` with that first-stage score. Queries and documents must
    already be in the store under ``source`` (import them first)."""
    path = Path(path)
    rows = trec.read_run(path)
    lines = [i for i, line in enumerate(trec.read_lines(path), start=1) if line.strip()]
    with store.read() as conn:
        query_ids = {
            r.source_query_id: r.id
            for r in conn.execute(select(Q.c.id, Q.c.source_query_id).where(Q.c.source == source))
        }
        documents: dict[str, int] = {}
        for r in conn.execute(select(D.c.id, D.c.doc_id).where(D.c.source == source).order_by(D.c.id)):
            documents[r.doc_id] = r.id  # the newest text of a doc_id wins
    for line, (qid, doc_id, _rank, _score, _tag) in zip(lines, rows):
        if qid not in query_ids:
            raise FileFormatError(str(path), line, f"unknown query {qid!r} for source {source!r} (import the queries first)")
        if doc_id not in documents:
            raise FileFormatError(str(path), line, f"unknown document {doc_id!r} for source {source!r} (import the documents first)")
    by_query: dict[int, list[tuple[str, float]]] = {}
    for qid, doc_id, _rank, score, _tag in rows:
        by_query.setdefault(query_ids[qid], []).append((doc_id, score))
    for query_id, items in by_query.items():
        for chunk in _chunks(items):
            with store.write(bulk=True) as conn:
                links = {r.doc_id: (r.id, r.document_id) for r in conn.execute(
                    select(QD.c.doc_id, QD.c.id, QD.c.document_id).where(
                        QD.c.query_id == query_id, QD.c.doc_id.in_([d for d, _ in chunk])))}
                position = candidates.next_position(conn, query_id)
                inserts, updates = [], []
                for doc_id, score in chunk:
                    values = {"document_id": documents[doc_id], "first_stage_score": score,
                              "first_stage_source": "given"}
                    if doc_id in links:
                        link_id, linked = links[doc_id]
                        if linked not in (-1, documents[doc_id]):
                            # The candidate names a text already: the run's must be the same one.
                            old, new = stored_text(conn, linked), stored_text(conn, documents[doc_id])
                            if text_sha1(old) != text_sha1(new):
                                raise DocumentIdTaken(query_id, doc_id, old, new)
                            values["document_id"] = linked
                        updates.append({"qd": link_id, **values})
                    else:
                        inserts.append({"query_id": query_id, "doc_id": doc_id, "position": position, **values})
                        links[doc_id] = (-1, -1)
                        position += 1
                if inserts:
                    conn.execute(QD.insert(), inserts)
                if updates:
                    conn.execute(QD.update().where(QD.c.id == bindparam("qd")).values(
                        document_id=bindparam("document_id"), first_stage_score=bindparam("first_stage_score"),
                        first_stage_source=bindparam("first_stage_source")), updates)
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
_REFS = {"candidate": (("query", "query_id"), ("document", "document_id")),
         "run": (("query", "query_id"),),
         "judgment": (("run", "run_id"), ("document", "document_id")),
         "label": (("query", "query_id"), ("document", "document_id"))}


# Dates a bundle may carry: none before the project (nor a year-0001 placeholder), none in the
# future beyond a day of clock skew (nor year 9999, which would sort above everything real).
EARLIEST = datetime(2000, 1, 1)
CLOCK_SKEW = timedelta(days=1)


def _when(value: Any, key: str) -> datetime | None:
    if value is None and key == "finished_at":
        return None
    if not isinstance(value, str):
        raise ValidationError(key, f"{key} must be an ISO timestamp, got {value!r}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(key, f"{key} must be an ISO timestamp, got {value!r}") from None
    if when.tzinfo is not None:  # the store keeps UTC without a zone
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    latest = datetime.now(timezone.utc).replace(tzinfo=None) + CLOCK_SKEW
    if not EARLIEST <= when <= latest:
        raise ValidationError(key, f"{key} {value!r} is not a plausible date (from {EARLIEST:%Y-%m-%d} "
                              "to tomorrow)")
    return when


def _string(value: Any, field: str, empty: bool = True) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ValidationError(field, f"{field} must be {'' if empty else 'non-empty '}text, got {value!r}")
    return value


def _optional(check, value: Any, *args):
    return None if value is None else check(value, *args)


def _check_record(kind: str, rec: dict[str, Any], docs: dict[Any, dict[str, Any]],
                  candidates: set[tuple[Any, str]]) -> None:
    """The Store API's rules for one bundle record (cleaned in place); raises ValidationError."""
    for key in ("created_at", "finished_at"):
        if key in rec:
            rec[key] = _when(rec[key], key)
    if kind == "query":
        validation.text(rec["text"], "query text")
        _string(rec["source"], "source")
        if _string(rec["source_query_id"], "source_query_id"):
            validation.identifier(rec["source_query_id"], "source_query_id")
    elif kind == "document":
        validation.identifier(rec["doc_id"], "doc_id")
        validation.text(rec["text"], "document text")
        _optional(_string, rec.get("title"), "title")
        _string(rec["source"], "source")
    elif kind in ("candidate", "judgment", "label"):
        validation.identifier(rec["doc_id"], "doc_id")
        if docs[rec["document_id"]]["doc_id"] != rec["doc_id"]:
            raise ValidationError("doc_id", f"doc_id {rec['doc_id']!r} is not the doc_id of document "
                                            f"{rec['document_id']!r} ({docs[rec['document_id']]['doc_id']!r})")
    if kind == "candidate":
        validation.non_negative_int(rec["position"], "position")
        validation.finite_number(rec.get("first_stage_score"), "first_stage_score")
    elif kind == "run":
        _string(rec["model"], "model", empty=False)
        _string(rec["engine"], "engine", empty=False)
        _string(rec["instruction"], "instruction")
        validation.positive_int(rec["truncate_length"], "truncate_length")
        if not isinstance(rec["generation"], dict):
            raise ValidationError("generation", "generation must be an object of settings")
        validation.alpha(rec["alpha"])
        validation.run_status(rec["status"], "run status")
        if rec.get("template") is not None:
            from .. import prompt

            validation.choice(rec["template"], tuple(prompt.TEMPLATES), "template")
    elif kind == "judgment":
        _string(rec["raw_output"], "raw_output")
        validation.non_negative_int(rec["idx"], "idx")
        validation.judgment_status(rec["status"], "judgment status")
        validation.model_score(rec.get("score"), "score")
        for key in ("probability", "rank_score", "first_stage_score", "hybrid_score", "latency_s",
                    "expected_score", "score_entropy"):
            validation.finite_number(rec.get(key), key)
        validation.score_distribution(rec.get("score_distribution"))
        for key in ("prompt_tokens", "output_tokens", "query_tokens", "query_tokens_kept",
                    "document_tokens", "document_tokens_kept"):
            _optional(validation.non_negative_int, rec.get(key), key)
    elif kind == "label":
        rec["annotator"] = validation.annotator(rec["annotator"])
        validation.label_action(rec["action"])
        if not isinstance(rec["retracted"], bool):
            raise ValidationError("retracted", f"retracted must be true or false, got {rec['retracted']!r}")
        validation.label_score(rec.get("score"), "a label score")
        validation.free_text(rec.get("rationale"), "rationale")
        validation.free_text(rec.get("note"), "note")
        if rec["action"] == "set" and not rec["retracted"] and rec.get("score") is None \
                and not (rec.get("rationale") or rec.get("note")):
            raise ValidationError("score", "a label without a score needs a note or a rationale")
        if rec["action"] == validation.ADJUDICATE and (rec.get("score") is None or not (rec.get("note") or "").strip()):
            raise ValidationError("score", "an adjudication needs a final score and a reason (note)")
        if (rec["query_id"], rec["doc_id"]) not in candidates:
            raise ValidationError("doc_id", f"document {rec['doc_id']!r} is not a candidate of query "
                                            f"{rec['query_id']!r} in the bundle")
    elif kind == "qrel":
        _string(rec["source"], "source")
        validation.identifier(rec["source_query_id"], "source_query_id")
        validation.identifier(rec["doc_id"], "doc_id")
        validation.relevance(rec["relevance"])


def read_bundle(path: str | Path) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Every record of a bundle, checked (kinds, fields, references, and the rules the Store
    API applies to the same values); the first problem raises FileFormatError at its line."""
    path = Path(path)
    records = _records(path)
    first_line, head = records[0]
    if head.get("kind") != "bundle" or head.get("format") != BUNDLE_FORMAT:
        raise FileFormatError(str(path), first_line, f"not an ERank Studio bundle (first record must be kind 'bundle', format {BUNDLE_FORMAT!r})")
    if head.get("version") != BUNDLE_VERSION:
        raise FileFormatError(str(path), first_line, f"unsupported bundle version {head.get('version')!r}")
    kinds: dict[str, list[tuple[int, dict[str, Any]]]] = {k: [] for k in _REQUIRED}
    ids: dict[str, dict[Any, dict[str, Any]]] = {"query": {}, "document": {}, "run": {}}
    candidates: set[tuple[Any, str]] = set()
    benchmark_ids: set[tuple[str, str]] = set()
    for line, rec in records[1:]:
        kind = rec.get("kind")
        if kind not in _REQUIRED:
            raise FileFormatError(str(path), line, f"unknown record kind {kind!r}")
        missing = [k for k in _REQUIRED[kind] if k not in rec]
        if missing:
            raise FileFormatError(str(path), line, f"{kind} record lacks {', '.join(missing)}")
        for target, key in _REFS.get(kind, ()):
            if not isinstance(rec[key], (int, str)) or rec[key] not in ids[target]:
                raise FileFormatError(str(path), line, f"{kind} refers to {target} {rec[key]!r}, which the bundle does not define before it")
        if kind in ids:
            if not isinstance(rec["id"], (int, str)):
                raise FileFormatError(str(path), line, f"{kind} id must be a number or a string, got {rec['id']!r}")
            if rec["id"] in ids[kind]:
                raise FileFormatError(str(path), line, f"{kind} id {rec['id']!r} appears twice")
        _checked(path, line, _check_record, kind, rec, ids["document"], candidates)
        if kind == "query" and rec["source_query_id"]:
            key = (rec["source"], rec["source_query_id"])
            if key in benchmark_ids:
                raise FileFormatError(str(path), line, f"query id {key[1]!r} of source {key[0]!r} appears twice")
            benchmark_ids.add(key)
        if kind in ids:
            ids[kind][rec["id"]] = rec
        if kind == "candidate":
            candidates.add((rec["query_id"], rec["doc_id"]))
        kinds[kind].append((line, rec))
    return kinds


def _check_adjudicators(store: Store, path: Path, labels: list[tuple[int, dict[str, Any]]]) -> None:
    """The app's rule for adjudications: only an adjudicator of this store sets a final label.
    A bundle cannot grant the role (a tampered file would grant it to itself), so the person
    must hold it here before their adjudications are imported."""
    from .teams import has_role

    first_line: dict[str, int] = {}
    for line, rec in labels:
        if rec["action"] == validation.ADJUDICATE:
            first_line.setdefault(rec["annotator"], line)
    for name, line in first_line.items():
        if not has_role(store, name):
            raise FileFormatError(str(path), line, f"{name!r} set a final label (adjudication) but is not an "
                                  f"adjudicator in this store: grant the role first (roles grant {name!r})")


def import_bundle(store: Store, path: str | Path) -> dict[str, int]:
    """Read a bundle back. Queries and documents merge with what is there (same identity, same
    row); runs already present (same query, model and start time) and identical label rows are
    skipped, so importing a bundle twice adds nothing. Every field is kept (created_at
    included). Written in chunks after the whole file was checked. Returns counts of rows
    added."""
    kinds = read_bundle(path)
    _check_adjudicators(store, Path(path), kinds["label"])
    added = {k: 0 for k in ("queries", "documents", "candidates", "runs", "judgments", "labels", "qrels")}
    qmap: dict[Any, int] = {}
    for chunk in _chunks(kinds["query"]):
        with store.write(bulk=True) as conn:
            for _, rec in chunk:
                query_id, new = queries.upsert_query(conn, rec["text"], rec["source"],
                                                            rec["source_query_id"], rec["created_at"])
                qmap[rec["id"]] = query_id
                added["queries"] += new
    dmap: dict[Any, int] = {}
    for chunk in _chunks(kinds["document"]):
        by_source: dict[str, list[dict[str, Any]]] = {}
        for _, rec in chunk:
            by_source.setdefault(rec["source"], []).append(rec)
        with store.write(bulk=True) as conn:
            for source, recs in by_source.items():
                docs = [Document(doc_id=r["doc_id"], text=r["text"], title=r.get("title")) for r in recs]
                shas = [text_sha1(r["text"]) for r in recs]
                rows, new = candidates.document_rows(conn, docs, source, shas)
                added["documents"] += new
                for r, sha in zip(recs, shas):
                    dmap[r["id"]] = rows[(r["doc_id"], sha)]
    for chunk in _chunks(kinds["candidate"]):
        with store.write(bulk=True) as conn:
            for _, rec in chunk:
                query_id, document_id = qmap[rec["query_id"]], dmap[rec["document_id"]]
                existing = conn.execute(select(QD).where(
                    QD.c.query_id == query_id, QD.c.doc_id == rec["doc_id"])).first()
                values = dict(document_id=document_id, position=rec["position"],
                              first_stage_score=rec.get("first_stage_score"),
                              first_stage_source=rec.get("first_stage_source"))
                if existing is None:
                    conn.execute(QD.insert().values(query_id=query_id, doc_id=rec["doc_id"], **values))
                    added["candidates"] += 1
                    continue
                if existing.document_id != document_id:
                    old, new = stored_text(conn, existing.document_id), stored_text(conn, document_id)
                    if text_sha1(old) != text_sha1(new):  # the same text from another source is the same
                        raise DocumentIdTaken(query_id, rec["doc_id"], old, new)
                    values["document_id"] = existing.document_id
                if any(getattr(existing, k) != v for k, v in values.items()):
                    conn.execute(QD.update().where(QD.c.id == existing.id).values(**values))
    rmap: dict[Any, int | None] = {}
    run_columns = [c.name for c in R.columns if c.name not in ("id", "query_id", "owner")]
    for chunk in _chunks(kinds["run"]):
        with store.write(bulk=True) as conn:
            for _, rec in chunk:
                query_id = qmap[rec["query_id"]]
                found = conn.execute(select(R.c.id).where(
                    R.c.query_id == query_id, R.c.model == rec["model"], R.c.created_at == rec["created_at"])).scalar()
                if found is not None:
                    rmap[rec["id"]] = None  # already here: keep the stored copy
                    continue
                values = {k: rec[k] for k in run_columns if k in rec}
                if values.get("template") is None:
                    values.pop("template", None)  # bundles from before 0004: the paper's wording (server default)
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
    for chunk in _chunks(judgment_rows):
        with store.write(bulk=True) as conn:
            conn.execute(J.insert(), chunk)
        added["judgments"] += len(chunk)
    annotators: dict[str, int] = {}
    for chunk in _chunks(kinds["label"]):
        with store.write(bulk=True) as conn:
            for _, rec in chunk:
                name = rec["annotator"]
                if name not in annotators:
                    annotators[name] = annotator_id(conn, name)
            keys = {(r.query_id, r.doc_id, r.annotator_id, r.created_at, r.action) for r in conn.execute(
                select(L.c.query_id, L.c.doc_id, L.c.annotator_id, L.c.created_at, L.c.action).where(
                    L.c.query_id.in_(sorted({qmap[rec["query_id"]] for _, rec in chunk}))))}
            inserts = []
            for _, rec in chunk:
                key = (qmap[rec["query_id"]], rec["doc_id"], annotators[rec["annotator"]], rec["created_at"], rec["action"])
                if key in keys:
                    continue
                keys.add(key)
                inserts.append(dict(
                    query_id=key[0], document_id=dmap[rec["document_id"]], doc_id=rec["doc_id"],
                    annotator_id=key[2], score=rec.get("score"), rationale=rec.get("rationale"),
                    note=rec.get("note"), retracted=rec["retracted"], action=rec["action"],
                    created_at=rec["created_at"]))
            if inserts:
                conn.execute(L.insert(), inserts)
            added["labels"] += len(inserts)
    by_source: dict[str, list[tuple[str, str, int]]] = {}
    for _, rec in kinds["qrel"]:
        by_source.setdefault(rec["source"], []).append((rec["source_query_id"], rec["doc_id"], rec["relevance"]))
    for source, triples in by_source.items():
        for chunk in _chunks(triples):
            with store.write(bulk=True) as conn:
                added["qrels"] += qrels.add_qrels(conn, chunk, source)
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
