"""evaluate's conventions: one grading rule for human labels, which queries a mean is over."""
from __future__ import annotations

import json

import pytest

from erank_studio import grading, metrics
from erank_studio.cli import main
from erank_studio.store import Store
from erank_studio.types import STATUS_FAILED, STATUS_OK, Document, GenerationSettings, Judgment

DATASET = "tinyset"
# query id -> [(doc_id, model score or None for a failed judgment, first-stage score)]
JUDGED = {
    "q1": [("a", 9, 3.0), ("b", 2, 2.0), ("c", 6, 1.0), ("d", 4, 0.5)],
    "q2": [("x", 1, 1.0), ("y", 8, 2.0), ("z", 5, 0.1)],
    "q3": [("m", None, 1.0), ("n", None, 2.0)],  # every judgment failed
}


def _store(path) -> tuple[str, dict[str, int]]:
    url = f"sqlite:///{path}"
    ids = {}
    with Store(url) as store:
        for qid, rows in JUDGED.items():
            query_id = store.upsert_query(f"query {qid}", source=DATASET, source_query_id=qid)
            ids[qid] = query_id
            docs = [Document(d, f"text of {d}", first_stage_score=f, first_stage_source="given") for d, _, f in rows]
            run = store.start_run(query_id, docs, model="m", engine="fake", instruction="i", truncate_length=64,
                                  generation=GenerationSettings(), alpha=0.2)
            for index, (doc_id, score, first) in enumerate(rows):
                ok = score is not None
                store.add_judgment(run, Judgment(
                    doc_id=doc_id, index=index, raw_output="x", status=STATUS_OK if ok else STATUS_FAILED,
                    score=score, probability=0.9 if ok else None, rank_score=score * 0.9 if ok else None,
                    first_stage_score=first, first_stage_source="given", failure=None if ok else "no_answer"))
            store.finish_run(run)
        # Two people, a correction and an undo: the "current label" rule is exercised too.
        store.add_label(ids["q1"], "a", "ann", 10)
        store.add_label(ids["q1"], "b", "ann", 3)
        store.add_label(ids["q1"], "c", "bob", 7)
        store.add_label(ids["q1"], "c", "ann", 1)  # the most recent current label of anyone wins
        store.add_label(ids["q1"], "d", "bob", 5)
        store.add_label(ids["q1"], "d", "bob", 9)
        store.undo_label(ids["q1"], "d", "bob")  # back to 5
        store.add_label(ids["q2"], "y", "bob", 6)
        store.add_label(ids["q2"], "z", "ann", 8)
        store.add_label(ids["q3"], "m", "ann", 10)
    return url, ids


def _evaluate(capsys, *args) -> dict:
    assert main(["evaluate", *args, "--json", "-"]) == 0
    return json.loads(capsys.readouterr().out)


def test_grade_is_the_one_rule():
    assert [grading.grade(s) for s in range(11)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3]
    for bad in (-1, 11, 7.5, True, None):
        with pytest.raises((TypeError, ValueError)):
            grading.grade(bad)


@pytest.mark.parametrize("annotator", [None, "ann", "bob"])
def test_evaluate_against_labels_equals_evaluate_against_the_exported_qrels(tmp_path, capsys, annotator):
    url, _ = _store(tmp_path / "db.sqlite")
    who = ["--annotator", annotator] if annotator else []
    qrels_file = tmp_path / "labels.qrels"
    assert main(["export", "--format", "qrels", "--out", str(qrels_file), "--db", url, *who]) == 0
    capsys.readouterr()
    for missing in metrics.MISSING:
        by_labels = _evaluate(capsys, "--dataset", DATASET, "--db", url, "--against", "labels", "--missing", missing, *who)
        by_file = _evaluate(capsys, "--dataset", DATASET, "--db", url, "--qrels", str(qrels_file), "--missing", missing)
        assert by_labels["systems"] == by_file["systems"]  # value for value, every system and query
        assert by_labels["qrels_queries"] == by_file["qrels_queries"]
        assert by_labels["grading"] == grading.RULE


def test_graded_gains_not_raw_scores(tmp_path, capsys):
    url, _ = _store(tmp_path / "db.sqlite")
    result = _evaluate(capsys, "--dataset", DATASET, "--db", url, "--against", "labels", "--annotator", "ann")
    # q1 by ann: a=10 -> 3, b=3 -> 1, c=1 -> 0; the model ranks a (8.1), c (5.4), b (1.8).
    qrels = {"q1": {"a": 3, "b": 1, "c": 0}}
    run = {"q1": {"a": 8.1, "b": 1.8, "c": 5.4, "d": 3.6}}
    expected, _ = metrics.ndcg_at_10(run, qrels)
    raw, _ = metrics.ndcg_at_10(run, {"q1": {"a": 10, "b": 3, "c": 1}})
    assert result["systems"]["model"]["per_query"]["q1"] == pytest.approx(expected)
    assert expected != pytest.approx(raw)


def test_mean_is_over_queries_in_both_and_says_so(tmp_path, capsys):
    url, _ = _store(tmp_path / "db.sqlite")
    skip = _evaluate(capsys, "--dataset", DATASET, "--db", url, "--against", "labels")
    zero = _evaluate(capsys, "--dataset", DATASET, "--db", url, "--against", "labels", "--missing", "zero")
    # q3's judgments all failed: the model run lacks it; the qrels (labels) have it.
    assert skip["qrels_queries"] == zero["qrels_queries"] == 3
    assert skip["systems"]["model"]["n_queries"] == 2 and zero["systems"]["model"]["n_queries"] == 3
    assert zero["systems"]["model"]["per_query"]["q3"] == 0.0
    assert zero["systems"]["model"]["mean"] == pytest.approx(skip["systems"]["model"]["mean"] * 2 / 3)
    # The first stage has q3 (its scores came with the documents): both conventions agree there.
    assert skip["systems"]["first_stage"]["mean"] == pytest.approx(zero["systems"]["first_stage"]["mean"])


def test_table_output_states_the_convention_and_the_grading(tmp_path, capsys):
    url, _ = _store(tmp_path / "db.sqlite")
    assert main(["evaluate", "--dataset", DATASET, "--db", url, "--against", "labels"]) == 0
    out = capsys.readouterr().out
    assert "(first_stage 3, model 2, hybrid 2 of 3 qrels queries; trec_eval's default" in out
    assert f"graded {grading.RULE}" in out
    assert main(["evaluate", "--dataset", DATASET, "--db", url, "--against", "labels", "--missing", "zero"]) == 0
    assert "means over all 3 qrels queries; a query a run lacks counts 0" in capsys.readouterr().out


def test_missing_zero_on_files(tmp_path, capsys):
    qrels = tmp_path / "q.qrels"
    qrels.write_text("q1 0 a 1\nq2 0 x 1\n")
    run = tmp_path / "r.run"
    run.write_text("q1 Q0 a 1 2.0 m\n")
    skip = _evaluate(capsys, "--run", str(run), "--qrels", str(qrels))
    zero = _evaluate(capsys, "--run", str(run), "--qrels", str(qrels), "--missing", "zero")
    assert skip["systems"]["r.run"]["mean"] == 1.0 and zero["systems"]["r.run"]["mean"] == 0.5


def test_model_score_expected_ranks_by_the_distributions_mean(tmp_path, capsys):
    """--model-score expected: the model's run is E[N] (stored with each judgment), named apart;
    its nDCG equals ir_measures' on that run, and judgments without a distribution drop out."""
    from erank_studio import scoring

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # E[N] reverses rank_score's order on q1: the distribution, not N x P(N), decides
    peaks = {"a": 1, "b": 9, "c": 5}
    with Store(url) as store:
        query_id = store.upsert_query("query q1", source=DATASET, source_query_id="q1")
        docs = [Document(d, d, first_stage_score=1.0, first_stage_source="given") for d in (*peaks, "d")]
        run = store.start_run(query_id, docs, model="m", engine="fake", instruction="i", truncate_length=64,
                              generation=GenerationSettings(), alpha=0.2)
        for index, doc_id in enumerate((*peaks, "d")):
            dist = None
            if doc_id in peaks:
                dist = [0.7 if n == peaks[doc_id] else 0.03 for n in range(11)]
            expected, entropy = scoring.distribution_summary(dist) if dist else (None, None)
            store.add_judgment(run, Judgment(doc_id=doc_id, index=index, raw_output="x", status=STATUS_OK, score=9 - index,
                                             probability=0.9, rank_score=(9 - index) * 0.9, first_stage_score=1.0,
                                             first_stage_source="given", score_distribution=dist,
                                             expected_score=expected, score_entropy=entropy))
        store.finish_run(run)
    qrels = tmp_path / "q.qrels"
    qrels.write_text("q1 0 b 2\nq1 0 c 1\nq1 0 a 0\nq1 0 d 0\n")
    result = _evaluate(capsys, "--dataset", DATASET, "--db", url, "--qrels", str(qrels), "--model-score", "expected")
    assert result["model_score"] == "E[N]" and set(result["systems"]) == {"first_stage", "model_E[N]", "hybrid_E[N]"}
    with Store(url) as store:
        expected_run = {"q1": {j.doc_id: j.expected_score for j in store.run_judgments(run) if j.expected_score}}
    want = metrics.evaluate_runs({"model_E[N]": expected_run}, {"q1": {"b": 2, "c": 1, "a": 0, "d": 0}}, "skip")
    assert result["systems"]["model_E[N]"] == want["systems"]["model_E[N]"]
    assert set(expected_run["q1"]) == {"a", "b", "c"}  # d (no distribution) is left out
    default = _evaluate(capsys, "--dataset", DATASET, "--db", url, "--qrels", str(qrels))
    assert default["model_score"] == "rank_score" and "model" in default["systems"]
    assert default["systems"]["model"]["mean"] != result["systems"]["model_E[N]"]["mean"]
