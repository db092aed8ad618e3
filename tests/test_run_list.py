"""Ids people know and runs they can find (issue 20, 10): ``runs`` lists the store's runs with
their benchmark ids and model display names; ``compare`` and ``queue`` show the benchmark's query
id, not the store's row id; batch run files are named by the model's display name."""
from __future__ import annotations

import json

import pytest

from erank_studio import prompt, scoring
from erank_studio.batch import write_runs
from erank_studio.cli import main
from erank_studio.run_list import benchmark_query_id
from erank_studio.store import Store
from erank_studio.types import Document, GenerationSettings, Judgment

MODEL_DIR = "/tmp/pytest-of-someone/site-packages/llm/tiny-qwen3-erank"


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path}/r.sqlite") as s:
        yield s


def _run(store: Store, query_id: int, docs: list[str], status: str = "done") -> int:
    run_id = store.start_run(query_id, [Document(d, f"text {d}", first_stage_score=1.0) for d in docs],
                             model=MODEL_DIR, engine="transformers", instruction="i", truncate_length=64,
                             generation=GenerationSettings(), alpha=0.2)
    store.add_judgments(run_id, [Judgment(d, i, "<answer>5</answer>", "ok", score=5, probability=0.5,
                                          rank_score=scoring.rank_score(5, 0.5)) for i, d in enumerate(docs)])
    store.finish_run(run_id, status)
    return run_id


def test_runs_lists_what_a_person_needs_to_find_a_run(store, capsys):
    bench = store.upsert_query("why do birds migrate", source="bright/biology", source_query_id="59")
    typed = store.upsert_query("why do moths fly to lights")
    first = _run(store, bench, ["a", "b", "c"])
    second = _run(store, typed, ["x"], status="cancelled")
    store.add_label(bench, "a", "ann", 7)

    assert main(["runs", "--json", "--db", store.url]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == [second, first]  # newest first
    assert listed[1] | {"started": None} == {
        "id": first, "query": "why do birds migrate", "benchmark_query_id": "biology-59",
        "model": "tiny-qwen3-erank", "template": prompt.DEFAULT_TEMPLATE, "status": "done", "judged": 3, "labelled": 1,
        "started": None}
    assert listed[0]["benchmark_query_id"] is None and listed[0]["status"] == "cancelled"

    assert main(["runs", "--limit", "1", "--db", store.url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["run", "query", "benchmark", "model", "template", "status", "judged", "labelled",
                                "started"]
    assert len(table) == 2 and "why do moths fly to lights" in table[1] and MODEL_DIR not in table[1]


def test_runs_refuses_a_bad_limit_and_a_missing_store(tmp_path, capsys):
    assert main(["runs", "--limit", "0", "--db", f"sqlite:///{tmp_path}/r.sqlite"]) == 2
    assert main(["runs", "--db", f"sqlite:///{tmp_path}/missing.sqlite"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)


def test_compare_and_queue_show_the_benchmark_query_id(store, capsys):
    store.upsert_query("an earlier query")  # the store's row id of the next query is then 2
    bench = store.upsert_query("why do birds migrate", source="bright/biology", source_query_id="59")
    a, b = _run(store, bench, ["a", "b"]), _run(store, bench, ["a", "b"])
    assert main(["compare", str(a), str(b), "--db", store.url]) == 0
    assert capsys.readouterr().out.splitlines()[-5].startswith("query biology-59: run")
    assert main(["queue", "--run", str(a), "--strategy", "rank", "--db", store.url]) == 0
    rows = capsys.readouterr().out.splitlines()[1:3]
    assert all(row.split()[2] == "59" for row in rows), rows


def test_benchmark_query_ids():
    assert benchmark_query_id("bright/biology", "59") == "biology-59"
    assert benchmark_query_id("sample", "q1") == "sample-q1"
    assert benchmark_query_id(None, None) is None


def test_run_files_are_named_by_the_models_display_name(tmp_path):
    files = write_runs(tmp_path, "bright/biology", MODEL_DIR, {"model": {"q": {"d": 1.0}}})
    assert files["model"].name == "bright_biology.tiny-qwen3-erank.model.run"
