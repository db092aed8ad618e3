"""The Label next panel and the Compare tab without a browser: choosing a strategy opens the
queue's first document, a label on it moves to the next and is in the store, skip moves on
without a label; the /label_queue API gives the CLI's order; compare's traces are escaped."""
from __future__ import annotations

import pytest
from constructed_runs import DOCS, SOURCE, make_run

from erank_studio import compare, queue
from erank_studio.ui import compare_tab, queue_panel, session


def test_walking_the_queue_labels_advances_and_persists(store):
    query_id, run_id = make_run(store)
    view = session.open_run(store, run_id)
    order = [i.doc_id for i in queue.run_queue(store, run_id, "entropy", "ann").items]
    view, walk, status = queue_panel.start(store, view, "entropy", "ann")
    assert view.selected == order[0] and status.startswith(f"1 of {len(order)} in queue · {len(order)} left")
    session.add_label(store, view, view.selected, "ann", 6, None, None)  # what a score key does
    view, walk, status = queue_panel.after_label(store, view, walk, "ann")
    assert view.selected == order[1] and status == f"2 of {len(order)} in queue · {len(order) - 1} left"
    view, walk, status = queue_panel.skip(store, view, walk, "ann")
    assert view.selected == order[2] and status.endswith(f"{len(order) - 1} left")
    assert store.current_labels(query_id, "ann")[order[0]].score == 6
    assert order[1] not in store.current_labels(query_id, "ann")


def test_a_batch_queue_opens_the_next_querys_run(store):
    q1, run_1 = make_run(store, "q1", docs={d: DOCS[d] for d in ("d1", "d2")})
    q2, run_2 = make_run(store, "q2", docs={d: DOCS[d] for d in ("d3", "d6")})
    entries = [(i.run_id, i.doc_id) for i in queue.batch_queue(store, SOURCE, "entropy", "ann").items]
    # entropy 0.45, then 0.30 twice (d6 ranks first in its query, d2 second in its own), then 0.05
    assert entries == [(run_2, "d3"), (run_2, "d6"), (run_1, "d2"), (run_1, "d1")]
    view = session.open_run(store, run_1)
    view, walk, status = queue_panel.start(store, view, "entropy", "ann", queue_panel.SCOPE_BATCH)
    assert (view.run_id, view.selected) == (run_2, "d3") and status.startswith("1 of 4 in queue · 4 left")
    for expected in entries[1:]:
        session.add_label(store, view, view.selected, "ann", 5, None, None)
        view, walk, status = queue_panel.after_label(store, view, walk, "ann")
        assert (view.run_id, view.selected) == expected
    assert status == "4 of 4 in queue · 1 left"
    assert {d: r.score for d, r in store.current_labels(q2, "ann").items()} == {"d3": 5, "d6": 5}
    typed = store.upsert_query("typed")
    _, lone = make_run(store, "typed-run", qrels=None)
    with pytest.raises(ValueError, match="not a benchmark query"):
        queue_panel.start(store, session.RunView(run_id=lone, query_id=typed, query="typed"), "rank", "ann",
                          queue_panel.SCOPE_BATCH)


def test_the_queue_needs_a_run_a_name_and_for_qrels_qrels(store):
    _, run_id = make_run(store, "bare", qrels=None)
    view = session.open_run(store, run_id)
    with pytest.raises(ValueError, match="Annotator"):
        queue_panel.start(store, view, "entropy", "")
    with pytest.raises(queue.QueueUnavailable, match="needs qrels"):
        queue_panel.start(store, view, "qrels", "ann")
    with pytest.raises(ValueError, match="Open or run"):
        queue_panel.start(store, session.RunView(), "rank", "ann")
    with pytest.raises(ValueError, match="Label next"):
        queue_panel.skip(store, view, None, "ann")
    assert queue_panel.start(store, view, queue_panel.OFF, "ann") == (view, None, "")


def test_the_label_queue_and_compare_apis_answer_as_the_cli(store, fake_engine):
    from erank_studio.ui import app as ui_app
    from erank_studio.ui.context import Defaults
    from erank_studio.ui.engine_provider import EngineProvider

    _, run_id = make_run(store)
    demo = ui_app.build_app(store, EngineProvider(loader=lambda *a, **k: fake_engine), Defaults(model="fake"))
    label_queue = next(d.fn for d in demo.fns.values() if d.api_name == "label_queue")
    got = label_queue(run_id=run_id, annotator="ann", strategy="first_stage")
    assert [i["doc_id"] for i in got["items"]] == [i.doc_id for i in queue.run_queue(store, run_id, "first_stage").items]
    assert label_queue(dataset=SOURCE, strategy="rank")["n_queued"] == 7
    with pytest.raises(Exception, match="unknown strategy"):
        label_queue(run_id=run_id, strategy="nonsense")
    compare_runs = next(d.fn for d in demo.fns.values() if d.api_name == "compare_runs")
    _, other = make_run(store, instruction="another")
    assert compare_runs(run_id, other)["n_shared"] == 7
    with pytest.raises(Exception, match="itself"):
        compare_runs(run_id, run_id)


def test_compare_traces_are_escaped_and_marked(store):
    query_id, a = make_run(store, thought="<script>alert(1)</script> the cat sat")
    _, b = make_run(store, instruction="other", thought="<script>alert(1)</script> the dog sat")
    c = compare.compare_runs(store, a, b)
    left, right = compare_tab.diff_html(c, "d1", "a"), compare_tab.diff_html(c, "d1", "b")
    assert "<script>" not in left + right and "&lt;script&gt;" in left
    assert '<del class="erank-diff-del">cat </del>' in left and '<ins class="erank-diff-ins">dog </ins>' in right
    frame = compare_tab.comparison_frame(c).data
    assert list(frame["change"]) == ["="] * 6 + [""]  # same scores: nothing moved; d5 failed in both
    loaded, bench = compare_tab.rerun_inputs(store, session.open_run(store, a))
    assert [d.doc_id for d in loaded.documents] == list("d1 d2 d3 d4 d5 d6 d7".split())
    assert bench.source == SOURCE and bench.source_query_id == "q1"


def test_the_base_model_button_is_offered_for_erank_runs_where_a_model_may_be_chosen(store):
    from erank_studio.ui.context import Context, Defaults

    _, erank_run = make_run(store, model="Alibaba-NLP/ERank-14B")
    _, other_run = make_run(store, model="Qwen/Qwen3-0.6B", instruction="other")
    open_choice = Context(store=store, provider=None, defaults=Defaults(model="fake"))  # type: ignore[arg-type]
    locked = Context(store=store, provider=None,  # type: ignore[arg-type]
                     defaults=Defaults(model="fake", allow_model_choice=False))
    assert compare_tab.base_model_for(open_choice, session.open_run(store, erank_run)) == "Qwen/Qwen3-14B"
    assert compare_tab.base_model_for(open_choice, session.open_run(store, other_run)) is None
    assert compare_tab.base_model_for(locked, session.open_run(store, erank_run)) is None  # public server
    assert compare_tab.base_model_for(open_choice, session.RunView()) is None  # nothing open
