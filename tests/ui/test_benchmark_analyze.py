"""The Analyze view's benchmark page: its per-query nDCG is ``evaluate``'s on the same batch, and its
failure rates, histograms and calibration bins are the counts computed here from the batch's data."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest

from batch_data import BATCH, DATASET, LABELS, MODEL, OUTCOMES, QRELS, SCORED, build_batch, distribution

from erank_studio import batch_eval, batch_stats, metrics
from erank_studio.cli import main
from erank_studio.store import Store
from erank_studio.ui import benchmark_analyze, render


@pytest.fixture
def batch_store(store_url):
    """The batch in a store on SQLite and on PostgreSQL (the page reads either)."""
    url = store_url
    run_ids = build_batch(url)
    store = Store(url, read_only=True)
    yield url, store, run_ids
    store.close()


def _choice(dataset: str = DATASET, model: str = MODEL) -> str:
    return json.dumps([dataset, model])


def _evaluate(capsys, url: str, *args: str) -> dict:
    capsys.readouterr()
    assert main(["evaluate", "--dataset", DATASET, "--model", MODEL, "--db", url, "--json", "-", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("against", ["qrels", "labels"])
@pytest.mark.parametrize("missing", ["skip", "zero"])
@pytest.mark.parametrize("alpha", [0.2, 0.7])
def test_per_query_ndcg_and_means_equal_evaluate(batch_store, capsys, against, missing, alpha):
    url, store, _ = batch_store
    expected = _evaluate(capsys, url, "--against", against, "--missing", missing, "--alpha", str(alpha))
    summary, frame, *_ = benchmark_analyze.page_values(store, _choice(), against, missing, alpha)
    assert list(frame[benchmark_analyze.COL_QUERY]) == list(BATCH)  # every query of the batch, judged or not
    for system, column in benchmark_analyze.SYSTEM_COLUMNS.items():
        per_query = expected["systems"][system]["per_query"]
        shown = {q: v for q, v in zip(frame[benchmark_analyze.COL_QUERY], frame[column]) if not math.isnan(v)}
        assert shown.keys() == per_query.keys()
        for qid, value in per_query.items():
            assert shown[qid] == pytest.approx(value, abs=1e-12)
        mean, count = expected["systems"][system]["mean"], expected["systems"][system]["n_queries"]
        assert f"{column} **{mean:.4f}** ({count} queries)" in summary
    assert render.md_escape(metrics.convention_note(expected)) in summary  # which queries the means are over
    # The gain column is model minus first stage, where both exist.
    for _, row in frame.iterrows():
        if not math.isnan(row["model"]) and not math.isnan(row["first stage"]):
            assert row[benchmark_analyze.COL_GAIN] == pytest.approx(row["model"] - row["first stage"])


def test_failure_rates_are_the_latest_outcomes_counted(batch_store):
    _, store, _ = batch_store
    _, _, failures, _, _ = benchmark_analyze.page_values(store, _choice(), "qrels", "skip", 0.2)
    counted = {name: list(OUTCOMES.values()).count(name) for name in set(OUTCOMES.values())}
    shown = {row["outcome"]: (row["judgments"], row["share"]) for _, row in failures.iterrows()}
    assert set(shown) == set(batch_stats.OUTCOMES)  # every class listed, zeros included
    for name, (n, share) in shown.items():
        assert n == counted.get(name, 0)
        assert share == pytest.approx(counted.get(name, 0) / len(OUTCOMES), abs=1e-4)
    assert shown["out_of_range"] == (0, 0.0)


@pytest.mark.parametrize("against", ["qrels", "labels"])
def test_histograms_count_answers_by_grade(batch_store, against):
    _, store, _ = batch_store
    _, _, _, histogram, _ = benchmark_analyze.page_values(store, _choice(), against, "skip", 0.2)
    expected: dict[str, list[int]] = {}
    for (qid, doc), score in SCORED.items():
        if against == "qrels":
            grade = QRELS[qid].get(doc)
            name = "not in qrels" if grade is None else f"qrel {grade}"
        else:
            label = LABELS.get((qid, doc))
            name = "not labelled" if label is None else f"label grade {(0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3)[label]}"
        expected.setdefault(name, [0] * 11)[score] += 1
    shown = {trace.name: list(trace.y) for trace in histogram.data}
    assert shown == expected


def test_calibration_bins_count_relevant_documents(batch_store):
    _, store, _ = batch_store
    batch = batch_eval.load_batch(store, DATASET, model=MODEL)
    for signal in batch_stats.SIGNALS:
        expected_docs, expected_rel = [0] * 10, [0] * 10
        for (qid, doc), score in SCORED.items():
            p = next(p for run in BATCH[qid] for d, a, p, _ in run if d == doc and a == score)
            value = p if signal == "P(N)" else sum(n * q for n, q in enumerate(distribution(score, p))) / 10
            at = min(int(value * 10), 9)
            expected_docs[at] += 1
            expected_rel[at] += QRELS[qid].get(doc, 0) >= 1
        bins = batch_stats.calibration(batch, signal)
        assert [b.documents for b in bins] == [n for n in expected_docs if n]
        assert [b.relevant for b in bins] == [r for r, n in zip(expected_rel, expected_docs) if n]
        assert [b.low for b in bins] == pytest.approx([i / 10 for i, n in enumerate(expected_docs) if n])


def test_each_query_opens_the_run_holding_most_of_its_judgments(batch_store):
    _, store, run_ids = batch_store
    _, frame, *_ = benchmark_analyze.page_values(store, _choice(), "qrels", "skip", 0.2)
    runs = dict(zip(frame[benchmark_analyze.COL_QUERY], frame[benchmark_analyze.COL_RUN]))
    assert runs["q1"] == run_ids["q1"][1]  # the resumed run holds b, c, d, e of a..e
    assert runs["q2"] == run_ids["q2"][0] and runs["q3"] == run_ids["q3"][0]
    assert pd.isna(runs["q4"])  # never judged: nothing to open


def test_a_batch_without_qrels_says_so_and_still_counts_failures(batch_store):
    _, store, _ = batch_store
    summary, frame, failures, histogram, calibration = benchmark_analyze.page_values(
        store, _choice("plainset"), "qrels", "skip", 0.2)
    assert "no qrels" in summary
    assert list(frame[benchmark_analyze.COL_QUERY]) == ["p1"] and math.isnan(frame["model"][0])
    counts = dict(zip(failures["outcome"], failures["judgments"]))
    assert counts["ok"] == 1 and counts["no_answer"] == 1
    for figure in (histogram, calibration):
        assert not figure.data and "no qrels" in figure.layout.annotations[0].text


def test_bad_choices_are_one_line_errors(batch_store, tmp_path):
    _, store, _ = batch_store
    assert benchmark_analyze.batch_choices(store) == [
        ("plainset · m", _choice("plainset")), ("tinyset · m", _choice()), ("tinyset · other", _choice(DATASET, "other"))]
    with pytest.raises(ValueError, match="pick a batch"):
        benchmark_analyze.page_values(store, None, "qrels", "skip", 0.2)
    with pytest.raises(batch_eval.BatchNotFound, match="no judgments by 'ghost'"):
        benchmark_analyze.page_values(store, _choice(DATASET, "ghost"), "qrels", "skip", 0.2)
    with pytest.raises(ValueError, match="alpha"):
        benchmark_analyze.page_values(store, _choice(), "qrels", "skip", 1.5)
    with Store(f"sqlite:///{tmp_path / 'empty.sqlite'}") as empty:
        assert benchmark_analyze.batch_choices(empty) == []


def test_clicking_a_query_opens_its_run_in_the_rerank_view(batch_store, fake_engine):
    import gradio as gr

    from erank_studio.ui import app as ui_app
    from erank_studio.ui.context import Defaults
    from erank_studio.ui.engine_provider import EngineProvider
    from erank_studio.ui.session import RunView

    url, _, run_ids = batch_store
    writable = Store(url)
    demo = ui_app.build_app(writable, EngineProvider(loader=lambda *a, **k: fake_engine), Defaults(model="fake"))
    handlers = {d.fn.__name__: d.fn for d in demo.fns.values() if d.fn is not None}
    listed, summary = handlers["list_batches"](None, benchmark_analyze.NO_BATCH)  # the page opens
    assert listed["value"] == benchmark_analyze.batch_choices(writable)[0][1] and summary == benchmark_analyze.PICK_BATCH
    listed, summary = handlers["list_batches"](_choice(), "**tinyset** · m · shown")  # opened again later
    assert listed["value"] == _choice() and summary == gr.skip()  # what is shown stays
    handler = handlers["open_query_run"]
    row = [None] * len(benchmark_analyze.QUERY_COLUMNS)
    row[benchmark_analyze.QUERY_COLUMNS.index(benchmark_analyze.COL_RUN)] = run_ids["q1"][1]
    values = list(handler("ann", "rank_score", {"annotator": "ann"}, SimpleNamespace(row_value=row)).values())
    view = next(v for v in values if isinstance(v, RunView))
    assert view.run_id == run_ids["q1"][1] and view.query.startswith("query q1")
    remembered = {"annotator": "ann", "run_id": run_ids["q1"][1]}
    assert any(isinstance(v, dict) and v == remembered for v in values)  # a reload reopens it
    tab = next(v for v in values if isinstance(v, gr.Tabs))
    assert tab.selected == ui_app.RERANK_TAB
    row[benchmark_analyze.QUERY_COLUMNS.index(benchmark_analyze.COL_RUN)] = float("nan")  # never judged
    unchanged = handler("ann", "rank_score", {}, SimpleNamespace(row_value=row))
    assert unchanged == gr.skip()  # a toast says why; nothing on the page changes
    writable.close()


def test_an_empty_store_says_how_to_make_a_batch(store, fake_engine):
    import gradio as gr

    from erank_studio.ui import app as ui_app
    from erank_studio.ui.context import Defaults
    from erank_studio.ui.engine_provider import EngineProvider

    demo = ui_app.build_app(store, EngineProvider(loader=lambda *a, **k: fake_engine), Defaults(model="fake"))
    handlers = {d.fn.__name__: d.fn for d in demo.fns.values() if d.fn is not None}
    choices, summary = handlers["list_batches"](None, benchmark_analyze.NO_BATCH)
    assert choices["choices"] == [] and choices["value"] is None
    assert summary == benchmark_analyze.NO_BATCH and "rerank --dataset" in summary
    with pytest.raises(gr.Error, match="Pick a batch first"):
        handlers["on_show"](None, "qrels", "skip", 0.2)


def test_a_batch_written_by_rerank_dataset_shows_evaluates_numbers(tmp_path, fake_engine, capsys):
    """The bundled sample reranked by the batch writer itself (a fake engine stands in for the model)."""
    from erank_studio import data
    from erank_studio.batch import rerank_dataset

    url = f"sqlite:///{tmp_path / 'sample.sqlite'}"
    with Store(url) as writable:
        result = rerank_dataset(data.load_dataset(data.SAMPLE_NAME), fake_engine, writable, top_k=6, limit=4,
                                progress=False)
    capsys.readouterr()
    assert main(["evaluate", "--dataset", data.SAMPLE_NAME, "--db", url, "--json", "-"]) == 0
    expected = json.loads(capsys.readouterr().out)
    with Store(url, read_only=True) as store:
        (_, choice), = benchmark_analyze.batch_choices(store)
        summary, frame, *_ = benchmark_analyze.page_values(store, choice, "qrels", "skip", 0.2)
    assert len(frame) == 4
    for system, column in benchmark_analyze.SYSTEM_COLUMNS.items():
        per_query = expected["systems"][system]["per_query"]
        shown = {q: v for q, v in zip(frame[benchmark_analyze.COL_QUERY], frame[column]) if not math.isnan(v)}
        assert shown == pytest.approx(per_query, abs=1e-12) and len(per_query) == 4
        assert f"{column} **{expected['systems'][system]['mean']:.4f}** (4 queries)" in summary
        assert expected["systems"][system]["mean"] == pytest.approx(result.ndcg[system])  # the batch's own figure
