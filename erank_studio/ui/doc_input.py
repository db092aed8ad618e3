"""Documents typed or uploaded in the browser -> ``Document`` objects, with messages a person can
act on. The formats themselves are read by ``erank_studio.docfiles`` (shared with the command
line); this module adds what the box needs: telling JSON lines from plain text, limits, and one
error type for the UI.

Typed text: JSON lines when the first non-empty line starts with ``{``, else blocks separated by
blank lines when there are any, else one document per line. Files: ``.jsonl`` / ``.json``,
``.csv``, ``.tsv`` and ``.txt``, UTF-8. Huge documents are accepted whole (the model's truncation
is shown per judgment), up to the file readers' size limit, which the box obeys too.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .. import docfiles
from ..types import Document

MAX_DOCUMENTS = 1000
FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt")


class DocumentInputError(ValueError):
    """The documents cannot be read; the message says what to fix."""


def _check(docs: list[Document]) -> list[Document]:
    if not docs:
        raise DocumentInputError("no documents: type at least one, or upload a file")
    if len(docs) > MAX_DOCUMENTS:
        raise DocumentInputError(f"{len(docs)} documents is too many for one run here (at most {MAX_DOCUMENTS})")
    # A list where only some documents carry a first-stage score is accepted: the run path scores
    # the whole list with BM25 and says so (runs.partial_first_stage_note, shown with the run).
    return docs


def parse_text(text: str | None) -> list[Document]:
    """Documents typed in the text box (see the module docstring for the rules)."""
    if text and len(text) > docfiles.MAX_FILE_BYTES:
        # Checked before any copy is made: the same bound as an uploaded file.
        raise DocumentInputError(f"the documents box holds {len(text):,} characters; the limit is "
                                 f"{docfiles.MAX_FILE_BYTES // 2**20} MiB, as for a file")
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DocumentInputError("no documents: type at least one, or upload a file")
    kind = "jsonl" if text.lstrip().startswith("{") else "txt"
    if kind == "txt":  # a line of spaces separates blocks like an empty one
        text = re.sub(r"(?m)^[ \t]+$", "", text)
    try:
        docs = docfiles.parse_documents(text, "the documents box" if kind == "txt" else "documents box", kind)
    except docfiles.DocumentFileError as error:
        raise DocumentInputError(str(error)) from None
    return _check(docs)


def parse_file(path: str | Path) -> list[Document]:
    """Documents from an uploaded file, chosen by its suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise DocumentInputError(
            f"{path.name}: unsupported file type {suffix or '(none)'}; use one of {', '.join(FILE_SUFFIXES)}"
        )
    try:
        return _check(docfiles.read_documents(path, "jsonl" if suffix == ".json" else None))
    except docfiles.DocumentFileError as error:
        raise DocumentInputError(str(error)) from None


def documents_to_text(docs: list[Document]) -> str:
    """JSON lines that ``parse_text`` reads back exactly (to fill the box from a benchmark)."""
    lines = []
    for d in docs:
        item: dict[str, Any] = {"id": d.doc_id, "content": d.text}
        if d.title:
            item["title"] = d.title
        if d.first_stage_score is not None:
            item["first_stage_score"] = d.first_stage_score
        lines.append(json.dumps(item, ensure_ascii=False))
    return "\n".join(lines)
