"""The session layer: runs stream into the store, alpha re-ranks without the model, labels commit."""
from __future__ import annotations

import pytest

from erank_studio.engines.base import CancelToken
from erank_studio.runs import RunSpec
from erank_studio.types import Document, GenerationSettings
from erank_studio.ui import session


def _docs(n=5):
    return [Document(f"d{i}", f"document number {i} about cats", first_stage_score=float(n - i)) for i in range(n)]


def _spec(docs, settings=None, **fields):
    return RunSpec("cats?", docs, instruction="instr", truncate_length=64, settings=settings or GenerationSettings(),
                   alpha=0.2, **fields)


def _run(store, engine, cancel=None, n=5, stop_after=None):
    view = session.start_run(store, engine, _spec(_docs(n), GenerationSettings(max_new_tokens=8)))
    cancel = cancel or CancelToken()
    seen = []
    for v in session.stream_judgments(store, engine, view, cancel=cancel):
        seen.append(len(v.judgments))
        if stop_after and len(v.judgments) == stop_after:
            cancel.cancel()
    return view, seen


def test_judgments_stream_and_are_stored_as_they_arrive(store, fake_engine):
    view, seen = _run(store, fake_engine)
    assert seen == [1, 2, 3, 4, 5]
    assert view.status == "done"
    assert [r.status for r in store.runs()] == ["done"]
    assert len(store.run_judgments(view.run_id)) == 5
    assert all(j.hybrid_score is not None for j in store.run_judgments(view.run_id))


def test_cancel_keeps_what_is_done(store, fake_engine):
    view, seen = _run(store, fake_engine, stop_after=2)
    assert seen == [1, 2]
    assert view.status == "cancelled"
    assert store.runs()[0].status == "cancelled"
    assert len(store.run_judgments(view.run_id)) == 2


def test_closing_the_generator_marks_the_run_cancelled(store, fake_engine):
    view = session.start_run(store, fake_engine, _spec(_docs()))
    gen = session.stream_judgments(store, fake_engine, view, cancel=CancelToken())
    next(gen)
    gen.close()  # what Gradio does when the Cancel button cancels the event
    assert store.runs()[0].status == "cancelled"
    assert len(store.run_judgments(view.run_id)) == 1


def test_alpha_reranks_without_calling_the_engine(store, fake_engine):
    view, _ = _run(store, fake_engine)
    calls = fake_engine.calls
    model_order = view.order("rank_score")
    session.rehybrid(view, 1.0)  # first stage only
    assert view.order("hybrid") == [f"d{i}" for i in range(5)]
    session.rehybrid(view, 0.0)  # model only
    assert view.order("hybrid")[:2] == model_order[:2]
    session.save_alpha(store, view)
    assert fake_engine.calls == calls
    reopened = session.open_run(store, view.run_id)
    assert reopened.alpha == 0.0
    assert reopened.order("hybrid") == view.order("hybrid")


def test_labels_commit_at_once_and_undo(store, fake_engine):
    view, _ = _run(store, fake_engine)
    j = view.judgment("d1")
    row = session.add_label(store, view, "d1", "alice", 7, j.trace, "")
    assert row.rationale is None  # the unchanged trace is not a correction
    row = session.add_label(store, view, "d1", "alice", 8, "edited reasoning", "a note")
    assert row.rationale == "edited reasoning" and row.note == "a note"
    assert session.label_scores(store, view, "alice") == {"d1": 8}
    assert session.undo_label(store, view, "d1", "alice").score == 7
    assert "labelled 1 of 5" in session.labelled_progress(view, session.label_scores(store, view, "alice"))
    with pytest.raises(ValueError, match="name"):
        session.add_label(store, view, "d1", "  ", 3, None, None)
    with pytest.raises(ValueError):
        session.add_label(store, view, "d1", "alice", 11, None, None)


def test_disagreements_are_counted(store, fake_engine):
    view, _ = _run(store, fake_engine)
    model = view.judgment("d1").score  # 3
    session.add_label(store, view, "d1", "bob", (model + 5) % 11, None, None)
    text = session.labelled_progress(view, session.label_scores(store, view, "bob"))
    assert "1 disagreement" in text


def test_benchmark_queries_show_their_qrels(store, fake_engine):
    store.add_qrels([("q7", "d1", 2)], source="bench")
    bench = session.Benchmark(source="bench", source_query_id="q7", query="cats?")
    view = session.start_run(store, fake_engine, _spec(_docs(), **session.benchmark_ids(bench, "cats?")))
    assert view.qrels == {"d1": 2}
    assert session.benchmark_ids(bench, "dogs?") == {}  # an edited query is not the benchmark's


def test_documents_bm25_cannot_index_still_run(store, fake_engine):
    docs = [Document("d1", "a"), Document("d2", "b")]
    view = session.start_run(store, fake_engine, _spec(docs))
    assert len(view.documents) == 2
    for _ in session.stream_judgments(store, fake_engine, view, cancel=CancelToken()):
        pass
    assert view.status == "done" and len(view.judgments) == 2


def test_a_run_whose_process_was_killed_shows_as_interrupted_when_the_app_opens_the_store(store_url):
    import subprocess
    import sys

    from erank_studio.store import Store
    from erank_studio.ui import app as ui_app
    from erank_studio.ui.context import Defaults
    from erank_studio.ui.engine_provider import EngineProvider

    url = store_url
    script = (
        "import os\n"
        "from erank_studio.store import Store\n"
        "from erank_studio.types import Document, GenerationSettings\n"
        f"store = Store({url!r})\n"
        "q = store.upsert_query('cats?')\n"
        "store.start_run(q, [Document('d0', 'text')], model='m', engine='e', instruction='i',\n"
        "                truncate_length=64, generation=GenerationSettings(), alpha=0.2)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", script], timeout=120)
    store = Store(url)  # what the app does when it starts
    try:
        assert [r.status for r in store.runs()] == ["interrupted"]
        assert "interrupted" in session.run_choices(store)[0][0]
        demo = ui_app.build_app(store, EngineProvider(loader=lambda *a, **k: None), Defaults(model="fake"))
        restore = next(d.fn for d in demo.fns.values() if d.fn is not None and d.fn.__name__ == "restore")
        run_id = store.runs()[0].id
        restored = restore({"annotator": "", "run_id": run_id}, "rank_score", None)
        progress = next(v for v in restored.values() if isinstance(v, str) and v.startswith(f"run #{run_id}"))
        assert f"run #{run_id} · interrupted (the process judging it stopped" in progress
    finally:
        store.close()
