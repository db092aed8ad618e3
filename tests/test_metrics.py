"""nDCG@10 agrees with ir_measures called directly; agreement statistics."""
from __future__ import annotations

import json
import math

import ir_measures
import pytest
from ir_measures import nDCG

from erank_studio import metrics
from erank_studio.cli import main
from erank_studio.data import SAMPLE_DIR

QRELS = {"q1": {"a": 2, "b": 0, "c": 1}, "q2": {"x": 1}, "q3": {"z": 1}}
RUN = {"q1": {"a": 0.1, "b": 0.9, "c": 0.5}, "q2": {"x": 3.0, "y": 4.0}, "q4": {"k": 1.0}}


def test_ndcg_matches_ir_measures():
    mean, per_query = metrics.ndcg_at_10(RUN, QRELS)
    common = {"q1", "q2"}  # trec_eval: queries both the run and the qrels have
    direct = {m.query_id: m.value for m in ir_measures.iter_calc(
        [nDCG @ 10], {q: QRELS[q] for q in common}, {q: RUN[q] for q in common})}
    assert per_query == pytest.approx(direct)
    assert mean == pytest.approx(sum(direct.values()) / 2)
    assert math.isnan(metrics.ndcg_at_10({"q9": {"a": 1.0}}, QRELS)[0])


def test_evaluate_cli_agrees_with_ir_measures_on_files(tmp_path, capsys):
    qrels_path = SAMPLE_DIR / "qrels.txt"
    bm25_path = SAMPLE_DIR / "run.bm25.txt"
    # A second "model" run: the BM25 run with reversed scores.
    model_path = tmp_path / "model.run"
    rows = [line.split() for line in bm25_path.read_text().splitlines()]
    model_path.write_text("".join(f"{q} Q0 {d} {r} {-float(s)} m\n" for q, _, d, r, s, _ in rows))
    json_path = tmp_path / "out.json"
    assert main(["evaluate", "--run", str(model_path), "--first-stage", str(bm25_path), "--qrels",
                 str(qrels_path), "--alpha", "0.5", "--json", str(json_path)]) == 0
    table = capsys.readouterr().out
    result = json.loads(json_path.read_text())
    qrels = list(ir_measures.read_trec_qrels(str(qrels_path)))
    for name, path in (("first_stage", bm25_path), ("model.run", model_path)):
        direct = ir_measures.calc_aggregate([nDCG @ 10], qrels, ir_measures.read_trec_run(str(path)))[nDCG @ 10]
        assert result["systems"][name]["mean"] == pytest.approx(direct)
        per = {m.query_id: m.value for m in ir_measures.iter_calc([nDCG @ 10], qrels, ir_measures.read_trec_run(str(path)))}
        assert result["systems"][name]["per_query"] == pytest.approx(per)
    assert result["systems"]["first_stage"]["n_queries"] == 40
    assert "hybrid" in result["systems"] and "mean" in table
    # alpha 0.5 on reversed scores: z-scores cancel, so every hybrid score is 0
    assert f"{result['systems']['first_stage']['mean']:.4f}" in table


def test_evaluate_cli_refuses_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.run"
    bad.write_text("q1 Q0 d1 1\n")
    assert main(["evaluate", "--run", str(bad), "--qrels", str(SAMPLE_DIR / "qrels.txt")]) == 2
    assert "bad.run line 1" in capsys.readouterr().err
    assert main(["evaluate"]) == 2


def test_agreement():
    perfect = metrics.agreement([0, 3, 7, 10], [0, 3, 7, 10])
    assert perfect["kappa_quadratic"] == pytest.approx(1.0) and perfect["spearman"] == pytest.approx(1.0)
    assert perfect["n"] == 4 and len(perfect["confusion"]) == 11 and perfect["confusion"][7][7] == 1
    # Quadratic kappa by its definition: 1 - sum(w O) / sum(w E), w = (i - j)^2.
    model, human = [1, 2, 3, 10, 0], [1, 3, 3, 9, 2]
    n = len(model)
    observed = sum((m - h) ** 2 for m, h in zip(model, human)) / n
    expected = sum((m - h) ** 2 for m in model for h in human) / n**2
    result = metrics.agreement(model, human)
    assert result["kappa_quadratic"] == pytest.approx(1 - observed / expected)
    from scipy.stats import spearmanr

    assert result["spearman"] == pytest.approx(spearmanr(model, human).statistic)
    assert result["confusion"][0][2] == 1
    constant = metrics.agreement([5, 5], [5, 5])
    assert constant["kappa_quadratic"] is None and constant["spearman"] is None
    with pytest.raises(ValueError):
        metrics.agreement([11], [1])
    with pytest.raises(ValueError):
        metrics.agreement([1, 2], [1])


def test_hybrid_run_worked_example():
    hybrid = metrics.hybrid_run({"q": {"a": 46.7, "b": 2.3, "c": 1.5}}, {"q": {"a": 4.84, "b": 2.98, "c": 0.0}}, 0.2)
    assert [round(hybrid["q"][d], 2) for d in "abc"] == [1.18, 0.01, -1.19]
