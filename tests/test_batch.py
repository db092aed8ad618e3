"""The resumable benchmark batch: judgments in the store, TREC runs, restart after a kill."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from erank_studio.data import Query, make_dataset
from erank_studio.types import GenerationSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = GenerationSettings(max_new_tokens=8, force_answer=True)


def tiny_dataset():
    corpus = {f"d{i}": (None, text) for i, text in enumerate(
        ["cats purr", "dogs bark loudly", "the sun is a star", "cats sleep in sun", "rain falls", "stars shine"])}
    queries = [Query("q1", "why do cats purr"), Query("q2", "what is the sun"), Query("q3", "dogs")]
    qrels = {"q1": {"d0": 1, "d3": 0}, "q2": {"d2": 1}, "q3": {"d1": 1}}
    return make_dataset("tinyset", queries, corpus, qrels)


@pytest.fixture(scope="module")
def tiny_engine(tiny_model_dir):
    from erank_studio.engines import load_engine

    return load_engine(str(tiny_model_dir), "transformers")




def all_judgments(store, model):
    out = []
    for q in store.queries():
        for run in store.runs(query_id=q["id"]):
            if run.model == model:
                out += [(q["source_query_id"], j) for j in store.run_judgments(run.id)]
    return out


def test_batch_judges_everything_once_and_writes_runs(store_url, tmp_path, tiny_engine):
    from erank_studio.batch import rerank_dataset
    from erank_studio.metrics import ndcg_at_10
    from erank_studio.store import Store

    dataset = tiny_dataset()
    store = Store(store_url)
    result = rerank_dataset(dataset, tiny_engine, store, top_k=3, truncate_length=16, settings=SETTINGS,
                            out_dir=tmp_path / "runs", progress=False)
    assert (result.judged, result.skipped, result.queries) == (9, 0, 3)
    judged = all_judgments(store, tiny_engine.model)
    assert Counter((q, j.doc_id) for q, j in judged) == Counter(
        (q.query_id, d.doc_id) for q in dataset.queries() for d in dataset.candidates(q.query_id, 3))
    assert all(j.hybrid_score is not None for _, j in judged)
    assert set(result.files) == {"first_stage", "model", "hybrid", "qrels"}
    for kind in ("first_stage", "model", "hybrid"):
        lines = result.files[kind].read_text().splitlines()
        assert len(lines) == 9
    assert result.ndcg["model"] == pytest.approx(ndcg_at_10(result.runs["model"], dataset.all_qrels())[0])
    # The store knows the benchmark's qrels for its queries.
    q1 = next(q for q in store.queries() if q["source_query_id"] == "q1")
    assert store.qrels_for(q1["id"]) == {"d0": 1, "d3": 0}
    # Started again: nothing left to judge, same runs.
    again = rerank_dataset(dataset, tiny_engine, store, top_k=3, truncate_length=16, settings=SETTINGS,
                           out_dir=tmp_path / "runs2", progress=False)
    assert (again.judged, again.skipped) == (0, 9)
    assert again.runs == result.runs
    # A larger top-k judges only the new candidates.
    more = rerank_dataset(dataset, tiny_engine, store, top_k=4, truncate_length=16, settings=SETTINGS, progress=False)
    assert (more.judged, more.skipped) == (3, 9)
    assert len(all_judgments(store, tiny_engine.model)) == 12


SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from tests.test_batch import tiny_dataset, SETTINGS
    from erank_studio.batch import rerank_dataset
    from erank_studio.engines import load_engine
    from erank_studio.store import Store

    engine = load_engine({model!r}, "transformers")
    generate = engine.generate
    def slow_generate(*args, **kwargs):  # space the judgments out so the kill lands midway
        for generation in generate(*args, **kwargs):
            time.sleep(float(sys.argv[1]))
            yield generation
    engine.generate = slow_generate
    store = Store()  # the store named by ERANK_DB_URL
    result = rerank_dataset(tiny_dataset(), engine, store, top_k=4, truncate_length=16, settings=SETTINGS,
                            out_dir={out!r}, progress=False)
    print("RESULT", result.judged, result.skipped, flush=True)
""")


def test_killed_batch_loses_nothing_and_judges_nothing_twice(new_url, tmp_path, tiny_model_dir):
    from erank_studio.store import Store, StoreError

    url = new_url("db")  # empty: the batch creates the store
    script = tmp_path / "batch.py"
    script.write_text(SCRIPT.format(root=str(ROOT), model=str(tiny_model_dir), out=str(tmp_path / "runs")))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ERANK_DB_URL=url)
    process = subprocess.Popen([sys.executable, str(script), "0.3"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    store = None
    deadline = time.time() + 120
    count = 0
    while time.time() < deadline:
        try:
            store = store or Store(url, read_only=True)
            count = len(all_judgments(store, str(tiny_model_dir)))
        except StoreError:  # the store not yet created by the child
            count = 0
        if count >= 5:
            break
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = all_judgments(store, str(tiny_model_dir))
    assert 5 <= len(before) < 12, "the kill should land midway"
    kept = {(q, j.doc_id): (j.raw_output, j.rank_score) for q, j in before}

    finished = subprocess.run([sys.executable, str(script), "0"], env=env, capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr
    judged, skipped = map(int, finished.stdout.split("RESULT")[1].split())
    after = all_judgments(store, str(tiny_model_dir))
    pairs = Counter((q, j.doc_id) for q, j in after)
    dataset = tiny_dataset()
    expected = {(q.query_id, d.doc_id) for q in dataset.queries() for d in dataset.candidates(q.query_id, 4)}
    assert set(pairs) == expected and set(pairs.values()) == {1}  # nothing lost, nothing twice
    assert skipped == len(before) and judged == 12 - len(before)
    for q, j in after:  # what was stored before the kill is untouched
        if (q, j.doc_id) in kept:
            assert kept[(q, j.doc_id)] == (j.raw_output, j.rank_score)
    assert (tmp_path / "runs" / "tinyset.first_stage.run").read_text().count("\n") == 12


def test_rerank_dataset_cli_then_evaluate_from_store(store_url, tmp_path, tiny_model_dir, capsys, monkeypatch):
    import json

    from erank_studio.cli import main
    from erank_studio.store import Store

    folder = tmp_path / "mini"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(["cats purr", "the sun", "dogs bark"])))
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "cats"}\n{"_id": "q2", "text": "sun"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td1\t1\n")
    url = store_url
    args = ["rerank", "--dataset", str(folder), "--top-k", "2", "--model", str(tiny_model_dir), "--engine",
            "transformers", "--truncate-length", "16", "--max-new-tokens", "8", "--force-answer", "--db", url,
            "--out", str(tmp_path / "runs"), "--no-progress"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["judged"], summary["skipped"], summary["queries"]) == (4, 0, 2)
    assert set(summary["ndcg@10"]) == {"first_stage", "model", "hybrid"}
    name = summary["dataset"]
    assert name.startswith("user/mini-")
    # The folder itself names the same stored dataset.
    assert main(["evaluate", "--dataset", str(folder), "--db", url, "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["systems"]["model"]["mean"] == pytest.approx(summary["ndcg@10"]["model"], abs=1e-4)
    # Another folder of the same name is another dataset: nothing of the first is reused.
    other = tmp_path / "elsewhere" / "mini"
    (other / "qrels").mkdir(parents=True)
    (other / "corpus.jsonl").write_text('{"_id": "d0", "text": "volcanoes erupt"}\n{"_id": "d1", "text": "rivers"}\n')
    (other / "queries.jsonl").write_text('{"_id": "q1", "text": "volcano"}\n')
    (other / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\n")
    assert main([*args[:2], str(other), *args[3:]]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["dataset"] != name and (second["judged"], second["skipped"]) == (2, 0)
    assert main(["evaluate", "--dataset", name, "--db", url, "--json", "-"]) == 0
    from_store = json.loads(capsys.readouterr().out)
    assert from_store["systems"]["model"]["mean"] == pytest.approx(summary["ndcg@10"]["model"], abs=1e-4)
    # The model's run file evaluated from disk gives the same figure.
    model_run = summary["files"]["model"]
    assert main(["evaluate", "--run", model_run, "--qrels", summary["files"]["qrels"], "--json", "-"]) == 0
    from_files = json.loads(capsys.readouterr().out)
    assert from_files["systems"][Path(model_run).name]["mean"] == pytest.approx(from_store["systems"]["model"]["mean"])
    # Against human labels.
    store = Store(url)
    q1 = next(q for q in store.queries() if q["source_query_id"] == "q1")
    store.add_label(q1["id"], "d0", "ann", 9)
    store.add_label(q1["id"], "d1", "ann", 2)
    assert main(["evaluate", "--dataset", name, "--db", url, "--against", "labels", "--json", "-"]) == 0
    labelled = json.loads(capsys.readouterr().out)
    assert labelled["against"] == "labels" and labelled["queries"] == ["q1"]
    assert labelled["agreement"]["n"] == 2
    # Offline benchmark: a clear one-line error, exit status 2.
    monkeypatch.setenv("ERANK_OFFLINE", "1")
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    assert main(["rerank", "--dataset", "trec-dl-2019", "--model", str(tiny_model_dir), "--db", url]) == 2
    assert "needs the network" in capsys.readouterr().err
