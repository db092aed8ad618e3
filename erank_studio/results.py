"""What ``Reranker.rerank`` returns: one typed result per document that still reads as the dict
documented since the first release (``r["rank_score"]``, ``"content" in r``, ``r.get(...)``,
``dict(r)``, ``json.dumps(r.to_dict())``). Shaped after AnswerDotAI/rerankers' ``Result``: the
input document, the model's judgment, and the scores, with one ``to_dict``.

That ``to_dict`` is every entry point's row of a judged document: the Python API's results,
``rerank --docs``' JSON lines and ``/rerank_documents``' judgments (tests/test_results.py
holds the three side by side). The CLI and the web API add the document's place in their list
(``rank``) and echo at most ``ECHO_CHARS`` of its text: two arguments of ``to_dict``, not
other dicts."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import scoring
from .judge import SOURCE_BM25
from .types import Document, Judgment

# The judgment's fields a result carries (and its dict shows), in this order. Not the prompt (the
# store keeps it for SFT export), nor the first-stage score: the document's own is the caller's
# (``first_stage_score``), one BM25 computed is ``bm25_score``, and the two are never mixed.
JUDGMENT_FIELDS = (
    "doc_id", "index", "raw_output", "trace", "score", "probability", "status", "failure", "failure_detail",
    "first_stage_source", "prompt_tokens", "output_tokens", "latency_s", "truncated",
    "query_truncation", "document_truncation", "score_distribution", "expected_score", "score_entropy", "extra",
)
# The most of a document's text the CLI's JSON lines and the web API echo back (a 50 MB document
# is not sent back whole); ``content_truncated`` says when it was cut.
ECHO_CHARS = 10_000


@dataclass(eq=False)  # equality is the Mapping's: a result equals the dict it reads as
class RerankResult(Mapping[str, Any]):
    """One document's result: the caller's document (a copy), ``rank_score`` (N x P(N), None when
    the judgment failed), the judgment's fields, ``bm25_score`` when BM25 scored the list, and
    ``hybrid_score`` once ``hybrid_scores`` has set it."""

    document: dict[str, Any]
    rank_score: float | None
    judgment: dict[str, Any] = field(repr=False)
    bm25_score: float | None = None
    hybrid_score: float | None = None
    hybrid_set: bool = field(default=False, repr=False)  # None is a hybrid score too (a failed judgment)

    @classmethod
    def of(cls, document: Mapping[str, Any], judgment: Judgment, bm25_score: float | None = None) -> RerankResult:
        data = judgment.to_dict()
        return cls(document=dict(document), rank_score=judgment.rank_score,
                   judgment={name: data[name] for name in JUDGMENT_FIELDS}, bm25_score=bm25_score)

    def with_hybrid(self, value: float | None) -> RerankResult:
        return dataclasses.replace(self, hybrid_score=value, hybrid_set=True)

    def __getattr__(self, name: str) -> Any:
        # r.score, r.trace, r.content...: the judgment's fields, then the document's.
        for source in ("judgment", "document"):
            values = self.__dict__.get(source) or {}
            if name in values:
                return values[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def to_dict(self, *, rank: int | None = None, max_content_chars: int | None = None) -> dict[str, Any]:
        """The result as the documented dict: the document's fields, ``rank_score``, ``bm25_score``
        (where BM25 scored the list), the judgment's fields, ``hybrid_score`` (once set).

        The entry points that print a ranked list (the CLI, the web API) pass ``rank`` (the
        result's place in it, then the first key) and ``max_content_chars`` (``content`` cut to
        that many characters, with ``content_truncated: true`` when it was longer)."""
        data: dict[str, Any] = {"rank": rank} if rank is not None else {}
        data.update(self.document)
        content = data.get("content")
        if max_content_chars is not None and isinstance(content, str) and len(content) > max_content_chars:
            data["content"] = content[:max_content_chars]
            data["content_truncated"] = True
        data["rank_score"] = self.rank_score
        if self.bm25_score is not None:
            data["bm25_score"] = self.bm25_score
        data.update(self.judgment)
        if self.hybrid_set:
            data["hybrid_score"] = self.hybrid_score
        return data

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def document_dict(document: Document) -> dict[str, Any]:
    """A document as the Python API takes it (ERank's dict): ``id``, ``content``, and ``title`` and
    ``first_stage_score`` where it has them (a score BM25 computed is a result's ``bm25_score``)."""
    data: dict[str, Any] = {"id": document.doc_id, "content": document.text}
    if document.title is not None:
        data["title"] = document.title
    if document.first_stage_score is not None and document.first_stage_source != SOURCE_BM25:
        data["first_stage_score"] = document.first_stage_score
    return data


def result_of(judgment: Judgment, document: Mapping[str, Any] | Document, judged: Document | None = None, *,
              hybrid: bool = False) -> RerankResult:
    """The result of one judged document. ``document`` is the document as it was given (a Document
    reads as ``document_dict``); ``judged`` is the run's copy of it (``runs.Run.spec.documents``:
    its first-stage score is BM25's when BM25 scored the list, shown as ``bm25_score``). With
    ``hybrid``, the hybrid score the run path set (the CLI and the web API have it at the end of
    a run; the Python API's callers add it with ``hybrid_scores``)."""
    given = document_dict(document) if isinstance(document, Document) else document
    bm25 = judged.first_stage_score if judged is not None and judged.first_stage_source == SOURCE_BM25 else None
    result = RerankResult.of(given, judgment, bm25)
    return result.with_hybrid(judgment.hybrid_score) if hybrid else result


def ranked(results: Sequence[RerankResult], by: str = "rank_score") -> list[RerankResult]:
    """Best first by ``by`` (``rank_score`` or ``hybrid_score``): missing scores (failed
    judgments) last, ties in the documents' input order."""
    in_input_order = sorted(results, key=lambda r: r.judgment["index"])
    return [in_input_order[i] for i in scoring.order([getattr(r, by) for r in in_input_order])]
