"""TREC qrels and run files: strict readers (path -> list of tuples) and writers.

Readers check every line first and raise FileFormatError naming the file and line (columns,
numbers, non-UTF-8 bytes, empty file); the checked text is then read with ir_measures'
``read_trec_qrels`` / ``read_trec_run``. Blank lines are skipped; gzip files are accepted."""
from __future__ import annotations

import io
import math
from collections.abc import Iterable
from pathlib import Path

from ..docfiles import read_file_bytes
from ..errors import FileFormatError
from . import validation

QREL_COLUMNS = "qid iter docid relevance"
RUN_COLUMNS = "qid Q0 docid rank score tag"


def read_lines(path: str | Path) -> list[str]:
    """The file's lines decoded as UTF-8, refusing undecodable bytes, empty files and files over
    ``docfiles.MAX_FILE_BYTES``."""
    path = Path(path)
    raw = read_file_bytes(path, str(path))  # size-bounded; .gz decompressed under the bound
    if not raw.strip():
        raise FileFormatError(str(path), None, "file is empty")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.split(b"\n")
    out = []
    for number, line in enumerate(lines, start=1):
        try:
            out.append(line.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as error:
            raise FileFormatError(
                str(path), number, f"not UTF-8 text (byte 0x{line[error.start]:02x} at column {error.start + 1})"
            ) from None
    if out and out[-1] == "":
        out.pop()
    return out


def _check(path: Path, lines: list[str], columns: str, checks: dict[int, tuple[str, type]]) -> str:
    width = len(columns.split())
    kept = []
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != width:
            raise FileFormatError(
                str(path), number, f"expected {width} columns '{columns}', got {len(parts)}"
            )
        for col, (name, kind) in checks.items():
            try:
                value = kind(parts[col])
            except ValueError:
                raise FileFormatError(
                    str(path), number, f"{name} must be {'an integer' if kind is int else 'a number'}, got {parts[col]!r}"
                ) from None
            if kind is float and not math.isfinite(value):
                raise FileFormatError(str(path), number, f"{name} must be a finite number, got {parts[col]!r}")
            if kind is int and abs(value) > validation.MAX_INT:
                raise FileFormatError(str(path), number, f"{name} must be an integer from "
                                      f"{-validation.MAX_INT} to {validation.MAX_INT}, got {parts[col]!r}")
        kept.append(" ".join(parts))
    if not kept:
        raise FileFormatError(str(path), None, "file is empty")
    return "\n".join(kept) + "\n"


def read_qrels(path: str | Path) -> list[tuple[str, str, int]]:
    """TREC qrels ``qid iter docid relevance`` -> [(qid, docid, relevance)]."""
    path = Path(path)
    text = _check(path, read_lines(path), QREL_COLUMNS, {3: ("relevance", int)})
    import ir_measures  # here, not at start-up: the app and most commands never read a TREC file

    return [(q.query_id, q.doc_id, int(q.relevance)) for q in ir_measures.read_trec_qrels(io.StringIO(text))]


def read_run(path: str | Path) -> list[tuple[str, str, int, float, str]]:
    """TREC run ``qid Q0 docid rank score tag`` -> [(qid, docid, rank, score, tag)]."""
    path = Path(path)
    text = _check(path, read_lines(path), RUN_COLUMNS, {3: ("rank", int), 4: ("score", float)})
    import ir_measures

    scored = list(ir_measures.read_trec_run(io.StringIO(text)))
    # ir_measures keeps only (qid, docid, score): rank and tag come from the checked lines.
    rows = [line.split() for line in text.splitlines()]
    return [(s.query_id, s.doc_id, int(r[3]), float(s.score), r[5]) for s, r in zip(scored, rows)]


def _clean(token: str, what: str) -> str:
    token = str(token)
    if not token or any(c.isspace() for c in token):
        raise ValueError(f"a TREC {what} cannot be empty or contain whitespace: {token!r}")
    return token


def format_qrels(rows: Iterable[tuple[str, str, int]]) -> str:
    return "".join(f"{_clean(q, 'query id')} 0 {_clean(d, 'doc id')} {int(rel)}\n" for q, d, rel in rows)


def format_run(rows: Iterable[tuple[str, str, int, float, str]]) -> str:
    return "".join(
        f"{_clean(q, 'query id')} Q0 {_clean(d, 'doc id')} {int(rank)} {float(score):.6f} {_clean(tag, 'tag')}\n"
        for q, d, rank, score, tag in rows
    )


def write_qrels(path: str | Path, rows: Iterable[tuple[str, str, int]]) -> int:
    rows = list(rows)
    Path(path).write_text(format_qrels(rows), encoding="utf-8")
    return len(rows)


def write_run(path: str | Path, rows: Iterable[tuple[str, str, int, float, str]]) -> int:
    rows = list(rows)
    Path(path).write_text(format_run(rows), encoding="utf-8")
    return len(rows)
