"""Regressions found by hand in the browser: reload mid-run, streaming pace, undo, idle Cancel."""
from __future__ import annotations

import pytest

from erank_studio.engines.base import CancelToken
from erank_studio.runs import RunSpec
from erank_studio.types import Document, GenerationSettings
from erank_studio.ui import session
from erank_studio.ui.context import Context, Defaults
from erank_studio.ui.run_progress import StreamPace, remember_run
from erank_studio.ui.session import RunView


def test_the_run_is_remembered_as_soon_as_it_exists():
    import gradio as gr

    started = RunView(run_id=7)
    updates = [{"progress": "loading"}, {"view": started, "progress": "running 0"},
               {"view": started, "progress": "running 1"}]
    out = list(remember_run(iter(updates), {"annotator": "ann", "run_id": 3}, "view", "saved"))
    assert out[0]["saved"] == {"annotator": "ann", "run_id": 3}  # no run yet: the saved value as it was
    assert out[1]["saved"] == out[2]["saved"] == {"annotator": "ann", "run_id": 7}
    # never an update dict: Gradio would store {"__type__": "update"} into the browser's state
    assert all("__type__" not in values["saved"] for values in out)
    remembered = list(remember_run(iter([gr.skip()]), {"run_id": 1, "__type__": "update"}, "view", "saved"))
    assert remembered == [{"saved": {"run_id": 1}}]


def test_stream_pace_sends_every_update_while_cheap_and_paces_slow_ones():
    now = [0.0]
    pace = StreamPace(clock=lambda: now[0])
    assert pace.due()
    pace.sending(); now[0] += 0.01; pace.sent()
    now[0] += 0.1
    assert pace.due()  # a cheap update: the next judgment streams almost at once
    pace.sending(); now[0] += 1.0; pace.sent()  # a slow update (a big table)
    now[0] += 5.0
    assert not pace.due()  # rendering may take at most about a tenth of the run
    now[0] += 4.1
    assert pace.due()


def test_undo_with_nothing_to_undo_says_so(store, fake_engine):
    settings = GenerationSettings(max_new_tokens=8)
    docs = [Document(f"d{i}", f"document {i} about cats") for i in range(2)]
    view = session.start_run(store, fake_engine, RunSpec("cats?", docs, instruction="instr", truncate_length=64,
                                                          settings=settings, alpha=0.2))
    for view in session.stream_judgments(store, fake_engine, view, cancel=CancelToken()):
        pass
    with pytest.raises(ValueError, match="Nothing to undo"):
        session.undo_label(store, view, "d0", "alice")
    session.add_label(store, view, "d0", "alice", 5, None, None)
    assert session.undo_label(store, view, "d0", "alice") is None  # back to no label: a real undo
    with pytest.raises(ValueError, match="Nothing to undo"):
        session.undo_label(store, view, "d0", "alice")


def test_cancel_after_the_run_ended_reports_nothing_running(store):
    ctx = Context(store=store, provider=None, defaults=Defaults())  # type: ignore[arg-type]
    token = ctx.new_cancel("s")
    ctx.finished("s", token)
    assert ctx.cancel("s") is False
    newer = ctx.new_cancel("s")
    ctx.finished("s", CancelToken())  # an older run's end leaves the newer run cancellable
    assert ctx.cancel("s") is True and newer.cancelled


def test_untrusted_ids_are_escaped_in_toasts_and_the_label_status(store, fake_engine):
    import warnings

    from erank_studio.ui import app as ui_app
    from erank_studio.ui.engine_provider import EngineProvider

    provider = EngineProvider(loader=lambda *a, **k: fake_engine)
    demo = ui_app.build_app(store, provider, Defaults(model="fake"))
    fns = {d.fn.__name__: d.fn for d in demo.fns.values() if d.fn is not None}
    handlers = [d.fn for d in demo.fns.values() if d.fn is not None and d.fn.__name__ == "handler"]
    settings = GenerationSettings(max_new_tokens=8)
    evil = "<img/src=z/onerror=alert(9)>"  # no whitespace: the store refuses ids TREC files cannot hold
    view = session.start_run(store, fake_engine, RunSpec("q", [Document(evil, "text")], instruction="i",
                                                          truncate_length=64, settings=settings, alpha=0.2))
    for view in session.stream_judgments(store, fake_engine, view, cancel=CancelToken()):
        pass
    view.selected = evil
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fns["undo"](view, "<b>me</b>", "", "", "rank_score", None)
    shown = " ".join(str(w.message) for w in caught)
    assert "Nothing to undo" in shown and "<img" not in shown and "<b>" not in shown
    # score buttons, moves: each answers {component: value}, the label status among them
    statuses = [" ".join(v for v in h(view, "me", "", "", "rank_score", None).values() if isinstance(v, str))
                for h in handlers]
    assert any("saved ✓ score" in s for s in statuses) and not any("<img" in s for s in statuses)


def test_a_load_error_in_the_model_status_is_escaped():
    from erank_studio.ui.engine_provider import EngineProvider

    def broken(*args, **kwargs):
        raise RuntimeError("<img src=x onerror=alert(1)> not found")

    provider = EngineProvider(loader=broken)
    provider.wait("m", "auto", "", timeout=5)
    assert "<img" not in provider.status("m", "auto", "")


def test_a_failed_export_replaces_the_last_success_message(store, fake_engine):
    import warnings

    from erank_studio.ui import app as ui_app
    from erank_studio.ui.engine_provider import EngineProvider

    demo = ui_app.build_app(store, EngineProvider(loader=lambda *a, **k: fake_engine), Defaults(model="fake"))
    make = next(d.fn for d in demo.fns.values() if d.fn is not None and d.fn.__name__ == "make")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        message, _ = make("no-such-format", False, False, False, "all", RunView(), "")
        assert message.startswith("Export failed")
        message, _ = make("csv", False, True, False, "all", RunView(), "")  # only the open run, none open
        assert "No run is open" in message


def test_upload_errors_name_the_file_not_the_temporary_folder():
    from erank_studio.ui.benchmark import without_upload_folders

    paths = ["/tmp/gradio/abc123/queries.jsonl", "/tmp/gradio/def456/corpus.jsonl"]
    message = "/tmp/gradio/abc123/queries.jsonl line 2: is not valid JSON"
    assert without_upload_folders(message, paths) == "queries.jsonl line 2: is not valid JSON"
