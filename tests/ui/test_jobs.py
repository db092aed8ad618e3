"""Runs as server-side jobs (no browser): they outlive their followers, any session cancels them,
one runs at a time, the API streams increments that add up to the final list, and bad numbers or
a locked model choice are refused before anything is stored."""
from __future__ import annotations

import threading
import warnings

import gradio as gr
import pytest

from erank_studio import judge, prompt
from erank_studio.runs import RunSpec
from erank_studio.types import Document, GenerationSettings
from erank_studio.ui import api as ui_api
from erank_studio.ui import render, rerank_tab, run_progress
from erank_studio.ui.context import Context, Defaults, ModelChoiceLocked
from erank_studio.ui.engine_provider import EngineProvider
from erank_studio.ui.jobs import JobManager, RunBusy

WAIT_S = 10  # generous bounds on waits for states; nothing here waits for work to be fast


def _docs(n=5):
    return [Document(f"d{i}", f"document {i} about cats", first_stage_score=float(n - i)) for i in range(n)]


def _start(manager, engine, n=5, owner="page-1", alpha=0.2):
    spec = RunSpec("cats?", _docs(n), instruction="instr", truncate_length=64,
                   settings=GenerationSettings(max_new_tokens=8), alpha=alpha)
    return manager.start(engine, spec, owner=owner)


def _wait_until(predicate, what):
    done = threading.Event()
    for _ in range(WAIT_S * 20):
        if predicate():
            return
        done.wait(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_a_job_runs_to_the_end_without_anyone_following(store, fake_engine):
    manager = JobManager(store)
    job = _start(manager, fake_engine)
    assert manager.wait_idle(WAIT_S)
    assert job.finished and job.status == "done" and job.judged == 5
    assert [r.status for r in store.runs()] == ["done"]
    stored = store.run_judgments(job.run_id)
    # hybrid scores computed once, at the end, over the whole list: a fresh computation agrees
    fresh = [j for j in store.run_judgments(job.run_id)]
    judge.apply_hybrid(fresh, 0.2)
    assert [j.hybrid_score for j in stored] == pytest.approx([j.hybrid_score for j in fresh])


def test_a_follower_that_goes_away_leaves_the_job_running(store, gated_engine):
    engine = gated_engine
    manager = JobManager(store)
    job = _start(manager, engine)
    follower = job.follow(0, tick=0.05)
    engine.release(2)
    seen = []
    while len(seen) < 2:
        seen += next(follower)
    follower.close()  # a reload or a closed tab
    assert not job.token.cancelled
    engine.release(3)
    assert manager.wait_idle(WAIT_S)
    assert job.status == "done" and len(store.run_judgments(job.run_id)) == 5
    # a page that reopens follows it again from the start: everything, once each
    again = [j.doc_id for step in job.follow(0, tick=0.05) for j in step]
    assert again == [f"d{i}" for i in range(5)]


def test_any_session_cancels_the_running_job_and_what_is_done_is_kept(store, gated_engine):
    engine = gated_engine
    manager = JobManager(store)
    job = _start(manager, engine, owner="page-1")
    engine.release(2)
    _wait_until(lambda: job.judged == 2, "two judgments")
    assert manager.cancel() is job  # e.g. the Cancel button of another browser
    assert manager.wait_idle(WAIT_S)
    assert job.status == "cancelled" and job.judged == 2
    assert store.runs()[0].status == "cancelled" and len(store.run_judgments(job.run_id)) == 2
    assert manager.cancel() is None  # nothing runs any more


def test_one_run_at_a_time_and_a_refused_start_stores_nothing(store, gated_engine):
    engine = gated_engine
    manager = JobManager(store)
    job = _start(manager, engine)
    with pytest.raises(RunBusy, match=f"run #{job.run_id}"):
        _start(manager, engine, owner="page-2")
    assert len(store.runs()) == 1
    assert not manager.wait_idle(0.01)
    engine.release(5)
    assert manager.wait_idle(WAIT_S)
    second = _start(manager, engine, owner="page-2")
    engine.release(5)
    assert manager.wait_idle(WAIT_S) and second.status == "done"


def test_a_follower_reranking_its_copy_never_changes_what_the_job_saves(store, gated_engine):
    engine = gated_engine
    manager = JobManager(store)
    job = _start(manager, engine)
    engine.release(3)
    _wait_until(lambda: job.judged == 3, "three judgments")
    mine = job.follower_view()
    for j in mine.judgments:
        j.hybrid_score = 123.0
    assert all(j.hybrid_score != 123.0 for j in job.since(0))
    engine.release(2)
    manager.wait_idle(WAIT_S)
    assert all(j.hybrid_score != 123.0 for j in store.run_judgments(job.run_id))


def test_an_engine_crash_ends_the_job_with_its_error(store, fake_engine):
    def crash(*args, **kwargs):
        raise RuntimeError("out of memory")

    fake_engine.generate = crash
    manager = JobManager(store)
    job = _start(manager, fake_engine)
    assert manager.wait_idle(WAIT_S)
    assert job.status == "failed" and "out of memory" in job.error
    assert store.runs()[0].status == "failed"


# -- the API and the run handler -------------------------------------------------------------------


def _ctx(store, engine, **defaults):
    provider = EngineProvider(loader=lambda *a, **k: engine)
    return Context(store=store, provider=provider, defaults=Defaults(model="fake", **defaults))


RUN_ARGS = dict(query="cats?", instruction="", documents_text=None, loaded=None, model="fake", engine="auto",
                base_url="", truncate_length=2048, alpha=0.2, max_new_tokens=8, force=False, sort_by="rank_score",
                annotator="", bench=None)


def _run_handler(ctx):
    """The Rerank view's run handler, called with the handler's names for its inputs (Gradio
    hands it one dict keyed by component), and the components its updates are keyed by."""
    with gr.Blocks():
        ui = rerank_tab.build(ctx)
    handler = run_progress.make_run_handler(ctx, ui)

    def run(**named):
        return handler(run_progress.inputs_for(ui, **{**RUN_ARGS, "documents_text": DOCS_TEXT, **named}))

    return ui, run


DOCS_TEXT = "\n".join(f"document {i} about cats and how they purr" for i in range(12))


def test_the_api_streams_increments_that_add_up_to_the_final_list(store, fake_engine):
    ctx = _ctx(store, fake_engine)
    messages = list(ui_api.api_rerank(ctx)("cats?", DOCS_TEXT, max_new_tokens=8))
    final = messages[-1]
    assert final["status"] == "done" and all(m["judgments"] is None for m in messages[:-1])
    increments = [item for m in messages for item in m["new"]]
    assert sorted(i["doc_id"] for i in increments) == sorted(i["doc_id"] for i in final["judgments"])
    assert len(increments) == 12  # each judgment sent once
    by_id = {i["doc_id"]: i for i in increments}
    for item in final["judgments"]:
        assert {k: v for k, v in item.items() if k not in ("rank", "hybrid_score")} == by_id[item["doc_id"]]
    assert [i["rank"] for i in final["judgments"]] == list(range(1, 13))
    scores = [i["rank_score"] for i in final["judgments"]]
    assert scores == sorted(scores, reverse=True)
    stored = {j.doc_id: j.hybrid_score for j in store.run_judgments(final["run_id"])}
    assert {i["doc_id"]: i["hybrid_score"] for i in final["judgments"]} == pytest.approx(stored)


PARTLY_SCORED = ('{"id": "a", "content": "cats purr", "first_stage_score": 3}\n'
                 '{"id": "b", "content": "dogs bark"}\n{"id": "c", "content": "cats sleep"}')
PARTLY_SCORED_NOTE = "2 of 3 documents had no first-stage score, so BM25 scored the whole list"


def test_the_api_says_when_bm25_replaced_a_partial_first_stage(store, fake_engine):
    ctx = _ctx(store, fake_engine)
    messages = list(ui_api.api_rerank(ctx)("cats?", PARTLY_SCORED, max_new_tokens=8))
    assert messages[-1]["status"] == "done" and len(messages[-1]["judgments"]) == 3
    assert all(m["note"].startswith(PARTLY_SCORED_NOTE) for m in messages)
    stored = {j.doc_id: j.first_stage_score for j in store.run_judgments(messages[-1]["run_id"])}
    assert stored["a"] != 3.0 and None not in stored.values()  # BM25's scores, not the given one
    fully_typed = list(ui_api.api_rerank(ctx)("cats?", DOCS_TEXT, max_new_tokens=8))
    assert all(m["note"] is None for m in fully_typed)


def test_the_page_shows_the_note_of_a_partly_scored_run_and_clears_it_for_the_next(store, fake_engine):
    ctx = _ctx(store, fake_engine)
    ui, run = _run_handler(ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        partly = list(run(documents_text=PARTLY_SCORED))
        assert render.md_escape(PARTLY_SCORED_NOTE) in partly[-1][ui.run_note]
        assert store.runs()[0].status == "done"  # the list was judged, not refused
        plain = list(run())
    assert plain[-1][ui.run_note] == ""


def test_an_api_client_that_disconnects_cancels_its_run(store, gated_engine):
    engine = gated_engine
    ctx = _ctx(store, engine)
    stream = ui_api.api_rerank(ctx)("cats?", DOCS_TEXT, max_new_tokens=8)
    engine.release(1)
    first = next(stream)
    while not first["new"]:
        first = next(stream)
    stream.close()  # what Gradio does when the client's connection drops
    assert ctx.jobs.wait_idle(WAIT_S)
    assert store.runs()[0].status == "cancelled"


@pytest.mark.parametrize("field, kwargs", [
    ("max_new_tokens", {"max_new_tokens": 100_000_000}),
    ("max_new_tokens", {"max_new_tokens": -5}),
    ("alpha", {"alpha": 5}),
    ("truncate_length", {"truncate_length": -1}),
    ("truncate_length", {"truncate_length": 2.5}),
])
def test_api_numbers_out_of_range_are_refused_naming_the_field_and_no_run_is_stored(store, fake_engine, field,
                                                                                     kwargs):
    ctx = _ctx(store, fake_engine)
    with pytest.raises(gr.Error, match=rf"{field} must be .* from \d+(\.\d+)? to \d+"):
        list(ui_api.api_rerank(ctx)("cats?", DOCS_TEXT, **kwargs))
    assert store.runs() == []


def test_the_ui_run_refuses_bad_numbers_naming_the_field(store, fake_engine):
    ctx = _ctx(store, fake_engine)
    ui, run = _run_handler(ctx)
    with pytest.raises(gr.Error, match="max_new_tokens must be a whole number from 1 to 8192"):
        list(run(max_new_tokens=0))
    with pytest.raises(gr.Error, match="alpha must be a number from 0 to 1"):
        list(run(alpha=float("nan")))
    assert store.runs() == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        updates = list(run())
    assert "done: 12 of 12" in updates[-1][ui.progress]


def test_with_model_choice_off_another_model_or_server_is_refused(store, fake_engine):
    ctx = _ctx(store, fake_engine, allow_model_choice=False)
    assert ctx.engine_choice("", None, None) == ("fake", "auto", "")
    with pytest.raises(ModelChoiceLocked):
        ctx.engine_choice("Qwen/Qwen3-32B", "auto", "")
    with pytest.raises(ModelChoiceLocked):
        ctx.engine_choice("fake", "openai", "http://169.254.169.254/v1")
    # the page's model status never loads what a visitor typed
    assert ctx.engine_choice("Qwen/Qwen3-32B", "openai", "http://x", strict=False) == ("fake", "auto", "")
    api = ui_api.api_rerank(ctx)
    with pytest.raises(gr.Error, match="ERANK_ALLOW_MODEL_CHOICE"):
        list(api("cats?", DOCS_TEXT, model="Qwen/Qwen3-32B"))
    with pytest.raises(gr.Error, match="ERANK_ALLOW_MODEL_CHOICE"):
        list(api("cats?", DOCS_TEXT, engine="openai", base_url="http://10.0.0.1/v1"))
    _, run = _run_handler(ctx)
    with pytest.raises(gr.Error, match="ERANK_ALLOW_MODEL_CHOICE"):
        list(run(model="Qwen/Qwen3-32B"))
    assert store.runs() == []
    assert list(api("cats?", DOCS_TEXT, max_new_tokens=8))[-1]["status"] == "done"  # the operator's model runs


def test_model_choice_is_off_by_default_when_public(monkeypatch):
    monkeypatch.delenv("ERANK_ALLOW_MODEL_CHOICE", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert Defaults.from_env(public=False).allow_model_choice
    assert not Defaults.from_env(public=True).allow_model_choice
    monkeypatch.setenv("SPACE_ID", "someone/space")
    assert not Defaults.from_env().allow_model_choice
    monkeypatch.setenv("ERANK_ALLOW_MODEL_CHOICE", "yes")
    assert Defaults.from_env(public=True).allow_model_choice
    monkeypatch.setenv("ERANK_ALLOW_MODEL_CHOICE", "maybe")
    with pytest.raises(ValueError, match="ERANK_ALLOW_MODEL_CHOICE"):
        Defaults.from_env()


@pytest.mark.parametrize("template", ["erank", "paper"])
def test_the_ui_run_records_the_chosen_template_and_sends_it(store, fake_engine, template):
    ctx = _ctx(store, fake_engine)
    _, run = _run_handler(ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        list(run(template=template))
    (saved,) = store.runs()
    assert store.run_info(saved.id)["template"] == template
    expected_head = prompt.TEMPLATES[template].split("{", 1)[0]
    assert all(j.prompt_message.startswith(expected_head) for j in store.run_judgments(saved.id))


def test_the_ui_run_refuses_an_unknown_template(store, fake_engine):
    _, run = _run_handler(_ctx(store, fake_engine))
    with pytest.raises(gr.Error, match="prompt template must be one of erank, paper"):
        list(run(template="figure-6"))
    assert store.runs() == []


def test_a_job_says_what_is_being_written_while_no_document_finishes(store, gated_engine):
    from tests.ui.conftest import GATED_TOKENS_SO_FAR

    manager = JobManager(store)
    job = _start(manager, gated_engine, n=3)
    _wait_until(lambda: job.writing_line().startswith("writing 1 document"), "the first document being written")
    assert f"{GATED_TOKENS_SO_FAR} tokens so far (longest {GATED_TOKENS_SO_FAR} of 8)" in job.writing_line()
    assert job.judged == 0
    gated_engine.release(3)
    assert manager.wait_idle(WAIT_S) and job.status == "done"
    assert job.writing_line() == ""  # nothing left being written


def test_the_demo_model_run_gets_its_budget_and_says_so(store, fake_engine):
    fake_engine.is_reranker, fake_engine.suggested_max_new_tokens = False, 256
    ctx = _ctx(store, fake_engine)
    ui, run = _run_handler(ctx)
    # The budget box untouched (the app's default): the model's own budget, and the page says so.
    updates = list(run(max_new_tokens=ctx.defaults.max_new_tokens))
    assert store.run_info(max(r.id for r in store.runs()))["generation"]["max_new_tokens"] == 256
    assert "256 new tokens" in updates[-1][ui.progress]
    # A budget the person chose is kept.
    list(run(max_new_tokens=100))
    assert store.run_info(max(r.id for r in store.runs()))["generation"]["max_new_tokens"] == 100
