"""The judging pipeline: documents -> prompts -> engine -> parsed, scored judgments (streamed)."""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from . import parse, prompt, retrieval, scoring
from .engines.base import FINISH_CANCELLED, FINISH_ERROR, CancelToken, Engine, Generation
from .engines.writing import writing_of
from .types import STATUS_FAILED, STATUS_FORCED, STATUS_OK, Document, GenerationSettings, Judgment

log = logging.getLogger(__name__)


SOURCE_GIVEN = "given"
SOURCE_BM25 = retrieval.SOURCE_BM25


def ensure_first_stage(query: str, documents: Sequence[Document]) -> list[Document]:
    """The one first-stage rule of every entry point (API, CLI, UI, batch, store): the given
    scores when every document has one, else BM25 over the whole candidate list.

    Why the whole list: the hybrid z-scores the first stage over the list, and z-scoring a mix
    of given scores (a dense retriever's cosine, a Lucene BM25) and BM25 scores computed here
    compares numbers on different scales; dropping the unscored documents from the hybrid would
    hide them. So BM25 runs when any document lacks a score and every score is marked "bm25"
    (the given ones are replaced for this list)."""
    docs = list(documents)
    if not docs or all(d.first_stage_score is not None for d in docs):
        for d in docs:
            d.first_stage_source = d.first_stage_source or SOURCE_GIVEN
        return docs
    scores = retrieval.bm25_scores(query, [d.text if not d.title else f"{d.title}\n{d.text}" for d in docs])
    for d, s in zip(docs, scores):
        d.first_stage_score = float(s)
        d.first_stage_source = SOURCE_BM25
    return docs


def build_prompts(
    engine: Engine,
    query: str,
    documents: Sequence[Document],
    instruction: str,
    truncate_length: int,
    template: str = prompt.DEFAULT_TEMPLATE,
) -> list[prompt.Prompt]:
    return [
        prompt.build(query, d.text, instruction, engine.tokenizer, truncate_length, template)
        for d in documents
    ]


def _judgment_from(
    generation: Generation,
    document: Document,
    built: prompt.Prompt,
    engine: Engine,
    settings: GenerationSettings,
) -> Judgment:
    judgment = Judgment(
        doc_id=document.doc_id,
        index=generation.index,
        raw_output=generation.text,
        status=STATUS_OK,
        first_stage_score=document.first_stage_score,
        first_stage_source=document.first_stage_source,
        prompt_tokens=generation.prompt_tokens,
        output_tokens=generation.output_tokens,
        latency_s=generation.latency_s,
        query_truncation=built.query_truncation,
        document_truncation=built.document_truncation,
        prompt_message=built.message,
        extra=dict(generation.extra),
    )
    if generation.finish_reason in (FINISH_ERROR, FINISH_CANCELLED):
        judgment.status = STATUS_FAILED
        judgment.failure = parse.ENGINE_ERROR
        judgment.failure_detail = generation.error or generation.finish_reason
        judgment.trace = parse.extract_trace(generation.text)
        return judgment
    parsed = parse.parse_output(generation.text, generation.finish_reason)
    judgment.trace = parsed.trace
    if parsed.ok:
        judgment.score = parsed.score
        judgment.probability = scoring.score_probability(
            generation.pieces, generation.logprobs, generation.text, parsed.score_span, generation.spans
        )
        judgment.rank_score = scoring.rank_score(parsed.score, judgment.probability)
        if generation.score_digits is not None:
            digits = generation.score_digits
            _set_distribution(judgment, scoring.score_distribution(digits.first, digits.zero_after_one))
        if judgment.rank_score is None:
            judgment.status = STATUS_FAILED
            judgment.failure = parse.ENGINE_ERROR
            judgment.failure_detail = "the engine returned no logprob for the score token"
        return judgment
    judgment.failure = parsed.failure
    judgment.failure_detail = parsed.detail
    judgment.status = STATUS_FAILED
    if settings.force_answer:
        distribution = engine.force_scores(built, generation.text)
        if distribution:
            forced = max(distribution, key=lambda n: (distribution[n], -n))
            judgment.status = STATUS_FORCED
            judgment.score = forced
            judgment.probability = distribution[forced]
            judgment.rank_score = scoring.rank_score(forced, distribution[forced])
            judgment.extra["forced_distribution"] = {str(k): v for k, v in distribution.items()}
            # A forced score is read from this very distribution: it is the judgment's.
            _set_distribution(judgment, [float(distribution.get(n, 0.0)) for n in scoring.SCORE_VALUES])
    return judgment


def _set_distribution(judgment: Judgment, distribution: list[float] | None) -> None:
    """Store P(0..10) with its E[N] and entropy (nothing when the engine could not read it)."""
    if distribution is None:
        return
    judgment.score_distribution = distribution
    judgment.expected_score, judgment.score_entropy = scoring.distribution_summary(distribution)


def judge(
    engine: Engine,
    query: str,
    documents: Sequence[Document],
    instruction: str,
    truncate_length: int = prompt.DEFAULT_TRUNCATE_LENGTH,
    settings: GenerationSettings | None = None,
    cancel: CancelToken | None = None,
    template: str = prompt.DEFAULT_TEMPLATE,
) -> Iterator[Judgment]:
    """Judge every document, yielding each judgment as soon as the engine finishes it.

    ``template`` names the prompt wording (``prompt.TEMPLATES``; the released code's by
    default). Documents should already carry first-stage scores (see ``ensure_first_stage``)."""
    settings = settings or GenerationSettings()
    docs = list(documents)
    if not docs:
        return
    prompts = build_prompts(engine, query, docs, instruction, truncate_length, template)
    writing = writing_of(cancel)
    for generation in engine.generate(prompts, settings, cancel):
        # Closed here for every engine: the document is no longer being written.
        writing.end(generation.index, generation.output_tokens or len(generation.token_ids))
        yield _judgment_from(generation, docs[generation.index], prompts[generation.index], engine, settings)


def apply_hybrid(judgments: Sequence[Judgment], alpha: float = scoring.DEFAULT_ALPHA) -> None:
    """Set each judgment's hybrid score over the list (None where a score is missing)."""
    values = scoring.hybrid(
        [j.first_stage_score for j in judgments], [j.rank_score for j in judgments], alpha
    )
    for j, value in zip(judgments, values):
        j.hybrid_score = value
