"""Reading candidate documents from text: JSONL, CSV, TSV, or plain text blocks. The one reader of
a document record for every input (``rerank --docs``, the app's box and uploads, benchmark corpora
and, through ``document_record``, ``import``): one list of accepted fields.

Every problem is reported as a ``DocumentFileError`` (or the caller's ``FileFormatError``) naming
the file and line, so the CLI and the UI can show it as one clear sentence. Accepted fields, the
first present one counting: text ``content``/``text``/``contents``/``passage``/``body``; id
``id``/``doc_id``/``docid``/``_id`` (without one, where allowed, the id of the text:
``text_rules.text_doc_id``); ``title``; ``first_stage_score``/``score``."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator

from . import text_rules
from .errors import FileFormatError
from .types import Document

TEXT_FIELDS = ("content", "text", "contents", "passage", "body")
ID_FIELDS = ("id", "doc_id", "docid", "_id")
SCORE_FIELDS = ("first_stage_score", "score")
# Every file reader (documents, TREC qrels / runs / topics, corpora, imports, bundles) refuses a
# file above this before reading it, so memory follows this bound rather than the input.
MAX_FILE_BYTES = 200 * 1024 * 1024


class DocumentFileError(FileFormatError):
    """A document file or box that cannot be read (file, line, what is wrong)."""


def decode_bytes(data: bytes, source: str) -> str:
    """UTF-8 (with or without BOM); otherwise name the first line that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DocumentFileError(
            source, line, "is not UTF-8 text (save the file as UTF-8 and try again)"
        ) from None


def read_bounded(handle, source: str, error: type[FileFormatError] = FileFormatError,
                 what: str = "is larger than") -> bytes:
    """Everything ``handle`` holds, refused (``error`` naming ``source``) past ``MAX_FILE_BYTES``:
    the bound is on the bytes read, so a device, a pipe or stdin (whose size is unknown or 0)
    stops there too instead of filling memory."""
    data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise error(source, None, f"{what} {MAX_FILE_BYTES // 2**20} MiB; the limit is "
                                  f"{MAX_FILE_BYTES // 2**20} MiB")
    return data


def read_file_bytes(path: str | os.PathLike[str], source: str | None = None,
                    error: type[FileFormatError] = FileFormatError) -> bytes:
    """A whole input file, refused (``error`` naming it) when it is not a readable file or holds
    more than ``MAX_FILE_BYTES`` (a ``.gz`` file: decompresses to more)."""
    source = source or os.fspath(path)
    try:
        size = os.path.getsize(path)  # a regular file too large is refused before any read
        if size > MAX_FILE_BYTES:
            raise error(source, None, f"is {size // 2**20} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB")
        if os.fspath(path).endswith(".gz"):
            import gzip

            with gzip.open(path, "rb") as handle:
                return read_bounded(handle, source, error, "decompresses to more than")
        with open(path, "rb") as handle:
            return read_bounded(handle, source, error)
    except (OSError, EOFError) as problem:
        reason = getattr(problem, "strerror", None) or str(problem)
        if isinstance(problem, IsADirectoryError):
            reason = "is a folder, not a file"
        raise error(source, None, f"cannot be read ({reason})") from None


def _pick(record: dict, names: Iterable[str]):
    for name in names:
        if name in record and record[name] is not None and record[name] != "":
            return record[name]
    return None


def _score(value, source: str, line: int) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DocumentFileError(source, line, f"first-stage score {value!r} is not a number") from None
    if not math.isfinite(number):
        raise DocumentFileError(source, line, f"first-stage score {value!r} is not a finite number")
    return number


def _names(fields: Iterable[str]) -> str:
    return ", ".join(repr(f) for f in fields)


def document_record(record: dict, source: str, line: int | None, *,
                    error: type[FileFormatError] = DocumentFileError, id_required: bool = False) -> Document:
    """The document of one record (a JSON object or a table row), by the one list of fields.
    Without an id (and ``id_required`` False) its id is "": ``assign_text_ids`` gives the text's."""
    text = _pick(record, TEXT_FIELDS)
    if not isinstance(text, str) or not text or text.isspace():  # no stripped copy of a huge text
        raise error(source, line, f"missing document text: needs a non-empty one of {_names(TEXT_FIELDS)}")
    doc_id = _pick(record, ID_FIELDS)
    if doc_id is None and id_required:
        raise error(source, line, f"missing document id: expected one of {_names(ID_FIELDS)}")
    if isinstance(doc_id, bool) or (doc_id is not None and not isinstance(doc_id, (str, int))):
        raise error(source, line, f"document id {doc_id!r} must be a string")
    if doc_id is not None and any(c.isspace() for c in str(doc_id)):
        # TREC qrels and run files (the exports) cannot hold an id with whitespace.
        raise error(source, line, f"document id {str(doc_id)!r} contains whitespace")
    try:
        score = _score(_pick(record, SCORE_FIELDS), source, line)
    except DocumentFileError as problem:
        raise error(source, line, problem.reason) from None
    title = _pick(record, ("title",))
    if title is not None and not isinstance(title, str):
        raise error(source, line, "title must be a string")
    for field, value in (("content", text), ("title", title)):
        why = text_rules.problem(value) if isinstance(value, str) else None
        if why:
            raise error(source, line, f"its {field} {why}")
    return Document(
        doc_id=str(doc_id) if doc_id is not None else "",  # "": the text's id, by assign_text_ids
        text=text,
        title=title,
        first_stage_score=score,
        first_stage_source="given" if score is not None else None,
    )



def _json_object(decode: Callable[[], object], source: str, number: int,
                 error: type[FileFormatError]) -> dict:
    """``decode()``'s object; ``error`` names the file and line when it is not one."""
    try:
        record = decode()
    except json.JSONDecodeError as problem:
        raise error(source, number, f"is not valid JSON ({problem.msg}, column {problem.colno})") from None
    except RecursionError:
        raise error(source, number, "is JSON nested too deeply to read") from None
    if not isinstance(record, dict):
        raise error(source, number, f"must be a JSON object, not {type(record).__name__}")
    return record


def jsonl_records(lines: Iterable[str], source: str, error: type[FileFormatError] = FileFormatError) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; ``error`` names the file and line of the
    first line that is not a JSON object."""
    records = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        records.append((number, _json_object(lambda: json.loads(raw), source, number, error)))
    return records


# The line breaks of str.splitlines, so line numbers are the same as reading it line by line.
_LINE_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_BLANK = re.compile(r"\s*")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")  # what json.loads skips around a value
_DECODER = json.JSONDecoder()


def _line_spans(text: str) -> Iterator[tuple[int, int, int]]:
    """(line number, start, end) of each line of ``text``, as ``text.splitlines()`` cuts them."""
    start, number = 0, 0
    for number, brk in enumerate(_LINE_BREAK.finditer(text), start=1):
        yield number, start, brk.start()
        start = brk.end()
    if start < len(text):
        yield number + 1, start, len(text)


def _decode_in_place(text: str, start: int, end: int) -> object:
    """``json.loads(text[start:end])`` without copying the line (a 50 MB document is one line):
    the value is decoded where it lies; anything unusual is left to ``json.loads`` on a copy,
    so errors read exactly as before."""
    try:
        value, stop = _DECODER.raw_decode(text, _JSON_SPACE.match(text, start, end).end())
    except (json.JSONDecodeError, RecursionError):
        value, stop = None, end + 1
    if stop > end or _JSON_SPACE.match(text, stop, end).end() != end:
        return json.loads(text[start:end])
    return value


def parse_jsonl(text: str, source: str = "<jsonl>") -> list[Document]:
    records = [  # every line is checked as JSON before any as a document, as jsonl_records does
        (number, _json_object(lambda: _decode_in_place(text, start, end), source, number, DocumentFileError))
        for number, start, end in _line_spans(text) if not _BLANK.fullmatch(text, start, end)
    ]
    documents = []
    for number, record in records:
        documents.append(document_record(record, source, number))
    assign_text_ids(documents)
    return documents


def parse_delimited(text: str, source: str = "<table>", delimiter: str = ",") -> list[Document]:
    """CSV/TSV with a header naming a content column; or, for TSV without a header,
    ``id<TAB>content[<TAB>first_stage_score]`` per line."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    rows_with_numbers = []
    row_start = 1
    try:
        for row in reader:
            if any(c.strip() for c in row):
                rows_with_numbers.append((row_start, row))
            row_start = reader.line_num + 1
    except csv.Error as error:  # e.g. a quote that is never closed swallows the rest of the file
        raise DocumentFileError(source, row_start, f"is not valid {'TSV' if delimiter == chr(9) else 'CSV'} ({error})") from None
    if not rows_with_numbers:
        return []
    header = [c.strip().lower() for c in rows_with_numbers[0][1]]
    if any(name in header for name in TEXT_FIELDS):
        body = rows_with_numbers[1:]
    elif delimiter == "\t":
        header, body = ["id", "content", "first_stage_score"], rows_with_numbers
    else:
        raise DocumentFileError(
            source, 1, f"the header must name a 'content' column (found: {', '.join(header)})"
        )
    documents = []
    for number, row in body:
        if len(row) > len(header) or len(row) < min(2, len(header)):
            raise DocumentFileError(
                source, number, f"has {len(row)} columns, expected {len(header)} ({', '.join(header)})"
            )
        record = dict(zip(header, (c.strip() for c in row)))
        documents.append(document_record(record, source, number))
    assign_text_ids(documents)
    return documents


def parse_text_blocks(text: str) -> list[Document]:
    """Plain text: documents separated by blank lines; without blank lines, one per line."""
    normalized = text.replace("\r\n", "\n").strip()
    if not normalized:
        return []
    if "\n\n" in normalized:
        chunks = [c.strip() for c in normalized.split("\n\n")]
    else:
        chunks = [c.strip() for c in normalized.split("\n")]
    documents = [Document(doc_id="", text=c) for c in chunks if c]
    assign_text_ids(documents)
    return documents


def parse_documents(text: str, source: str, kind: str | None = None) -> list[Document]:
    """Documents from ``text`` by ``kind`` ("jsonl", "csv", "tsv", "txt"), else by file suffix."""
    kind = (kind or os.path.splitext(source)[1].lstrip(".") or "txt").lower()
    if kind in ("jsonl", "json", "ndjson"):
        documents = parse_jsonl(text, source)
    elif kind == "csv":
        documents = parse_delimited(text, source, ",")
    elif kind in ("tsv", "tab"):
        documents = parse_delimited(text, source, "\t")
    elif kind in ("txt", "text", "md"):
        documents = parse_text_blocks(text)
    else:
        raise DocumentFileError(source, None, f"unknown document format {kind!r}; use .jsonl, .csv, .tsv or .txt")
    if not documents:
        raise DocumentFileError(source, None, "holds no documents")
    seen: set[str] = set()
    for document in documents:
        if document.doc_id in seen:
            raise DocumentFileError(source, None, f"document id {document.doc_id!r} appears twice")
        seen.add(document.doc_id)
    return documents


def assign_text_ids(documents: list[Document]) -> None:
    """Documents that came without an id get the id of their text (``text_rules.text_doc_ids``):
    never a position, which a later list would give to another text."""
    unnamed = [d for d in documents if not d.doc_id]
    for document, doc_id in zip(unnamed, text_rules.text_doc_ids([d.text for d in unnamed])):
        document.doc_id = doc_id


def read_documents(path: str | os.PathLike[str], kind: str | None = None) -> list[Document]:
    """Documents from a file on disk (see ``parse_documents``)."""
    source = os.path.basename(os.fspath(path))
    data = read_file_bytes(path, source, DocumentFileError)
    if not data or data.isspace():  # as `not data.strip()`, without copying a huge file
        raise DocumentFileError(source, None, "is empty")
    text = decode_bytes(data, source)
    del data  # the bytes are not needed while parsing: a huge file is held once less
    return parse_documents(text, source, kind or os.path.splitext(source)[1].lstrip("."))
