from __future__ import annotations

import json

import pandas as pd
import pytest

from erank_studio import prompt
from erank_studio.store import Store, trec
from erank_studio.store.exports import ExportFilter, export, export_bytes, export_to_tempfile, grade
from erank_studio.store.imports import import_bundle
from erank_studio.types import Document, GenerationSettings

from .conftest import INSTRUCTION, dump, run_judging


def _sft(store, **flt):
    data = export_bytes(store, "sft-messages", ExportFilter(**flt)).decode("utf-8")
    return [json.loads(line) for line in data.splitlines()]


def test_sft_user_message_is_exactly_what_the_engine_was_sent(store):
    q, run, judgments, engine = run_judging(store, truncate_length=40)
    assert any(j.truncated for j in judgments)  # the prompt the engine read was cut
    store.add_label(q, "d1", "ann", 4, rationale="edited: only partly about light")
    store.add_label(q, "d3", "ann", 8)  # no edit: the model's trace is kept
    examples = _sft(store)
    assert len(examples) == 2
    sent = dict(zip(engine.doc_ids, engine.sent))
    for ex, doc_id in zip(examples, ["d1", "d3"]):
        assert set(ex) == {"messages"}
        user, assistant = ex["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert user["content"] == sent[doc_id]
        # ... and that is ERank's prompt built with the model's tokenizer and truncation.
        doc = next(d for d in run_judging.__globals__["make_docs"]() if d.doc_id == doc_id)
        built = prompt.build(store.query_text(q), doc.text, INSTRUCTION, engine.tokenizer, 40)
        assert user["content"] == built.message
    assert examples[0]["messages"][1]["content"] == "<think>edited: only partly about light</think><answer>4</answer>"
    trace = next(j.trace for j in judgments if j.doc_id == "d3")
    assert examples[1]["messages"][1]["content"] == f"<think>{trace}</think><answer>8</answer>"


def test_sft_for_label_without_judgment_builds_the_prompt(store):
    q = store.upsert_query("hand typed query")
    store.add_label(q, "x", "ann", 6, rationale="because", document=Document("x", "hand typed document"))
    (ex,) = _sft(store)
    assert ex["messages"][0]["content"] == prompt.user_message("hand typed query", "hand typed document",
                                                                prompt.DEFAULT_INSTRUCTION)
    q2, _, _, _ = run_judging(store, query="second query")
    store.add_label(q2, "late", "ann", 1, document=Document("late", "added after the run"))
    ex = [e for e in _sft(store) if "added after the run" in e["messages"][0]["content"]][0]
    assert ex["messages"][0]["content"] == prompt.user_message("second query", "added after the run", INSTRUCTION)
    assert ex["messages"][1]["content"] == "<think></think><answer>1</answer>"


def test_sft_filters_and_llama_factory_formats(store):
    q, run, _, _ = run_judging(store)  # model scores d1 9, d2 0, d3 6, d4 2
    store.add_label(q, "d1", "ann", 9)
    store.add_label(q, "d2", "ann", 7)
    store.add_label(q, "d3", "bob", 1)
    store.add_label(q, "d4", "bob", None, note="no score: never exported as SFT")
    assert len(_sft(store)) == 3
    assert len(_sft(store, annotator="ann")) == 2
    assert len(_sft(store, annotator="bob")) == 1
    assert len(_sft(store, min_disagreement=5)) == 2  # d2 |7-0|, d3 |1-6|
    assert len(_sft(store, min_disagreement=6)) == 1
    assert len(_sft(store, run_id=run)) == 3
    _, run2, _, _ = run_judging(store, query="other query")
    assert _sft(store, run_id=run2) == []
    alpaca = json.loads(export_bytes(store, "alpaca"))
    sft = _sft(store)
    assert [a["instruction"] for a in alpaca] == [s["messages"][0]["content"] for s in sft]
    assert all(a["input"] == "" for a in alpaca)
    assert [a["output"] for a in alpaca] == [s["messages"][1]["content"] for s in sft]
    share = json.loads(export_bytes(store, "sharegpt"))
    assert share[0]["conversations"] == [{"from": "human", "value": alpaca[0]["instruction"]},
                                         {"from": "gpt", "value": alpaca[0]["output"]}]


def test_grade_rule():
    assert [grade(n) for n in range(11)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3]


def test_trec_qrels_and_runs(store, tmp_path):
    q, run, judgments, _ = run_judging(store, source="beir/scifact", sqid="42")
    store.add_label(q, "d1", "ann", 10)
    store.add_label(q, "d2", "ann", 4)
    store.add_label(q, "d3", "bob", 2)
    export(store, "qrels", tmp_path / "h.qrels")
    assert trec.read_qrels(tmp_path / "h.qrels") == [("42", "d1", 3), ("42", "d2", 1), ("42", "d3", 0)]
    export(store, "qrels", tmp_path / "ann.qrels", ExportFilter(annotator="ann"))
    assert len(trec.read_qrels(tmp_path / "ann.qrels")) == 2
    export(store, "run-rank", tmp_path / "r.run")
    rows = trec.read_run(tmp_path / "r.run")
    by_rank = sorted(judgments, key=lambda j: -j.rank_score)
    assert [r[1] for r in rows] == [j.doc_id for j in by_rank]
    assert [r[2] for r in rows] == [1, 2, 3, 4] and {r[4] for r in rows} == {"fake/erank-test"}
    export(store, "run-hybrid", tmp_path / "h.run")
    hybrid = trec.read_run(tmp_path / "h.run")
    assert [r[1] for r in hybrid] == [j.doc_id for j in sorted(judgments, key=lambda j: -j.hybrid_score)]
    assert hybrid[0][3] == pytest.approx(max(j.hybrid_score for j in judgments), abs=1e-6)
    export(store, "run-rank", tmp_path / "l.run", ExportFilter(only_labelled=True, annotator="ann"))
    assert {r[1] for r in trec.read_run(tmp_path / "l.run")} == {"d1", "d2"}


def test_csv_and_parquet_tables(store, tmp_path):
    q, run, judgments, _ = run_judging(store)
    store.add_label(q, "d1", "ann", 3, rationale="why")
    store.add_label(q, "d1", "bob", 5)
    assert export(store, "csv", tmp_path / "t.csv") == 5  # d1 twice (two people), d2..d4 once
    frame = pd.read_csv(tmp_path / "t.csv")
    assert set(frame.loc[frame.doc_id == "d1", "human_score"]) == {3, 5}
    assert export(store, "parquet", tmp_path / "t.parquet", ExportFilter(only_labelled=True)) == 2
    par = pd.read_parquet(tmp_path / "t.parquet")
    assert list(par.human_score) == [3, 5] and set(par.model_score) == {9}
    assert export(store, "csv", tmp_path / "d.csv", ExportFilter(min_disagreement=5)) == 1


def test_export_to_tempfile(store):
    q, _, _, _ = run_judging(store)
    store.add_label(q, "d1", "ann", 3)
    path, n = export_to_tempfile(store, "sft-messages")
    assert n == 1 and path.endswith(".jsonl")


def test_unknown_format(store, tmp_path):
    with pytest.raises(ValueError, match="unknown export format"):
        export(store, "xml", tmp_path / "x")


def _snapshot(store: Store):
    """Labels and judgments by meaning (store ids aside)."""
    out = {}
    for query in store.queries():
        qid = query["id"]
        runs = sorted(store.runs(qid), key=lambda r: r.created_at)
        out[(query["text"], query["source"], query["source_query_id"])] = {
            "docs": store.documents_for_query(qid),
            "runs": [((r.model, r.engine, r.instruction, r.truncate_length, r.alpha, r.status, r.created_at),
                      store.run_judgments(r.id)) for r in runs],
            "labels": {d.doc_id: [(l.doc_id, l.annotator, l.score, l.rationale, l.note, l.created_at, l.retracted)
                                  for l in store.label_history(qid, d.doc_id)]
                       for d in store.documents_for_query(qid)},
            "qrels": store.qrels_for(qid),
        }
    return out


def test_bundle_round_trip_without_loss(new_url, store, tmp_path):
    q, _, _, _ = run_judging(store, source="bright/biology", sqid="3")
    store.add_label(q, "d1", "ann", 7, rationale="edited ✓", note="a note")
    store.add_label(q, "d1", "ann", 8)
    store.undo_label(q, "d1", "ann")
    store.add_label(q, "d2", "bob", None, note="note only")
    store.add_qrels([("3", "d1", 2), ("3", "d9", 1)], "bright/biology")
    q2, _, _, _ = run_judging(store, query="hand typed")
    store.add_label(q2, "d4", "ann", 0)
    assert export(store, "bundle", tmp_path / "b.jsonl") > 0
    with Store(new_url("fresh", migrated=True)) as fresh:
        added = import_bundle(fresh, tmp_path / "b.jsonl")
        assert added["labels"] == 5 and added["judgments"] == 8 and added["runs"] == 2
        assert _snapshot(fresh) == _snapshot(store)
        assert export_bytes(fresh, "sft-messages") == export_bytes(store, "sft-messages")
        assert export_bytes(fresh, "qrels") == export_bytes(store, "qrels")
        before = dump(fresh)
        again = import_bundle(fresh, tmp_path / "b.jsonl")  # importing twice adds nothing
        assert again["labels"] == again["judgments"] == again["runs"] == 0
        assert dump(fresh) == before


def test_sft_lines_are_plain_json_dumps(store):
    q, _, _, _ = run_judging(store)
    store.add_label(q, "d4", "ann", 3, rationale='quotes " and \\ backslash, newline\n, unicode ✓ \u2028')
    line = export_bytes(store, "sft-messages").decode("utf-8").split("\n")[0]
    assert line == json.dumps(json.loads(line), ensure_ascii=False)


def test_runs_of_a_resumed_batch_are_merged_per_query_and_model(store, tmp_path):
    from erank_studio import scoring
    from erank_studio.types import Judgment

    query_id, first_run, judgments, engine = run_judging(store)
    # A resumed batch: a second run of the same model judges the rest of the candidates,
    # and re-judges d1 (the latest judgment of a document counts).
    docs = store.documents_for_query(query_id)
    second_run = store.start_run(query_id, docs, model=engine.model, engine=engine.name, instruction="i",
                                 truncate_length=60, generation=GenerationSettings(), alpha=0.5)
    later = [Judgment(doc_id="d1", index=0, raw_output="<answer>1</answer>", status="ok", score=1,
                      probability=1.0, rank_score=1.0, first_stage_score=judgments[0].first_stage_score)]
    for j in later:
        store.add_judgment(second_run, j)
    store.finish_run(second_run)
    export(store, "run-rank", tmp_path / "r.run")
    rows = trec.read_run(tmp_path / "r.run")
    merged = {j.doc_id: j for j in judgments} | {j.doc_id: j for j in later}
    assert {r[1] for r in rows} == set(merged)  # nothing judged in the first run is dropped
    assert dict((r[1], r[3]) for r in rows)["d1"] == pytest.approx(1.0)
    export(store, "run-hybrid", tmp_path / "h.run")
    items = list(merged.values())
    expected = scoring.hybrid([j.first_stage_score for j in items], [j.rank_score for j in items], 0.5)
    got = {r[1]: r[3] for r in trec.read_run(tmp_path / "h.run")}
    assert {j.doc_id: v for j, v in zip(items, expected)} == pytest.approx(got, abs=1e-6)
    export(store, "run-rank", tmp_path / "one.run", ExportFilter(run_id=second_run))
    assert [r[1] for r in trec.read_run(tmp_path / "one.run")] == ["d1"]
