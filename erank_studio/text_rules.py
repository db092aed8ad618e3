"""What text the studio can keep, for every reader and the store alike: no NUL character
(PostgreSQL's text cannot hold it) and no lone surrogate (U+D800..U+DFFF: what a JSON escape such
as "\\ud800" or an undecodable command-line byte becomes in Python; it is not Unicode text, and
no encoding, tokenizer or store can take it). Dependency-free, so readers can check early."""
from __future__ import annotations

import re

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def problem(text: str) -> str | None:
    """Why ``text`` cannot be kept (a phrase to follow the field's name), or None."""
    if "\x00" in text:
        return "may not contain the NUL character (U+0000)"
    surrogate = LONE_SURROGATE.search(text)
    if surrogate:
        return (f"holds a lone surrogate (U+{ord(surrogate.group()):04X} at character {surrogate.start() + 1}), "
                "which is not Unicode text")
    return None


# -- the one input rule -------------------------------------------------------------------------
# Every entry point (Python API, CLI rerank / prompt, the web app, the batch) passes the query, the
# instruction and each document through these before a prompt is built, so the same input gives
# the same prompt bytes wherever it came in (README, "How ERank is reproduced").

BOM = "\ufeff"


def normalise(text: str, *, strip: bool) -> str:
    """Drop one leading byte-order mark, turn CRLF and lone CR into LF, and (``strip``) remove
    surrounding whitespace. Idempotent, so applying it twice (a reader, then the run) is safe."""
    if text.startswith(BOM):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.strip() if strip else text


def normalise_query(text: str) -> str:
    """A query or an instruction: surrounding whitespace is not part of what is asked."""
    return normalise(text, strip=True)


normalise_instruction = normalise_query


def normalise_document(text: str) -> str:
    """A document's text keeps its surrounding whitespace (it is the document as given); only the
    BOM and the line endings, which no reader should see, go."""
    return normalise(text, strip=False)


def text_doc_id(text: str) -> str:
    """The id of a document that came without one: ``d-`` and 8 hex digits of the SHA-1 of its
    normalised text, so the same text always gets the same id and another text (almost surely)
    another one: an id typed once never comes to mean another text in a later run."""
    import hashlib

    return "d-" + hashlib.sha1(normalise_document(text).encode("utf-8", "surrogatepass")).hexdigest()[:8]


def text_doc_ids(texts: list[str]) -> list[str]:
    """``text_doc_id`` for each text; the same text again in one list gets ``-2``, ``-3``... (two
    documents typed twice are two rows, and each copy keeps its id in every run)."""
    seen: dict[str, int] = {}
    ids = []
    for text in texts:
        base = text_doc_id(text)
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return ids
