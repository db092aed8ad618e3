"""Judged@10 beside nDCG@10 (equal to ir_measures' own), and ``--missing zero`` over every query of
the benchmark's qrels (the sample's 40), not only the queries the store judged."""
from __future__ import annotations

import json

import ir_measures
import pytest

from erank_studio import metrics
from erank_studio.cli import main
from erank_studio.data import load_sample
from erank_studio.store import Store
from erank_studio.types import Document, GenerationSettings, Judgment

RUN = {"q1": {f"d{i}": 20.0 - i for i in range(15)}, "q2": {"x": 1.0, "y": 0.5}, "q9": {"z": 1.0}}
QRELS = {"q1": {"d0": 2, "d3": 0, "d11": 1, "d14": 1}, "q2": {"y": 1}, "q3": {"w": 1}}


@pytest.mark.parametrize("missing", metrics.MISSING)
def test_judged_at_10_is_ir_measures(missing):
    mean, per_query = metrics.judged_at_10(RUN, QRELS, missing)
    expected = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.parse_measure("Judged@10")],
                                                                  QRELS, RUN)}
    assert per_query == pytest.approx({q: expected.get(q, 0.0) for q in per_query})
    assert per_query["q1"] == pytest.approx(0.2) and per_query["q2"] == pytest.approx(0.5)
    assert set(per_query) == ({"q1", "q2", "q3"} if missing == "zero" else {"q1", "q2"})
    result = metrics.evaluate_runs({"model": RUN}, QRELS, missing)
    assert result["systems"]["model"]["judged_at_10"] == pytest.approx(mean)
    assert "Judged@10" in metrics.format_table(result) and "Judged@10" in metrics.format_table(result, per_query=False)


def _sample_store(url: str, n_queries: int = 3) -> list[str]:
    """The sample's first queries judged and their qrels stored, as ``rerank --dataset sample`` leaves a store."""
    dataset = load_sample()
    queries = dataset.queries()[:n_queries]
    with Store(url) as store:
        for q in queries:
            query_id = store.upsert_query(q.text, source="sample", source_query_id=q.query_id)
            docs = dataset.candidates(q.query_id, top_k=5)
            run = store.start_run(query_id, docs, model="m", engine="fake", instruction="i", truncate_length=64,
                                  generation=GenerationSettings(), alpha=0.2)
            store.add_judgments(run, [Judgment(d.doc_id, i, "x", "ok", score=5 - i, probability=0.9,
                                               rank_score=(5 - i) * 0.9, first_stage_score=d.first_stage_score)
                                      for i, d in enumerate(docs)])
            store.finish_run(run)
            store.add_qrels([(q.query_id, d, r) for d, r in dataset.qrels(q.query_id).items()], source="sample")
    return [q.query_id for q in queries]


def test_missing_zero_counts_every_query_of_the_sample(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    judged = _sample_store(url)
    assert main(["evaluate", "--dataset", "sample", "--db", url, "--missing", "zero", "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["qrels_queries"] == 40
    model = result["systems"]["model"]
    assert model["n_queries"] == 40 and len(model["judged_per_query"]) == 40
    assert [q for q, v in model["per_query"].items() if q not in judged] and all(
        v == 0.0 for q, v in model["per_query"].items() if q not in judged)
    assert main(["evaluate", "--dataset", "sample", "--db", url, "--missing", "zero"]) == 0
    assert "means over all 40 qrels queries" in capsys.readouterr().out
    assert main(["evaluate", "--dataset", "sample", "--db", url, "--json", "-"]) == 0  # skip: the judged ones
    assert json.loads(capsys.readouterr().out)["systems"]["model"]["n_queries"] == len(judged)
