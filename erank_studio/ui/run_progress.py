"""The run in progress, as the Rerank view shows it: the Rerank click (a job on the server, which
this page follows: rows as they are judged, the elapsed time, the end), a page that reopens while
its run goes on, Cancel (of any run, whoever started it), and the line that says which run is in
progress elsewhere and who started it. ui/api.py starts runs through the same functions."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .. import prompt, runs
from . import queue_panel, render, run_limits, session
from .context import Context, ModelChoiceLocked
from .feedback import keep_screen
from .gpu import judge_fn
from .jobs import RunBusy, RunJob, copy_judgments
from .rerank_tab import RerankUI, detail_updates, documents_for_run
from .session import Benchmark, RunView

WAIT_STEP_S = 0.5
# The events that start a run (UI and API share them). One run judges at a time (the job manager
# sees to it: ui/jobs.py); these events start it and follow it, and more than one may wait.
RUN_QUEUE = "erank-run"
RUN_QUEUE_LIMIT = 8
# Pages that reopened while their run goes on and follow it again.
ATTACH_QUEUE = "erank-attach"
CANCEL_POLL_S = 1.0  # how soon a page sees that a run started elsewhere (its Cancel enabled)


def warning_text(engine: Any) -> str:
    """The one warning about the loaded model (empty when there is nothing to say): the engine's
    own when it has one (the demo model's says it is not a reranker), else a plain one for a model
    that is not a reranker. A blockquote, so an empty warning draws no box."""
    if engine is None:
        return ""
    if engine.warning:
        text = render.md_escape(engine.warning)
    elif not engine.is_reranker:
        text = ("**This model is not a reranker.** It ignores ERank's format; its scores are forced "
                "from next-token digits and mean little.")
    else:
        return ""
    return f"> ⚠ {text}"


class StreamPace:
    """Streams each judgment at once while the page keeps up, but never spends more than about a
    tenth of a run re-rendering: each update re-sends the whole table, so with hundreds of rows an
    update per judgment made the run several times slower than the model."""

    RATIO = 9  # wait nine times what the last update took: at most ~10% of the time rendering

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._began = 0.0
        self._cost = 0.0  # seconds the last update took (render, send)
        self._last = float("-inf")

    def due(self) -> bool:
        return self._clock() - self._last >= self.RATIO * self._cost

    def sending(self) -> None:
        self._began = self._clock()

    def sent(self) -> None:
        self._last = self._clock()
        self._cost = self._last - self._began


def remember_run(updates, saved: dict | None, view_key, saved_key):
    """The run handler's updates with one more, the browser's saved state (``saved_key``): it
    names the run as soon as the run exists, so a page reloaded mid-run reopens it (with what was
    judged). Every update carries the whole saved value: a gr.skip() sent to a BrowserState is
    stored into it."""
    saved = {k: v for k, v in (saved or {}).items() if k != "__type__"}
    for values in updates:
        values = {} if values == gr.skip() else dict(values)
        view = values.get(view_key)
        if isinstance(view, RunView) and view.run_id is not None:
            saved["run_id"] = view.run_id
        yield {**values, saved_key: dict(saved)}


API_OWNER = "api"  # who started a run that came through the HTTP API


def _owner(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or API_OWNER


def running_elsewhere_text(ctx: Context, job: RunJob | None, owner: str) -> str:
    """What a page says about a run in progress that another page or an API client started
    (empty when none, or when it is this page's own: its progress line says it all)."""
    if job is None or job.owner == owner:
        return ""
    if job.owner == API_OWNER:
        who = "an API client"
    else:
        who = render.md_escape(ctx.started_by.get(job.run_id) or "") or "a page with no annotator name"
    return (f"Run #{job.run_id} is in progress ({job.judged} of {job.n_documents}), started by {who}: "
            "a run started here waits for it; Cancel stops it.")


def engine_for_run(ctx: Context, model, engine_name, base_url, token) -> Iterator[str | Any]:
    """Wait for the model (it loads in the background): yields a line to show while it loads, then
    the engine; returns without one when ``token`` was cancelled. Raises gr.Error on a load error."""
    while True:
        engine, error, waited = ctx.provider.wait(model, engine_name, base_url, WAIT_STEP_S)
        if error:
            raise gr.Error(render.html_escape(f"The model could not be loaded: {error}"))
        if engine is not None:
            yield engine
            return
        if token.cancelled:
            return
        yield f"loading model… {waited:.0f} s (runs start once it is ready)"


def start_job(ctx: Context, engine, token, spec: runs.RunSpec, **job) -> Iterator[str | RunJob]:
    """Start the run ``spec`` describes as a job (``job``: ``JobManager.start``'s owner, note,
    judge_fn), waiting while another run holds the model: yields a line to show while waiting,
    then the job; returns without one when ``token`` was cancelled first."""
    while True:
        try:
            yield ctx.jobs.start(engine, spec, **job)
            return
        except RunBusy as busy:
            if token.cancelled:
                return
            yield (f"waiting: run #{busy.job.run_id} is in progress ({busy.job.judged} of "
                   f"{busy.job.n_documents}); this run starts when it ends")
        ctx.jobs.wait_idle(WAIT_STEP_S)


def checked_numbers(ctx: Context, alpha, truncate_length, max_new_tokens, engine=None) -> run_limits.RunNumbers:
    """The run's numbers, or a gr.Error naming the field and its range (before anything is stored)."""
    limit = run_limits.max_new_tokens_limit(engine, ctx.defaults.max_new_tokens)
    try:
        return run_limits.check_numbers(alpha, truncate_length, max_new_tokens, max_new_tokens_max=limit)
    except run_limits.RunSettingError as error:
        raise gr.Error(render.html_escape(error)) from None


def follow_job(ctx: Context, ui: RerankUI, job: RunJob, annotator, sort_by) -> Iterator[dict]:
    """The page's updates for a run in progress: what is judged so far, then the rest as it comes
    (paced), the elapsed time every second, and the final state. Closing this generator (a reload,
    a closed tab) leaves the job running."""
    view = job.follower_view()
    n = job.n_documents
    pace = StreamPace()

    def line(state: str = "running") -> str:
        text = render.progress_text(len(view.judgments), n, job.elapsed(), state) + f" · run #{job.run_id}"
        if state == "running":
            # Inside the documents: a run whose count stands still is still seen to move.
            writing = job.writing_line()
            if writing:
                text += f'<br><span class="erank-writing">{render.html_escape(writing)}</span>'
        if job.note:
            text += f"<br>note: {render.html_escape(job.note)}"
        return text

    pace.sending()
    session.rehybrid(view, view.alpha)
    yield {**detail_updates(ctx, ui, view, annotator, sort_by), ui.progress: line()}
    pace.sent()
    shown = len(view.judgments)  # judgments the page's table holds
    for new in job.follow(len(view.judgments)):
        view.judgments.extend(copy_judgments(new))
        if job.finished:
            break
        if len(view.judgments) == shown or not pace.due():
            # The elapsed time ticks; the table waits for its turn, and a judgment that came too
            # soon after the last update is sent at a later tick, not only with the next judgment.
            yield {ui.progress: line()}
            continue
        pace.sending()
        session.rehybrid(view, view.alpha)
        yield {**detail_updates(ctx, ui, view, annotator, sort_by), ui.progress: line()}
        pace.sent()
        shown = len(view.judgments)
    if job.error:
        gr.Warning(render.html_escape(f"The run stopped: {job.error}. The {len(view.judgments)} judgments done "
                                      "are saved."))
    view.status = job.status
    session.rehybrid(view, view.alpha)
    if view.selected is None and view.judgments:
        view.selected = view.order(sort_by)[0]
    failed = sum(1 for j in view.judgments if not j.ok)
    summary = line(view.status)
    if failed:
        summary += f" · {failed} parse failure{'s' if failed != 1 else ''} (no score; see status)"
    yield {**detail_updates(ctx, ui, view, annotator, sort_by), ui.progress: summary}


def new_run_updates(ui: RerankUI) -> dict:
    """What a run that starts clears: the last label's status line and a Label next order, which
    belonged to the run shown before (and its benchmark batch)."""
    return {ui.label_status: "", **queue_panel.reset(ui.queue)}


# The run's inputs by the handler's names for them (tests and bench/ build the dict through it).
RUN_FIELDS = {"query": "query", "instruction": "instruction", "documents_text": "documents", "loaded": "loaded",
              "model": "model", "engine": "engine", "base_url": "base_url", "truncate_length": "truncate_length",
              "alpha": "alpha", "max_new_tokens": "max_new_tokens", "force": "force_answer",
              "sort_by": "sort_by", "annotator": "annotator", "bench": "bench", "template": "template"}


def run_inputs(ui: RerankUI) -> set:
    """The components the run handler reads (Gradio passes them as one dict)."""
    return {getattr(ui, field) for field in RUN_FIELDS.values()}


def inputs_for(ui: RerankUI, **values) -> dict:
    """``{component: value}`` from the handler's names (``query=..., documents_text=...``): what
    Gradio hands the run handler."""
    return {getattr(ui, RUN_FIELDS[name]): value for name, value in values.items()}


def make_run_handler(ctx: Context, ui: RerankUI):
    def run_rerank(values: dict, request: gr.Request = None):
        """Rerank the documents for the query: the run is a job on the server; this page follows it."""
        query = (values.get(ui.query) or "").strip()
        if not query:
            raise gr.Error("Type a query first.")
        instruction = (values.get(ui.instruction) or "").strip() or prompt.DEFAULT_INSTRUCTION
        template = values.get(ui.template, prompt.DEFAULT_TEMPLATE)
        if template not in prompt.TEMPLATES:
            raise gr.Error(f"prompt template must be one of {', '.join(prompt.TEMPLATES)}")
        docs = documents_for_run(values.get(ui.documents), values.get(ui.loaded))
        alpha, truncate_length = values.get(ui.alpha), values.get(ui.truncate_length)
        max_new_tokens, force = values.get(ui.max_new_tokens), values.get(ui.force_answer)
        annotator, sort_by, bench = values.get(ui.annotator), values.get(ui.sort_by), values.get(ui.bench)
        numbers = checked_numbers(ctx, alpha, truncate_length, max_new_tokens)
        try:
            model, engine_name, base_url = ctx.engine_choice(values.get(ui.model), values.get(ui.engine),
                                                             values.get(ui.base_url))
        except ModelChoiceLocked as error:
            raise gr.Error(render.html_escape(error)) from None
        owner = _owner(request)
        token = ctx.cancel_token(owner)  # Cancel before the run starts stops the waits below
        try:
            engine = None
            for step in engine_for_run(ctx, model, engine_name, base_url, token):
                if isinstance(step, str):
                    yield {ui.progress: step, ui.model_status: ctx.provider.status(model, engine_name, base_url)}
                else:
                    engine = step
            if engine is None:
                yield {ui.progress: "cancelled while the model was loading"}
                return
            numbers = checked_numbers(ctx, alpha, truncate_length, max_new_tokens, engine)
            # An untouched budget box gives the demo model its own budget (the run says so).
            budget, budget_note = run_limits.page_run_budget(engine, numbers.max_new_tokens,
                                                             ctx.defaults.max_new_tokens)
            numbers = dataclasses.replace(numbers, max_new_tokens=budget)
            yield {ui.progress: "starting…", ui.model_status: ctx.provider.status(model, engine_name, base_url),
                   ui.engine_warning: warning_text(engine), **new_run_updates(ui)}
            spec = runs.RunSpec(
                query=query, documents=docs, instruction=instruction, template=template,
                truncate_length=numbers.truncate_length, settings=run_limits.settings_for(numbers, force, engine),
                alpha=numbers.alpha, **session.benchmark_ids(bench if isinstance(bench, Benchmark) else None, query),
            )
            job = None
            for step in start_job(ctx, engine, token, spec, owner=owner, note=budget_note, judge_fn=judge_fn()):
                if isinstance(step, str):
                    yield {ui.progress: step}
                else:
                    job = step
            if job is None:
                yield {ui.progress: "cancelled before it started"}
                return
            ctx.started_by[job.run_id] = (annotator or "").strip()
        except gr.Error:
            raise
        except Exception as error:  # the store refused: nothing was judged yet
            raise gr.Error(render.html_escape(f"Could not start the run: {error}")) from None
        finally:
            ctx.finished(owner, token)
        yield from follow_job(ctx, ui, job, annotator, sort_by)

    return run_rerank


def make_attach_handler(ctx: Context, ui: RerankUI):
    def attach(saved_value, annotator, sort_by):
        """A page that opens while its run is still going (a reload, a closed and reopened tab)
        follows it again; otherwise it changes nothing."""
        run_id = (saved_value or {}).get("run_id") if isinstance(saved_value, dict) else None
        job = ctx.jobs.job(run_id) if run_id is not None else None
        if job is None:
            yield gr.skip()
            return
        yield from follow_job(ctx, ui, job, annotator, sort_by)

    return attach


def wire(ctx: Context, ui: RerankUI, saved_state: gr.BrowserState) -> None:
    """Rerank, Cancel, and the run-in-progress line."""
    # an input error is one toast and leaves the run on screen as it is
    run_handler = keep_screen(make_run_handler(ctx, ui))

    def run_and_remember(values: dict, request: gr.Request):
        yield from remember_run(run_handler(values, request), values[saved_state], ui.view, saved_state)

    run_outputs = [*ui.detail_outputs, ui.progress, ui.model_status, ui.engine_warning, ui.label_status,
                   *ui.queue.outputs, saved_state]
    # Cancel is enabled only while a run is in progress (at once, not behind the run's queue): the
    # page's token is made as the click happens, so Cancel works before the run event starts.
    def pressed(request: gr.Request):
        ctx.new_cancel(_owner(request))
        return gr.update(interactive=True)

    def ended(request: gr.Request):
        ctx.drop_cancel(_owner(request))  # a run refused before it started leaves no token behind
        return gr.update(interactive=False)

    ui.run.click(pressed, None, ui.cancel, queue=False, api_visibility="private")
    run_event = ui.run.click(run_and_remember, run_inputs(ui) | {saved_state}, run_outputs, api_visibility="private",
                             concurrency_id=RUN_QUEUE, concurrency_limit=RUN_QUEUE_LIMIT)
    run_event.then(ended, None, ui.cancel, queue=False, api_visibility="private")

    def after_run(view: RunView, saved):
        saved = dict(saved or {})
        if view.run_id is not None:
            saved["run_id"] = view.run_id
        return gr.update(choices=session.run_choices(ctx.store), value=view.run_id), saved

    run_event.then(after_run, [ui.view, saved_state], [ui.saved_runs, saved_state], api_visibility="private")

    def on_cancel(request: gr.Request) -> None:
        # No output: the run's own last update ("cancelled: k of n") must not be overwritten.
        owner = _owner(request)
        waiting = ctx.cancel(owner)
        job = ctx.jobs.cancel()  # the run in progress, whichever page or client started it
        if job is not None and job.owner != owner:
            gr.Info(f"Cancelling run #{job.run_id} (started elsewhere): {job.judged} of {job.n_documents} done.")
        elif job is None and not waiting:
            gr.Info("Nothing is running.")

    # A run started elsewhere (another browser, an API client, this page before a reload) can be
    # cancelled from here too: Cancel is enabled whenever a run is in progress on the server or this
    # page's own Rerank waits to start, and the page says whose run it is.
    cancel_timer = gr.Timer(CANCEL_POLL_S)

    def run_state(shown_note, request: gr.Request):
        owner = _owner(request)
        job = ctx.jobs.current()
        enabled = job is not None or ctx.waiting(owner)
        note = running_elsewhere_text(ctx, job, owner)
        return {ui.cancel: gr.update(interactive=enabled), ui.running_note: note if note != shown_note else gr.skip()}

    cancel_timer.tick(run_state, ui.running_note, [ui.cancel, ui.running_note], api_visibility="private",
                      show_progress="hidden", concurrency_id="erank-cancel-state", concurrency_limit=None)

    # The token stops the engine between decoding steps; the job's thread then ends by itself,
    # marks the run cancelled, and every page following it shows "cancelled: k of n" with every
    # finished row kept. Its own queue (never behind a run's): a queue=False event cannot show the
    # "Nothing is running." toast.
    ui.cancel.click(on_cancel, None, None, api_visibility="private", concurrency_id="erank-cancel",
                    concurrency_limit=None)
