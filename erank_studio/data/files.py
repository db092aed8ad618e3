"""Datasets from the user's disk: BEIR folders, and TREC topics / qrels / run files with a JSONL
corpus. Every reader refuses a malformed file with DatasetFormatError naming file and line.

TREC qrels and run files are read by the store's strict readers (erank_studio.store.trec, on top
of ir_measures); their FileFormatError becomes a DatasetFormatError with the same file and line."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..store import trec
from ..docfiles import document_record, jsonl_records
from ..errors import FileFormatError
from .base import Dataset, DatasetFormatError, Query, make_dataset, ranked_run

PathLike = str | os.PathLike[str]
_QID_KEYS = ("_id", "query_id", "qid", "id")
_QTEXT_KEYS = ("text", "query", "title")


def _lines(path: Path) -> list[str]:
    try:
        return trec.read_lines(path)
    except FileFormatError as error:
        raise DatasetFormatError(error.path, error.line, error.reason) from None


def _json_rows(path: Path) -> list[tuple[int, dict]]:
    rows = jsonl_records(_lines(path), str(path), DatasetFormatError)
    if not rows:
        raise DatasetFormatError(str(path), None, "file is empty")
    return rows


def _field(path: Path, number: int, row: dict, keys: Sequence[str], what: str) -> str:
    for key in keys:
        value = row.get(key)
        if value is not None:
            if isinstance(value, (int, float)) and not isinstance(value, bool) and what.endswith("id"):
                value = str(value)
            if not isinstance(value, str):
                raise DatasetFormatError(str(path), number, f"{what} ({key!r}) must be a string")
            return value
    raise DatasetFormatError(str(path), number, f"missing {what}: expected one of {', '.join(map(repr, keys))}")


def _check_id(path: Path, number: int, value: str, what: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise DatasetFormatError(str(path), number, f"{what} {value!r} is empty or contains whitespace")
    return value


def read_corpus(path: PathLike) -> dict[str, tuple[str | None, str]]:
    """JSONL corpus: one document record a line, read by the one document reader
    (``docfiles.document_record``: its fields; an id is required here)."""
    path = Path(path)
    corpus: dict[str, tuple[str | None, str]] = {}
    for number, row in _json_rows(path):
        document = document_record(row, str(path), number, error=DatasetFormatError, id_required=True)
        if document.doc_id in corpus:
            raise DatasetFormatError(str(path), number, f"document id {document.doc_id!r} appears twice")
        corpus[document.doc_id] = (document.title or None, document.text)
    return corpus


def read_queries_jsonl(path: PathLike) -> list[Query]:
    """JSONL queries: ``_id``/``query_id``/``qid``/``id`` and ``text``/``query``/``title``."""
    path = Path(path)
    queries, seen = [], set()
    for number, row in _json_rows(path):
        qid = _check_id(path, number, _field(path, number, row, _QID_KEYS, "query id"), "query id")
        text = _field(path, number, row, _QTEXT_KEYS, "query text")
        if qid in seen:
            raise DatasetFormatError(str(path), number, f"query id {qid!r} appears twice")
        seen.add(qid)
        queries.append(Query(qid, text))
    return queries


_TOP = re.compile(r"<top>(.*?)</top>", re.DOTALL | re.IGNORECASE)
_NUM = re.compile(r"<num>\s*(?:Number:)?\s*(\S+)", re.IGNORECASE)
_TITLE = re.compile(r"<title>\s*(?:Topic:)?\s*(.*?)\s*(?=<desc>|<narr>|</title>|</top>|$)", re.DOTALL | re.IGNORECASE)


def read_topics(path: PathLike) -> list[Query]:
    """TREC topics: a ``qid<TAB>text`` file (MS MARCO style), classic ``<top>`` SGML topics
    (the title is the query), or JSONL queries."""
    path = Path(path)
    lines = _lines(path)
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("{"):
        return read_queries_jsonl(path)
    text = "\n".join(lines)
    if "<top>" in text.lower():
        queries = []
        for block in _TOP.findall(text):
            num, title = _NUM.search(block), _TITLE.search(block)
            line = text[: text.find(block)].count("\n") + 1
            if not num or not title or not title.group(1).strip():
                raise DatasetFormatError(str(path), line, "a <top> topic needs <num> and a non-empty <title>")
            queries.append(Query(num.group(1), " ".join(title.group(1).split())))
        if not queries:
            raise DatasetFormatError(str(path), None, "no complete <top> ... </top> topic found")
        return queries
    queries, seen = [], set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split("\t", 1)
        if len(parts) != 2 or not parts[1].strip():
            raise DatasetFormatError(str(path), number, "expected 'query id<TAB>query text'")
        qid = _check_id(path, number, parts[0].strip(), "query id")
        if qid in seen:
            raise DatasetFormatError(str(path), number, f"query id {qid!r} appears twice")
        seen.add(qid)
        queries.append(Query(qid, parts[1].strip()))
    return queries


def read_qrels(path: PathLike) -> dict[str, dict[str, int]]:
    """TREC qrels ``qid iter docid relevance`` (the store's strict reader)."""
    try:
        rows = trec.read_qrels(path)
    except FileFormatError as error:
        raise DatasetFormatError(error.path, error.line, error.reason) from None
    qrels: dict[str, dict[str, int]] = {}
    for qid, docid, rel in rows:
        qrels.setdefault(qid, {})[docid] = rel
    return qrels


def read_run(path: PathLike) -> dict[str, list[tuple[str, float]]]:
    """TREC run ``qid Q0 docid rank score tag`` -> qid -> [(docid, score)], best first."""
    try:
        rows = trec.read_run(path)
    except FileFormatError as error:
        raise DatasetFormatError(error.path, error.line, error.reason) from None
    return ranked_run([(q, d, rank, score) for q, d, rank, score, _ in rows])


def read_beir_qrels(path: PathLike) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV: header ``query-id corpus-id score``, then one judgment a line."""
    path = Path(path)
    lines = _lines(path)
    qrels: dict[str, dict[str, int]] = {}
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter="\t")
    for number, parts in enumerate(reader, start=1):
        if not parts or not "".join(parts).strip():
            continue
        if number == 1 and parts[0].strip().lower() in ("query-id", "query_id", "qid"):
            continue
        if len(parts) != 3:
            raise DatasetFormatError(str(path), number, f"expected 3 tab-separated columns 'query-id corpus-id score', got {len(parts)}")
        try:
            rel = int(parts[2])
        except ValueError:
            raise DatasetFormatError(str(path), number, f"score must be an integer, got {parts[2]!r}") from None
        qrels.setdefault(parts[0].strip(), {})[parts[1].strip()] = rel
    if not qrels:
        raise DatasetFormatError(str(path), None, "no qrels in file")
    return qrels


def user_dataset_name(*paths: PathLike) -> str:
    """The store name of a dataset read from the user's files: ``user/<name>-<hash>``, the hash
    of the files' absolute paths, so two folders that share a name (every BEIR download is
    called after its set, many topic files are ``queries``) never share stored judgments."""
    first = Path(paths[0])
    key = "\n".join(str(Path(p).resolve()) for p in paths)
    return f"user/{first.stem if first.is_file() else first.name}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def load_beir_folder(folder: PathLike, split: str = "test", name: str | None = None) -> Dataset:
    """A BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (queries limited to those
    the split judges; all queries when there is no qrels folder)."""
    folder = Path(folder)
    for required in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / required).is_file():
            raise DatasetFormatError(str(folder), None, f"not a BEIR folder: {required} is missing")
    corpus = read_corpus(folder / "corpus.jsonl")
    queries = read_queries_jsonl(folder / "queries.jsonl")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    qrels: dict[str, dict[str, int]] = {}
    if qrels_path.is_file():
        qrels = read_beir_qrels(qrels_path)
        queries = [q for q in queries if q.query_id in qrels]
    elif (folder / "qrels").is_dir():
        found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise DatasetFormatError(str(qrels_path), None, f"no such split; found: {', '.join(found) or 'none'}")
    return make_dataset(name or user_dataset_name(folder), queries, corpus, qrels, instruction=None,
                        title=f"BEIR folder {folder}")


def _guess_role(path: Path) -> str | None:
    name = path.name.lower()
    for role, hints in (
        ("qrels", ("qrels", "qrel", "judgments")),
        ("run", ("run", ".trec", "bm25")),
        ("corpus", ("corpus", "collection", "docs", "documents", "passages")),
        ("topics", ("topics", "queries", "topic", "query")),
    ):
        if any(h in name for h in hints):
            return role
    return None


def load_user_dataset(
    *paths: PathLike,
    topics: PathLike | None = None,
    corpus: PathLike | None = None,
    qrels: PathLike | None = None,
    run: PathLike | None = None,
    split: str = "test",
    name: str | None = None,
    instruction: str | None = None,
) -> Dataset:
    """A dataset from the user's files: one BEIR folder, or TREC topics + a JSONL corpus
    (+ optional qrels, + optional run file giving the candidates and first-stage scores).

    Files may be passed positionally (their role is guessed from the name: "topics"/"queries",
    "corpus"/"docs", "qrels", "run") or by keyword."""
    roles: dict[str, Path] = {}
    for key, value in (("topics", topics), ("corpus", corpus), ("qrels", qrels), ("run", run)):
        if value is not None:
            roles[key] = Path(value)
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise DatasetFormatError(str(path), None, "no such file or folder")
        if path.is_dir():
            if len(paths) > 1 or roles:
                raise DatasetFormatError(str(path), None, "a BEIR folder is loaded on its own")
            return load_beir_folder(path, split=split, name=name)
        role = _guess_role(path)
        if role is None:
            raise DatasetFormatError(
                str(path), None,
                "cannot tell whether this is topics, corpus, qrels or run: name it so, or pass it by keyword",
            )
        if role in roles:
            raise DatasetFormatError(str(path), None, f"two {role} files given ({roles[role]} and {path})")
        roles[role] = path
    for path in roles.values():
        if not path.is_file():
            raise DatasetFormatError(str(path), None, "no such file")
    missing = [r for r in ("topics", "corpus") if r not in roles]
    if missing:
        raise DatasetFormatError(
            ", ".join(str(p) for p in roles.values()) or "(no files)", None,
            f"missing {' and '.join(missing)}: give TREC topics and a JSONL corpus (or a BEIR folder)",
        )
    queries = read_topics(roles["topics"])
    docs = read_corpus(roles["corpus"])
    qrels_map = read_qrels(roles["qrels"]) if "qrels" in roles else {}
    run_map = read_run(roles["run"]) if "run" in roles else None
    return make_dataset(
        name or user_dataset_name(*(roles[r] for r in ("topics", "corpus", "qrels", "run") if r in roles)), queries, docs, qrels_map, run_map,
        instruction=instruction, title=f"files {', '.join(p.name for p in roles.values())}",
    )
