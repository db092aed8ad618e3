"""Compare two runs: Kendall tau and Spearman equal scipy's on the shared documents judged ok in
both; ranks, changes and nDCG@10 come out of the stored values; runs that cannot be compared are
refused in one line (CLI: exit 2)."""
from __future__ import annotations

import json

import pytest
from scipy.stats import kendalltau, spearmanr

from erank_studio import compare, metrics, scoring
from erank_studio.cli import main
from erank_studio.store import Store
from erank_studio.types import Document, GenerationSettings, Judgment

# doc_id -> (score, P) in run A and in run B; None: a failed judgment
RUN_A = {"d1": (9, 0.9), "d2": (7, 0.5), "d3": (2, 0.8), "d4": (5, 0.6), "d5": (None, None), "d6": (7, 0.5)}
RUN_B = {"d1": (6, 0.7), "d2": (9, 0.9), "d3": (3, 0.5), "d4": (5, 0.6), "d5": (4, 0.5), "d6": (1, 0.9),
         "d9": (8, 0.8)}


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path}/c.sqlite") as s:
        yield s


def _run(store: Store, query_id: int, scores: dict, instruction: str, trace: str = "thinks") -> int:
    docs = [Document(d, f"text {d}", first_stage_score=1.0) for d in scores]
    run_id = store.start_run(query_id, docs, model="m", engine="fake", instruction=instruction,
                             truncate_length=2048, generation=GenerationSettings(), alpha=0.2)
    judgments = []
    for i, (d, (n, p)) in enumerate(scores.items()):
        if n is None:
            judgments.append(Judgment(d, i, "junk", "failed", failure="no_answer"))
        else:
            judgments.append(Judgment(d, i, f"<answer>{n}</answer>", "ok", trace=f"{trace} about {d}", score=n,
                                      probability=p, rank_score=scoring.rank_score(n, p)))
    store.add_judgments(run_id, judgments)
    store.finish_run(run_id)
    return run_id


def _two_runs(store: Store) -> tuple[int, int, int]:
    query_id = store.upsert_query("q", source="bench", source_query_id="q1")
    a = _run(store, query_id, RUN_A, "instruction one", "the model thinks")
    b = _run(store, query_id, RUN_B, "instruction two", "the model believes")
    return query_id, a, b


def test_kendall_tau_and_spearman_are_scipys_over_documents_ok_in_both(store):
    _, a, b = _two_runs(store)
    c = compare.compare_runs(store, a, b)
    both = [d for d in RUN_A if RUN_A[d][0] is not None and d in RUN_B]
    xs = [scoring.rank_score(*RUN_A[d]) for d in both]
    ys = [scoring.rank_score(*RUN_B[d]) for d in both]
    assert c.n_ok_both == len(both) == 5
    assert c.kendall_tau == pytest.approx(kendalltau(xs, ys).statistic, abs=1e-12)
    assert c.spearman == pytest.approx(spearmanr(xs, ys).statistic, abs=1e-12)
    assert c.only_b == ["d9"] and c.only_a == [] and len(c.rows) == 6
    assert compare.differing_settings(c) == ["instruction"]


def test_ranks_changes_and_ndcg_come_from_the_stored_scores(store):
    query_id, a, b = _two_runs(store)
    store.add_qrels([("q1", "d2", 3), ("q1", "d3", 1)], source="bench")
    store.add_label(query_id, "d1", "ann", 10)
    c = compare.compare_runs(store, a, b, annotator="ann")
    row = c.row("d2")
    # A: d1 8.1, d2 and d6 3.5 (d2 first: the table's order), d4 3.0, d3 1.6; B (shared): d2 8.1, d1 4.2, ...
    assert (row.rank_a, row.rank_b, row.rank_change) == (2, 1, 1)
    assert c.row("d5").rank_a is None and c.row("d5").rank_change is None
    assert [r.doc_id for r in c.rows][:2] == ["d1", "d2"]
    run_b = {"q": {r.doc_id: r.b.rank_score for r in c.rows}}
    assert c.ndcg["qrels"]["b"] == pytest.approx(metrics.ndcg_at_10(run_b, {"q": {"d2": 3, "d3": 1}})[0])
    assert c.ndcg["labels"]["a"] == pytest.approx(1.0)  # d1 (labelled 10) is A's first
    assert compare.compare_runs(store, a, b, annotator="nobody").ndcg["labels"] is None


def test_runs_that_cannot_be_compared_are_refused(store):
    _, a, _ = _two_runs(store)
    other = store.upsert_query("another query")
    c = _run(store, other, {"x": (5, 0.5)}, "i")
    with pytest.raises(compare.CompareError, match="different queries"):
        compare.compare_runs(store, a, c)
    with pytest.raises(compare.CompareError, match="itself"):
        compare.compare_runs(store, a, a)
    with pytest.raises(compare.CompareError, match="no run with id 99"):
        compare.compare_runs(store, a, 99)


def test_trace_diff_marks_the_changed_words():
    pieces = compare.trace_diff("the cat sat on the mat", "the dog sat on the mat")
    assert ("replace", "cat ", "dog ") in pieces
    assert "".join(p[1] for p in pieces) == "the cat sat on the mat"
    assert "".join(p[2] for p in pieces) == "the dog sat on the mat"


def test_cli_compare_table_json_and_refusal(store, capsys):
    _, a, b = _two_runs(store)
    assert main(["compare", str(a), str(b), "--json", "--db", store.url]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["kendall_tau"] == pytest.approx(compare.compare_runs(store, a, b).kendall_tau)
    assert payload["n_shared"] == 6 and payload["documents"][0]["doc_id"] == "d1"
    assert main(["compare", str(a), str(b), "--db", store.url]) == 0
    out = capsys.readouterr().out
    assert "Kendall tau:" in out and "differ in: instruction" in out
    other = store.upsert_query("another")
    c = _run(store, other, {"x": (5, 0.5)}, "i")
    assert main(["compare", str(a), str(c), "--db", store.url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different queries" in err
