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


# The benchmark's own qrels held in ir_datasets' cache: TREC DL 2019's qrels file where ir_datasets
# keeps it (IR_DATASETS_HOME/msmarco-passage/trec-dl-2019/qrels). Two of its five queries judged.
DL_QRELS = {"101": {"p1": 3, "p2": 0}, "102": {"p5": 2}, "103": {"p7": 1}, "104": {"p8": 2, "p9": 1}, "105": {"p3": 1}}
DL_JUDGED = {"101": ["p1", "p2", "p4"], "102": ["p5", "p6"]}

# Run in a fresh interpreter, so that ir_datasets (which fixes its home when imported) reads the
# test's cache; every name lookup and socket connect is refused and counted, so a reach for the
# network shows.
_EVALUATE_OFFLINE = r"""
import contextlib, io, json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(args)
    raise OSError("the network is off in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from erank_studio.cli import main
from erank_studio import batch_eval, batch_stats
from erank_studio.store import Store
from erank_studio.ui import benchmark_analyze
url = sys.argv[1]
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = main(["evaluate", "--dataset", "trec-dl-2019", "--db", url, "--missing", "zero", "--json", "-"])
with Store(url, read_only=True) as store:
    page = batch_stats.evaluate(batch_eval.load_batch(store, "trec-dl-2019"), "zero")
    summary = benchmark_analyze.page_values(store, json.dumps(["trec-dl-2019", "m"]), "qrels", "zero", 0.2)[0]
print(json.dumps({"code": code, "cli": json.loads(out.getvalue()), "stderr": err.getvalue(), "page": page,
                  "summary": summary, "connects": len(attempts)}))
"""


def _dl_store(url: str) -> None:
    with Store(url) as store:
        for qid, docs in DL_JUDGED.items():
            query_id = store.upsert_query(f"question {qid}", source="trec-dl-2019", source_query_id=qid)
            run = store.start_run(query_id, [Document(d, f"passage {d}", first_stage_score=float(-i))
                                             for i, d in enumerate(docs)],
                                  model="m", engine="fake", instruction="i", truncate_length=64,
                                  generation=GenerationSettings(), alpha=0.2)
            store.add_judgments(run, [Judgment(d, i, "x", "ok", score=9 - 3 * i, probability=0.9,
                                               rank_score=(9 - 3 * i) * 0.9, first_stage_score=float(-i))
                                      for i, d in enumerate(docs)])
            store.finish_run(run)
            store.add_qrels([(qid, d, r) for d, r in DL_QRELS[qid].items()], source="trec-dl-2019")


def _evaluate_offline(tmp_path, home) -> dict:
    import os
    import subprocess
    import sys
    from pathlib import Path

    url = f"sqlite:///{tmp_path / 'dl.sqlite'}"
    _dl_store(url)
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "IR_DATASETS_HOME": str(home), "PYTHONPATH": root}
    env.pop("ERANK_OFFLINE", None)
    done = subprocess.run([sys.executable, "-c", _EVALUATE_OFFLINE, url], env=env, capture_output=True, text=True,
                          timeout=300, cwd=root)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_missing_zero_counts_every_query_of_a_benchmark_held_in_ir_datasets_cache(tmp_path):
    home = tmp_path / "irds"
    qrels_file = home / "msmarco-passage" / "trec-dl-2019" / "qrels"
    qrels_file.parent.mkdir(parents=True)
    qrels_file.write_text("".join(f"{q} 0 {d} {r}\n" for q, docs in DL_QRELS.items() for d, r in docs.items()))
    got = _evaluate_offline(tmp_path, home)
    assert got["code"] == 0 and got["connects"] == 0 and "note" not in got["stderr"]
    cli, page = got["cli"], got["page"]
    assert cli["qrels_queries"] == 5 and "qrels_note" not in cli
    for name in ("first_stage", "model", "hybrid"):
        system = cli["systems"][name]
        assert system["n_queries"] == 5 and len(system["judged_per_query"]) == 5
        assert all(system["per_query"][q] == 0.0 for q in ("103", "104", "105"))
        for key in ("mean", "n_queries", "per_query", "judged_at_10", "judged_per_query"):
            assert page["systems"][name][key] == system[key]  # the Analyze page counts as evaluate does
    per_query = {m.query_id: m.value for m in ir_measures.iter_calc(
        [ir_measures.parse_measure("Judged@10")], DL_QRELS,
        {q: {d: 9.0 - 3 * i for i, d in enumerate(docs)} for q, docs in DL_JUDGED.items()})}
    judged = cli["systems"]["model"]["judged_at_10"]
    assert judged == pytest.approx(sum(per_query.values()) / 5)  # ir_measures' on the 2 judged, 0 on the 3 others
    assert f"Judged@10 {judged:.2f}" in got["summary"] and "means over all 5 qrels queries" in got["summary"]


def test_missing_zero_keeps_the_note_when_the_benchmarks_qrels_are_not_held(tmp_path):
    home = tmp_path / "irds"
    (home / "msmarco-passage" / "trec-dl-2020").mkdir(parents=True)  # another set's files, not these qrels
    (home / "msmarco-passage" / "trec-dl-2020" / "qrels").write_text("1 0 x 1\n")
    got = _evaluate_offline(tmp_path, home)
    assert got["code"] == 0 and got["connects"] == 0  # ir_datasets was never let near the network
    assert got["stderr"].startswith("note: trec-dl-2019: only the qrels of the queries the store holds are counted")
    assert got["stderr"].count("\n") == 1  # the note alone: no download warning from ir_datasets
    assert got["cli"]["qrels_queries"] == 2 and got["cli"]["qrels_note"] == got["page"]["qrels_note"]
    assert "Note: trec\\-dl\\-2019: only the qrels of the queries the store holds" in got["summary"]
    assert not (home / "msmarco-passage" / "trec-dl-2019" / "qrels").exists()
