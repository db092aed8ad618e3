"""The Python API, shaped like ERank's own examples:

    from erank_studio import Reranker, hybrid_scores
    reranker = Reranker("Alibaba-NLP/ERank-4B")
    results = reranker.rerank(query, [{"content": "...", "first_stage_score": 46.7}], instruction)
    results = hybrid_scores(results, alpha=0.2)
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import judge, prompt, runs, scoring, text_rules
from .engines import Engine, load_engine, suggested_max_new_tokens
from .engines.base import CancelToken
from .results import RerankResult, ranked, result_of
from .types import Document, GenerationSettings, Judgment



def documents_from_dicts(docs: Sequence[Mapping[str, Any]]) -> list[Document]:
    """ERank-style dicts ({"content", optional "id", "title", "first_stage_score"}) as Documents."""
    for position, item in enumerate(docs):
        if not isinstance(item, Mapping) or not isinstance(item.get("content"), str):
            raise ValueError(f"document {position + 1} needs a 'content' string")
    # Documents without an id get the id of their text (``text_rules.text_doc_ids``), as everywhere.
    text_ids = text_rules.text_doc_ids([item["content"] for item in docs])
    documents = []
    for position, item in enumerate(docs):
        score = item.get("first_stage_score")
        documents.append(
            Document(
                doc_id=str(item.get("id", item.get("doc_id", text_ids[position]))),
                text=item["content"],
                title=item.get("title"),
                first_stage_score=None if score is None else float(score),
                first_stage_source="given" if score is not None else None,
            )
        )
    return documents


class Reranker:
    """ERank over an engine; ``engine`` is "auto", "transformers", "vllm", "openai" or an Engine."""

    def __init__(self, model: str | None = None, engine: str | Engine = "auto", **options: Any) -> None:
        self.engine: Engine = engine if not isinstance(engine, str) else load_engine(model, engine, **options)

    @property
    def warning(self) -> str | None:
        return self.engine.warning

    def judge(
        self,
        query: str,
        documents: Sequence[Document],
        instruction: str = prompt.DEFAULT_INSTRUCTION,
        truncate_length: int = prompt.DEFAULT_TRUNCATE_LENGTH,
        settings: GenerationSettings | None = None,
        cancel: CancelToken | None = None,
        template: str = prompt.DEFAULT_TEMPLATE,
    ) -> Iterator[Judgment]:
        """Judgments as they finish, through the one run path (``runs``: the input rules, and
        first-stage scores from BM25 for the whole list where any document came without one)."""
        yield from self._judge(query, documents, instruction, truncate_length, settings, cancel, template)[1]

    def _judge(self, query, documents, instruction, truncate_length, settings, cancel, template):
        if settings is None:
            settings = GenerationSettings(max_new_tokens=suggested_max_new_tokens(self.engine),
                                          force_answer=not self.engine.is_reranker)
        spec = runs.RunSpec(query=query, documents=list(documents), instruction=instruction, template=template,
                            truncate_length=truncate_length, settings=settings)
        run = runs.prepare(spec, self.engine)
        return run, runs.execute(run, self.engine, cancel=cancel)

    def rerank(
        self,
        query: str,
        docs: Sequence[dict[str, Any]],
        instruction: str = prompt.DEFAULT_INSTRUCTION,
        truncate_length: int = prompt.DEFAULT_TRUNCATE_LENGTH,
        settings: GenerationSettings | None = None,
        template: str = prompt.DEFAULT_TEMPLATE,
    ) -> list[RerankResult]:
        """The docs (copies), each with ``rank_score`` and the judgment's fields, best first: typed
        results (``results.RerankResult``) that read as the documented dicts.

        Failed judgments have ``rank_score`` None and come last, in input order."""
        run, judging = self._judge(query, documents_from_dicts(docs), instruction, truncate_length, settings,
                                   None, template)
        # The whole list was scored by BM25 (the one hybrid rule) when any document had no
        # first-stage score: every result then says so (``bm25_score``, from the run's copy).
        judged = run.spec.documents
        return ranked([result_of(j, docs[j.index], judged[j.index]) for j in judging])


def hybrid_scores(
    results: Sequence[Mapping[str, Any]],
    alpha: float = scoring.DEFAULT_ALPHA,
    query: str | None = None,
) -> list[Mapping[str, Any]]:
    """Add ``hybrid_score`` (population z-scores of first stage and rank score), best first.

    The first stage follows the studio's one rule (``judge.ensure_first_stage``): the given
    ``first_stage_score`` when every result has one, else BM25 over the whole list, never a mix.
    Results of ``rerank`` carry those BM25 scores (``bm25_score``); other lists with gaps need
    ``query`` to compute them."""
    if results and all(r.get("bm25_score") is not None for r in results):
        first = [float(r["bm25_score"]) for r in results]
    elif all(r.get("first_stage_score") is not None for r in results):
        first = [float(r["first_stage_score"]) for r in results]
    elif query is not None:
        documents = judge.ensure_first_stage(query, documents_from_dicts(results))
        first = [float(d.first_stage_score) for d in documents]  # type: ignore[arg-type]
    else:
        raise ValueError(
            "some results have no first_stage_score: pass query= so the whole list gets BM25 "
            "scores (given and computed scores are never mixed), or use the results of rerank()"
        )
    values = scoring.hybrid(first, [r.get("rank_score") for r in results], alpha)
    updated = [r.with_hybrid(v) if isinstance(r, RerankResult) else dict(r, hybrid_score=v)
               for r, v in zip(results, values)]
    return [updated[i] for i in scoring.order(values)]
