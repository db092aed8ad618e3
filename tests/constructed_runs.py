"""A constructed run for the Label next tests (unit, UI and browser): seven documents with chosen
first-stage scores, model scores, P(N) and score distributions (one without, one failed), qrels."""
from __future__ import annotations

from erank_studio import scoring
from erank_studio.store import Store
from erank_studio.types import Document, GenerationSettings, Judgment

SOURCE = "bench"
# doc_id: (first-stage score, model score, P(N), distribution peak, spread) - None score: failed
DOCS = {
    "d1": (9.0, 8, 0.9, 8, 0.05),
    "d2": (8.0, 2, 0.6, 2, 0.30),
    "d3": (7.0, 9, 0.5, 9, 0.45),
    "d4": (6.0, 5, 0.7, 5, None),  # no distribution stored
    "d5": (5.0, None, None, None, None),  # failed judgment
    "d6": (4.0, 7, 0.8, 7, 0.30),  # same entropy as d2: the tie goes to the better model rank
    "d7": (3.0, 3, 0.3, 3, 0.20),
}
QRELS = {"d1": 2, "d3": 0, "d7": 3}  # the others are not listed: relevance 0


def _distribution(peak: int, spread: float) -> list[float]:
    dist = [spread / 10] * 11
    dist[peak] = 1 - spread
    return dist


def _judgment(doc_id: str, index: int, thought: str = "t") -> Judgment:
    first, score, p, peak, spread = DOCS[doc_id]
    if score is None:
        return Judgment(doc_id, index, "garbage", "failed", failure="no_answer", first_stage_score=first)
    dist = _distribution(peak, spread) if spread is not None else None
    expected, entropy = scoring.distribution_summary(dist) if dist else (None, None)
    return Judgment(doc_id, index, f"<think>{thought}</think><answer>{score}</answer>", "ok",
                    trace=thought, score=score,
                    probability=p, rank_score=scoring.rank_score(score, p), first_stage_score=first,
                    score_distribution=dist, expected_score=expected, score_entropy=entropy)


def make_run(store: Store, source_query_id: str = "q1", model: str = "m", docs=DOCS, qrels=QRELS,
             instruction: str = "i", thought: str = "t") -> tuple[int, int]:
    """(query id, run id) of a finished run of the documents ``docs`` (keys of DOCS)."""
    query_id = store.upsert_query(f"query {source_query_id}", source=SOURCE, source_query_id=source_query_id)
    documents = [Document(d, f"text of {d}", first_stage_score=DOCS[d][0], first_stage_source="given") for d in docs]
    run_id = store.start_run(query_id, documents, model=model, engine="fake", instruction=instruction,
                             truncate_length=2048, generation=GenerationSettings(), alpha=0.2)
    store.add_judgments(run_id, [_judgment(d, i, thought) for i, d in enumerate(docs)])
    store.finish_run(run_id)
    if qrels:
        store.add_qrels([(source_query_id, d, r) for d, r in qrels.items()], source=SOURCE)
    return query_id, run_id
