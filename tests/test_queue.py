"""Label next: for each strategy, the queue over a constructed run is the order computed here from
the stored values; labelled documents leave it; a batch spans its queries; the CLI prints it."""
from __future__ import annotations

import json

import pytest

from erank_studio import grading, queue, scoring
from erank_studio.cli import main
from erank_studio.store import Store
from erank_studio.types import Judgment

from constructed_runs import DOCS, SOURCE, make_run


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path}/q.sqlite") as s:
        yield s


def expected_order(store: Store, run_id: int, strategy: str, annotator: str | None) -> list[str]:
    """The order computed directly from what the store holds."""
    judgments = store.run_judgments(run_id)
    query_id = store.run_info(run_id)["query_id"]
    labelled = {d for d, row in store.current_labels(query_id, annotator).items() if row.score is not None}
    qrels = store.qrels_for(query_id)
    ok = [j for j in judgments if j.status == "ok"]
    model_rank = {j.doc_id: r for r, j in enumerate(sorted(ok, key=lambda j: (-j.rank_score, j.index)), start=1)}
    first_rank = {j.doc_id: r for r, j in enumerate(sorted(judgments, key=lambda j: (-j.first_stage_score, j.index)),
                                                    start=1)}

    def value(j: Judgment):
        if strategy == "entropy":
            return None if j.score_entropy is None else -j.score_entropy
        if strategy == "first_stage":
            return -abs(model_rank[j.doc_id] - first_rank[j.doc_id]) if j.doc_id in model_rank else None
        if strategy == "qrels":
            return None if j.score is None else -abs(grading.grade(j.score) - qrels.get(j.doc_id, 0))
        return model_rank.get(j.doc_id)

    todo = [j for j in judgments if j.doc_id not in labelled]
    todo.sort(key=lambda j: (value(j) is None, value(j) or 0, j.doc_id not in model_rank,
                             model_rank.get(j.doc_id, 0), j.doc_id))
    return [j.doc_id for j in todo]


@pytest.mark.parametrize("strategy", list(queue.STRATEGIES))
def test_each_strategy_orders_the_unlabelled_documents_as_the_stored_values_say(store, strategy):
    query_id, run_id = make_run(store)
    store.add_label(query_id, "d3", "ann", 4)  # labelled by ann: out of ann's queue
    store.add_label(query_id, "d1", "bob", 9)  # another person's label does not count for ann
    got = queue.run_queue(store, run_id, strategy, "ann")
    want = expected_order(store, run_id, strategy, "ann")
    assert [i.doc_id for i in got.items] == want
    assert "d3" not in want and "d1" in want and len(want) == 6
    assert got.n_candidates == 7 and got.n_labelled == 1


def test_the_orders_are_the_ones_the_values_imply(store):
    _, run_id = make_run(store)
    order = lambda s: [i.doc_id for i in queue.run_queue(store, run_id, s).items]  # noqa: E731
    # entropy: spread 0.45 > 0.30 (d2, d6 tied: d6 ranks higher) > 0.20 > 0.05; d4 (none) and d5 (failed) last
    assert order("entropy")[:5] == ["d3", "d6", "d2", "d7", "d1"]
    assert set(order("entropy")[5:]) == {"d4", "d5"}
    # rank scores 7.2, 5.6, 4.5, 3.5, 1.2, 0.9, failed
    assert order("rank") == ["d1", "d6", "d3", "d4", "d2", "d7", "d5"]
    # |grade - qrel|: d3 9 -> 3 vs 0; d6 7 -> 2 vs 0 and d7 3 -> 1 vs 3 (tie: d6 ranks higher); d4 1; d1, d2 0
    assert order("qrels") == ["d3", "d6", "d7", "d4", "d1", "d2", "d5"]
    assert order("entropy")[-1] == "d5" and queue.run_queue(store, run_id, "entropy").notes


def test_the_qrels_strategy_without_qrels_is_refused_in_one_line(store):
    _, run_id = make_run(store, source_query_id="bare", qrels=None)
    with pytest.raises(queue.QueueUnavailable, match="needs qrels"):
        queue.run_queue(store, run_id, "qrels")


def test_a_batch_queue_spans_the_queries_of_its_source(store):
    make_run(store, "q1")
    make_run(store, "q2", docs={d: DOCS[d] for d in ("d1", "d2", "d6")})
    got = queue.batch_queue(store, SOURCE, "entropy")
    assert len(got.items) == 10 and {i.source_query_id for i in got.items} == {"q1", "q2"}
    entropies = [i.entropy for i in got.items if i.entropy is not None]
    assert entropies == sorted(entropies, reverse=True)
    make_run(store, "q1", model="other")
    with pytest.raises(queue.QueueUnavailable, match="several models"):
        queue.batch_queue(store, SOURCE, "entropy")
    assert len(queue.batch_queue(store, SOURCE, "entropy", model="other").items) == 7
    with pytest.raises(queue.QueueUnavailable, match="no queries"):
        queue.batch_queue(store, "nowhere", "rank")


def test_cli_queue_prints_the_same_order(store, capsys):
    _, run_id = make_run(store)
    assert main(["queue", "--run", str(run_id), "--strategy", "entropy", "--json", "--db", store.url]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [i["doc_id"] for i in payload["items"]] == [i.doc_id for i in queue.run_queue(store, run_id, "entropy").items]
    assert main(["queue", "--dataset", SOURCE, "--strategy", "rank", "--limit", "2", "--db", store.url]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[3] == "d1" and "7 in the queue (rank)" in out
    assert main(["queue", "--run", "999", "--strategy", "rank", "--db", store.url]) == 2
    assert "no run with id 999" in capsys.readouterr().err
