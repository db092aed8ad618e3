"""A run to build campaigns from (unit, CLI, API and browser tests of campaigns), and the worker the
parallel test starts in other processes."""
from __future__ import annotations

from erank_studio import scoring
from erank_studio.store import Store
from erank_studio.types import Document, GenerationSettings, Judgment

SOURCE = "camp"


def model_score(n: int) -> int:
    return (n * 7) % 11


def _judgment(n: int) -> Judgment:
    score = model_score(n)
    dist = [0.02] * 11
    dist[score] = 0.8
    expected, entropy = scoring.distribution_summary(dist)
    return Judgment(f"d{n}", n, f"<think>thought {n}</think><answer>{score}</answer>", "ok",
                    trace=f"thought {n}", score=score, probability=0.8, rank_score=scoring.rank_score(score, 0.8),
                    first_stage_score=float(100 - n), score_distribution=dist, expected_score=expected,
                    score_entropy=entropy)


def make_run(store: Store, n_docs: int = 50, query: str = "tidal energy storage",
             source_query_id: str = "q1", paragraphs: int = 1) -> tuple[int, int]:
    """(query id, run id) of a finished run judging ``n_docs`` documents d0, d1, ... (each of
    ``paragraphs`` paragraphs: a long one shows whether a page still fits the screen)."""
    query_id = store.upsert_query(query, source=SOURCE, source_query_id=source_query_id)
    docs = [Document(f"d{n}", "\n\n".join([f"Document {n} about tidal energy and storage, text {n}."] * paragraphs),
                     first_stage_score=float(100 - n), first_stage_source="given") for n in range(n_docs)]
    run_id = store.start_run(query_id, docs, model="m", engine="fake", instruction="Given a query, find it.",
                             truncate_length=2048, generation=GenerationSettings(), alpha=0.2)
    store.add_judgments(run_id, [_judgment(n) for n in range(n_docs)])
    store.finish_run(run_id)
    return query_id, run_id


_START = None


def hold_start(barrier) -> None:
    """Pool initializer: keep the barrier every worker waits on, so all start labelling at once."""
    global _START
    _START = barrier


def label_until_done(url: str, campaign: str, person: str) -> list[int]:
    """What one annotator does in their own process: ask, label, until nothing is left; returns
    the items they labelled."""
    from erank_studio.store.campaigns import work

    done = []
    with Store(url) as store:
        if _START is not None:
            _START.wait()
        while True:
            item = work.next_item(store, campaign, person)
            if item is None:
                return done
            work.label(store, campaign, person, item["item"], score=len(done) % 11, seconds=1.5)
            done.append(item["item"])
