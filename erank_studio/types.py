"""The nouns of ERank Studio: documents, run settings and judgments (see README, "Words")."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUS_OK = "ok"
STATUS_FORCED = "forced"
STATUS_FAILED = "failed"


@dataclass
class Document:
    """One candidate text for a query."""

    doc_id: str
    text: str
    title: str | None = None
    first_stage_score: float | None = None
    # "given" when the score came with the document, "bm25" when ERank Studio computed it.
    first_stage_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Truncation:
    """How much of a query or document the model actually read."""

    original_tokens: int
    kept_tokens: int
    # False when only a head of a long text was tokenized: original_tokens is then a lower bound.
    counted_all: bool = True

    @property
    def truncated(self) -> bool:
        return self.kept_tokens < self.original_tokens


# ERank's released vLLM code generates up to 4096 tokens (max_tokens=4096).
DEFAULT_MAX_NEW_TOKENS = 4096
# The most a request may ask for unless the operator's default (ERANK_MAX_NEW_TOKENS) is larger:
# ERank's traces stay well under it, and it keeps one request from holding the engine for hours.
MAX_NEW_TOKENS_CAP = 8192


@dataclass
class GenerationSettings:
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    force_answer: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Judgment:
    """What the model said about one document in one run."""

    doc_id: str
    index: int
    raw_output: str
    status: str
    trace: str | None = None
    score: int | None = None
    probability: float | None = None
    rank_score: float | None = None
    failure: str | None = None
    failure_detail: str | None = None
    first_stage_score: float | None = None
    first_stage_source: str | None = None
    hybrid_score: float | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    query_truncation: Truncation | None = None
    document_truncation: Truncation | None = None
    # The user message exactly as the model read it (after truncation): SFT export reuses it.
    prompt_message: str | None = None
    # The model's distribution over the answer 0..10 where the engine could read it (index n is
    # P(n), summing to 1), its expected score E[N] and its entropy in bits (the uncertainty).
    score_distribution: list[float] | None = None
    expected_score: float | None = None
    score_entropy: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != STATUS_FAILED

    @property
    def truncated(self) -> bool:
        return bool(
            (self.query_truncation and self.query_truncation.truncated)
            or (self.document_truncation and self.document_truncation.truncated)
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["truncated"] = self.truncated
        return data
