"""The Analyze view's benchmark page: its per-query nDCG is ``evaluate``'s on the same batch, and its
failure rates, histograms and calibration bins are the counts computed here from the batch's data."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest

from erank_studio import batch_eval, batch_stats, metrics, scoring
from erank_studio.cli import main
from erank_studio.store import Store
from erank_studio.types import STATUS_FAILED, STATUS_FORCED, STATUS_OK, Document, GenerationSettings, Judgment
from erank_studio.ui import benchmark_analyze, render

DATASET = "tinyset"
MODEL = "m"
# query -> runs (in order) -> [(doc, answer or a failure class, P(N), first-stage score)]. A later
# run's judgment replaces an earlier one, except that a failure never replaces a success.
BATCH = {
    "q1": [
        [("a", 9, 0.9, 3.0), ("b", "no_answer", None, 2.0), ("c", 2, 0.35, 1.0)],
        [("b", 7, 0.6, 2.0), ("c", "cut_at_budget", None, 1.0), ("d", 4, 0.8, 0.5), ("e", "cut_at_budget", None, 0.2)],
    ],
    "q2": [[("x", 1, 0.95, 1.0), ("y", 8, 0.5, 2.0), ("z", 4, 0.15, 0.1), ("w", 10, 0.72, 0.3)]],
    "q3": [[("m", "engine_error", None, 1.0), ("n", "not_integer", None, 2.0)]],  # every judgment failed
    "q4": [],  # in the dataset with qrels, never judged
}
FORCED = {("q2", "z")}  # read from next-token digits
QRELS = {"q1": {"a": 2, "d": 1, "e": 1}, "q2": {"y": 1, "w": 2, "x": 0}, "q3": {"m": 1}, "q4": {"k": 1}}
LABELS = {("q1", "a"): 10, ("q1", "c"): 3, ("q2", "x"): 6, ("q2", "z"): 1, ("q3", "n"): 9}
# Latest outcome per document (what the page counts), written out by hand.
OUTCOMES = {("q1", "a"): "ok", ("q1", "b"): "ok", ("q1", "c"): "ok", ("q1", "d"): "ok",
            ("q1", "e"): "cut_at_budget", ("q2", "x"): "ok", ("q2", "y"): "ok", ("q2", "z"): "forced",
            ("q2", "w"): "ok", ("q3", "m"): "engine_error", ("q3", "n"): "not_integer"}
SCORED = {("q1", "a"): 9, ("q1", "b"): 7, ("q1", "c"): 2, ("q1", "d"): 4, ("q2", "x"): 1, ("q2", "y"): 8,
          ("q2", "z"): 4, ("q2", "w"): 10}


def _distribution(score: int, p: float) -> list[float]:
    rest = (1.0 - p) / 10
    return [p if n == score else rest for n in range(11)]


def _judgment(index: int, doc: str, answer, p, first: float, forced: bool) -> Judgment:
    if isinstance(answer, str):
        return Judgment(doc_id=doc, index=index, raw_output="…", status=STATUS_FAILED, failure=answer,
                        first_stage_score=first, first_stage_source="given")
    dist = _distribution(answer, p)
    expected, entropy = scoring.distribution_summary(dist)
    return Judgment(doc_id=doc, index=index, raw_output=f"<answer>{answer}</answer>",
                    status=STATUS_FORCED if forced else STATUS_OK, score=answer, probability=p,
                    rank_score=answer * p, first_stage_score=first, first_stage_source="given",
                    score_distribution=dist, expected_score=expected, score_entropy=entropy)


def _build(path) -> tuple[str, dict[str, list[int]]]:
    url = f"sqlite:///{path}"
    run_ids: dict[str, list[int]] = {}
    with Store(url) as store:
        store.add_qrels([(q, d, r) for q, docs in QRELS.items() for d, r in docs.items()], source=DATASET)
        for qid, runs in BATCH.items():
            query_id = store.upsert_query(f"query {qid} <b>bold</b>", source=DATASET, source_query_id=qid)
            run_ids[qid] = []
            for rows in runs:
                docs = [Document(d, f"text of {d}", first_stage_score=f, first_stage_source="given")
                        for d, _, _, f in rows]
                run = store.start_run(query_id, docs, model=MODEL, engine="fake", instruction="i",
                                      truncate_length=64, generation=GenerationSettings(), alpha=0.2)
                store.add_judgments(run, [_judgment(i, d, a, p, f, (qid, d) in FORCED)
                                          for i, (d, a, p, f) in enumerate(rows)])
                store.finish_run(run)
                run_ids[qid].append(run)
        # Another model judged q1 too: it is another batch, never mixed into this one.
        q1 = next(q["id"] for q in store.queries() if q["source_query_id"] == "q1")
        other = store.start_run(q1, [Document("a", "text of a", first_stage_score=3.0)], model="other",
                                engine="fake", instruction="i", truncate_length=64,
                                generation=GenerationSettings(), alpha=0.2)
        store.add_judgments(other, [_judgment(0, "a", 0, 0.99, 3.0, False)])
        for (qid, doc), score in LABELS.items():
            query_id = next(q["id"] for q in store.queries() if q["source_query_id"] == qid)
            store.add_label(query_id, doc, "ann", score)
        # A batch without qrels.
        plain = store.upsert_query("no qrels here", source="plainset", source_query_id="p1")
        run = store.start_run(plain, [Document("u", "u", first_stage_score=1.0), Document("v", "v", first_stage_score=2.0)],
                              model=MODEL, engine="fake", instruction="i", truncate_length=64,
                              generation=GenerationSettings(), alpha=0.2)
        store.add_judgments(run, [_judgment(0, "u", 3, 0.5, 1.0, False), _judgment(1, "v", "no_answer", None, 2.0, False)])
    return url, run_ids


@pytest.fixture
def batch_store(tmp_path):
    url, run_ids = _build(tmp_path / "batch.sqlite")
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
            value = p if signal == "P(N)" else sum(n * q for n, q in enumerate(_distribution(score, p))) / 10
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
    handler = next(d.fn for d in demo.fns.values() if d.fn is not None and d.fn.__name__ == "open_query_run")
    row = [None] * len(benchmark_analyze.QUERY_COLUMNS)
    row[benchmark_analyze.QUERY_COLUMNS.index(benchmark_analyze.COL_RUN)] = run_ids["q1"][1]
    values = handler("ann", "rank_score", {"annotator": "ann"}, SimpleNamespace(row_value=row))
    view = values[0]
    assert isinstance(view, RunView) and view.run_id == run_ids["q1"][1] and view.query.startswith("query q1")
    assert values[-2] == {"annotator": "ann", "run_id": run_ids["q1"][1]}  # a reload reopens it
    assert isinstance(values[-1], gr.Tabs) and values[-1].selected == ui_app.RERANK_TAB
    row[benchmark_analyze.QUERY_COLUMNS.index(benchmark_analyze.COL_RUN)] = float("nan")  # never judged
    unchanged = handler("ann", "rank_score", {}, SimpleNamespace(row_value=row))
    assert all(v == gr.skip() for v in unchanged)  # a toast says why; nothing on the page changes
    writable.close()
