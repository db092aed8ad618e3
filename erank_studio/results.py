"""What ``Reranker.rerank`` returns: one typed result per document that still reads as the dict
documented since the first release (``r["rank_score"]``, ``"content" in r``, ``r.get(...)``,
``dict(r)``, ``json.dumps(r.to_dict())``). Shaped after AnswerDotAI/rerankers' ``Result``: the
input document, the model's judgment, and the scores, with one ``to_dict``."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .types import Judgment

# The judgment's fields a result carries (and its dict shows), in this order.
JUDGMENT_FIELDS = (
    "doc_id", "raw_output", "trace", "score", "probability", "status", "failure", "failure_detail",
    "prompt_tokens", "output_tokens", "latency_s", "truncated",
    "score_distribution", "expected_score", "score_entropy",
)


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

    def to_dict(self) -> dict[str, Any]:
        """The result as the documented dict: the document's fields, ``rank_score``, ``bm25_score``
        (where BM25 scored the list), the judgment's fields, ``hybrid_score`` (once set)."""
        data = dict(self.document)
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
