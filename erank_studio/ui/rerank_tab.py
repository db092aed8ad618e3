"""The Rerank view: inputs, the streamed run, the ranked table, alpha / sort toggles, and the panel
that shows one document with its whole reasoning trace (annotation controls: annotate.py)."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from .. import models, prompt, scoring
from ..engines import ENGINES
from ..types import Document
from . import doc_input, queue_panel, render, run_limits, session
from .context import Context, ModelChoiceLocked
from .feedback import keep_screen
from .gpu import judge_fn
from .jobs import RunBusy, RunJob, copy_judgments
from .session import Benchmark, RunView

PRESET_CUSTOM = "custom"
WAIT_STEP_S = 0.5
# The events that start a run (UI and API share them). One run judges at a time (the job manager
# sees to it: ui/jobs.py); these events start it and follow it, and more than one may wait.
RUN_QUEUE = "erank-run"
RUN_QUEUE_LIMIT = 8
# Pages that reopened while their run goes on and follow it again.
ATTACH_QUEUE = "erank-attach"
CANCEL_POLL_S = 1.0  # how soon a page sees that a run started elsewhere (its Cancel enabled)
INSPECT_JS = Path(__file__).resolve().parents[2] / "assets" / "inspect.js"


@dataclass
class LoadedList:
    """Documents loaded from a benchmark or a file: the run uses them instead of the typed box."""

    source: str
    documents: list[Document]


@dataclass
class RerankUI:
    view: gr.State
    bench: gr.State
    query: gr.Textbox
    preset: gr.Dropdown
    instruction: gr.Textbox
    documents: gr.Textbox
    upload: gr.File
    model: gr.Dropdown
    engine: gr.Dropdown
    base_url: gr.Textbox
    truncate_length: gr.Number
    max_new_tokens: gr.Number
    force_answer: gr.Checkbox
    template: gr.Dropdown
    model_status: gr.Markdown
    engine_warning: gr.Markdown
    run: gr.Button
    cancel: gr.Button
    progress: gr.Markdown
    sort_by: gr.Radio
    alpha: gr.Slider
    table: gr.Dataframe
    saved_runs: gr.Dropdown
    detail: gr.HTML
    document: gr.HTML
    trace: gr.HTML
    loaded: gr.State
    list_box: gr.Group
    list_info: gr.Markdown
    list_table: gr.Dataframe
    list_clear: gr.Button
    # the annotation panel (filled in by annotate.build_panel)
    annotator: Any = None
    rationale: Any = None
    note: Any = None
    label_status: Any = None
    labelled: Any = None
    annotate_column: Any = None
    queue: Any = None  # the Label next controls (queue_panel.QueuePanel)
    rerun: Any = None  # "rerun with another instruction/model" (compare_tab.wire_rerun)
    # P(0..10) of the open judgment, beside its score card
    distribution: Any = None
    running_note: Any = None  # which run is in progress elsewhere, and who started it

    @property
    def detail_outputs(self) -> list:
        """What ``detail_values`` fills, in its order: the one place that order is written."""
        return [self.view, self.table, self.detail, self.document, self.trace, self.rationale, self.note,
                self.labelled]

    @property
    def list_outputs(self) -> list:
        """What ``show_list`` fills, in its order."""
        return [self.loaded, self.list_box, self.list_info, self.list_table]


# The released code's template is the default; the paper's Figure 5 wording is a named alternative.
TEMPLATE_CHOICES = [("ERank released code (default)", "erank"), ("paper, Figure 5 wording", "paper")]


def _preset_choices() -> list[str]:
    return [*prompt.INSTRUCTIONS.keys(), PRESET_CUSTOM]


def model_choices(defaults: Any) -> list[tuple[str, str]]:
    """(what a person reads, what the engine loads): a local folder by its name, never its path."""
    return [(models.display_name(c) or c, c) for c in defaults.model_choices()]


def _inspect_head() -> str:
    js = INSPECT_JS.read_text(encoding="utf-8") if INSPECT_JS.exists() else ""
    help_json = json.dumps(render.COLUMN_HELP, ensure_ascii=False).replace("</", "<\\/")
    return f"<script>window.ERANK_COLUMN_HELP = {help_json};\n{js}</script>"


def build(ctx: Context) -> RerankUI:
    d = ctx.defaults
    view = gr.State(RunView())
    bench = gr.State(None)
    loaded = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            query = gr.Textbox(label="Query", lines=2, placeholder="What are you looking for?", elem_id="erank-query")
            preset = gr.Dropdown(_preset_choices(), value="beir", label="Instruction preset (the paper's)",
                                 elem_id="erank-preset")
            instruction = gr.Textbox(label="Instruction (editable)", value=prompt.DEFAULT_INSTRUCTION, lines=2,
                                     elem_id="erank-instruction")
        with gr.Column(scale=1, min_width=320):
            documents = gr.Textbox(
                label="Documents: one per line, or blocks separated by a blank line, or JSON lines "
                      '({"id", "content", "first_stage_score"})',
                lines=6, max_lines=16, elem_id="erank-documents",
            )
            upload = gr.File(label="…or upload documents (JSONL / CSV / TSV / TXT, UTF-8)", height=90,
                             file_types=list(doc_input.FILE_SUFFIXES), type="filepath", elem_id="erank-upload")
            with gr.Group(visible=False, elem_id="erank-doc-list") as list_box:
                list_info = gr.Markdown("", elem_id="erank-doc-list-info")
                list_table = gr.Dataframe(value=render.documents_frame([]), interactive=False, max_height=260,
                                          show_label=False, elem_id="erank-doc-list-table",
                                          column_widths=[90, 110, "auto", 60, 48])
                list_clear = gr.Button("Use the typed documents instead", size="sm", elem_id="erank-doc-list-clear")
    with gr.Accordion("Model and settings", open=False):
        with gr.Row():
            chosen = d.allow_model_choice  # off on a public server: the operator's choice, read-only
            model = gr.Dropdown(model_choices(d), value=d.model, allow_custom_value=chosen, scale=2,
                                interactive=chosen, elem_id="erank-model",
                                label="Model (hub id, 'demo', or a local folder path)" if chosen
                                else "Model (chosen by this server's operator)")
            engine = gr.Dropdown(ENGINES, value=d.engine, label="Engine", elem_id="erank-engine", scale=1,
                                 interactive=chosen)
            base_url = gr.Textbox(value=d.base_url, label="Server base URL (openai engine)", scale=2,
                                  placeholder="http://localhost:8000/v1", interactive=chosen,
                                  elem_id="erank-base-url")
        with gr.Row():
            # No minimum/maximum here: the run's own check (run_limits) names the field and its range.
            truncate_length = gr.Number(value=d.truncate_length, precision=0,
                                        label="truncate_length (tokens)", elem_id="erank-truncate")
            max_new_tokens = gr.Number(value=d.max_new_tokens, precision=0,
                                       label="max new tokens", elem_id="erank-max-new-tokens")
            force_answer = gr.Checkbox(value=False, label="force an answer when the output has none "
                                       "(always on for models that are not rerankers)", elem_id="erank-force")
            template = gr.Dropdown(TEMPLATE_CHOICES, value=prompt.DEFAULT_TEMPLATE, label="prompt template",
                                   elem_id="erank-template")
    with gr.Row(equal_height=False, elem_id="erank-run-row"):
        with gr.Column(scale=4, min_width=320):
            model_status = gr.Markdown("model not loaded yet", elem_id="erank-model-status")
            engine_warning = gr.Markdown("", elem_id="erank-engine-warning")
        with gr.Column(scale=1, min_width=240, elem_id="erank-run-buttons"):
            with gr.Row():
                run = gr.Button("Rerank", variant="primary", elem_id="erank-run", min_width=100)
                cancel = gr.Button("Cancel", variant="secondary", interactive=False, elem_id="erank-cancel",
                                   min_width=100)
            rerun = gr.Button("Rerun the open run's documents with these settings", size="sm",
                              elem_id="erank-rerun")
            running_note = gr.Markdown("", elem_id="erank-running-note")
    with gr.Row(equal_height=False, elem_id="erank-table-controls"):
        progress = gr.Markdown("", elem_id="erank-progress")
        sort_by = gr.Radio(render.SORT_CHOICES, value=render.SORT_RANK, elem_id="erank-sort",
                           label="Rank by (ERank's rank_score, the hybrid, or E[N] of the score distribution)")
        alpha = gr.Slider(0.0, 1.0, value=scoring.DEFAULT_ALPHA, step=0.05,
                          label="alpha (hybrid: weight of the first stage)", elem_id="erank-alpha")
        saved_runs = gr.Dropdown([], value=None, label="Open a saved run", elem_id="erank-saved-runs")
    table = gr.Dataframe(
        value=render.styled(render.results_frame([], {})), interactive=False, wrap=False, max_height=480,
        label="Results (click a row to open its document and trace)", elem_id="erank-results",
        column_widths=render.COLUMN_WIDTHS, datatype=render.DATATYPES,
    )
    with gr.Row(equal_height=False, elem_id="erank-inspect"):
        with gr.Column(scale=5, min_width=600):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=360):
                    detail = gr.HTML(render.scorecard(None, None), elem_id="erank-detail", head=_inspect_head(),
                                     js_on_load=None)
                with gr.Column(scale=1, min_width=220):
                    # Filled by the score card's change (the page load sets the card): plotly is
                    # imported then, not while the page starts (bench/bench_paths.py).
                    distribution = gr.Plot(None, show_label=False, elem_id="erank-distribution")
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=280):
                    document = gr.HTML(render.document_html(None), elem_id="erank-document", js_on_load=None)
                with gr.Column(scale=1, min_width=300):
                    gr.Textbox(placeholder="Search in this trace", show_label=False, container=False,
                               elem_id="erank-trace-search", lines=1, max_lines=1)
                    trace = gr.HTML(render.trace_html(None), elem_id="erank-trace", js_on_load=None)
        annotate_column = gr.Column(scale=2, min_width=300, elem_id="erank-annotate")
    ui = RerankUI(view, bench, query, preset, instruction, documents, upload, model, engine, base_url,
                  truncate_length, max_new_tokens, force_answer, template, model_status, engine_warning, run, cancel,
                  progress, sort_by, alpha, table, saved_runs, detail, document, trace, loaded, list_box,
                  list_info, list_table, list_clear)
    ui.annotate_column = annotate_column
    ui.rerun = rerun
    ui.distribution = distribution
    ui.running_note = running_note
    return ui


# -- handlers --------------------------------------------------------------------------------------


def detail_values(ctx: Context, view: RunView, annotator: str | None, sort_by: str) -> tuple:
    """(view, table, detail, document, trace, rationale, note, labelled) for the selected row."""
    labels = session.labels(ctx.store, view, annotator)
    scores = {k: v.score for k, v in labels.items()}
    table = render.styled(render.results_frame(view.judgments, view.documents, sort_by=sort_by,
                                               qrels=view.qrels, labels=scores, selected=view.selected))
    doc = view.documents.get(view.selected) if view.selected else None
    j = view.judgment(view.selected)
    mine = labels.get(view.selected) if view.selected else None
    order = view.order(sort_by)
    position = order.index(view.selected) + 1 if view.selected in order else None
    card = render.scorecard(j, doc, position=position, total=len(order), qrel=view.qrels.get(view.selected or ""),
                            label=mine.score if mine else None)
    rationale = (mine.rationale if mine and mine.rationale else (j.trace if j and j.trace else "")) or ""
    note = (mine.note if mine and mine.note else "") or ""
    return (view, table, card, render.document_html(doc), render.trace_html(j), rationale, note,
            render.label_summary(session.labelled_progress(view, scores), mine.score if mine else None))


def detail_updates(ctx: Context, ui: RerankUI, view: RunView, annotator: str | None, sort_by: str) -> dict:
    """``detail_values`` keyed by component (for handlers that return ``{component: value}``)."""
    return dict(zip(ui.detail_outputs, detail_values(ctx, view, annotator, sort_by)))


def documents_for_run(documents_text: str | None, loaded: LoadedList | None) -> list[Document]:
    """The documents a run judges: a loaded list (benchmark or file) when there is one, else the
    typed box. Raises gr.Error with what to fix."""
    if isinstance(loaded, LoadedList) and loaded.documents:
        return list(loaded.documents)
    try:
        return doc_input.parse_text(documents_text)
    except doc_input.DocumentInputError as error:
        raise gr.Error(render.html_escape(error)) from None


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


def start_job(ctx: Context, engine, token, **run) -> Iterator[str | RunJob]:
    """Start the run as a job, waiting while another run holds the model: yields a line to show
    while waiting, then the job; returns without one when ``token`` was cancelled first."""
    while True:
        try:
            yield ctx.jobs.start(engine, **run)
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
        return render.progress_text(len(view.judgments), n, job.elapsed(), state) + f" · run #{job.run_id}"

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


def queue_outputs(ui: RerankUI) -> list:
    return ui.queue.outputs


def make_run_handler(ctx: Context, ui: RerankUI):
    def run_rerank(query, instruction, documents_text, upload, model, engine_name, base_url, truncate_length,
                   alpha, max_new_tokens, force, sort_by, annotator, bench, template=prompt.DEFAULT_TEMPLATE,
                   request: gr.Request = None):
        """Rerank the documents for the query: the run is a job on the server; this page follows it."""
        query = (query or "").strip()
        if not query:
            raise gr.Error("Type a query first.")
        instruction = (instruction or "").strip() or prompt.DEFAULT_INSTRUCTION
        if template not in prompt.TEMPLATES:
            raise gr.Error(f"prompt template must be one of {', '.join(prompt.TEMPLATES)}")
        docs = documents_for_run(documents_text, upload)  # upload: the loaded list (file or benchmark)
        numbers = checked_numbers(ctx, alpha, truncate_length, max_new_tokens)
        try:
            model, engine_name, base_url = ctx.engine_choice(model, engine_name, base_url)
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
            yield {ui.progress: "starting…", ui.model_status: ctx.provider.status(model, engine_name, base_url),
                   ui.engine_warning: warning_text(engine), **new_run_updates(ui)}
            job = None
            for step in start_job(ctx, engine, token, query=query, instruction=instruction, documents=docs,
                                  truncate_length=numbers.truncate_length,
                                  settings=run_limits.settings_for(numbers, force, engine), alpha=numbers.alpha,
                                  owner=owner, benchmark=bench if isinstance(bench, Benchmark) else None,
                                  template=template,
                                  judge_fn=judge_fn()):
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


def wire(ctx: Context, ui: RerankUI, saved_state: gr.BrowserState | None = None) -> None:
    detail_outputs = ui.detail_outputs

    # Only a person's choice of a preset fills the instruction: a reopened run sets both itself, and
    # the dropdown's own "input" also fires when focus merely passes through it (Tab), which wiped
    # an instruction typed just after.
    def on_preset(evt: gr.SelectData):
        return gr.skip() if evt.value == PRESET_CUSTOM else prompt.INSTRUCTIONS.get(evt.value, gr.skip())

    ui.preset.select(on_preset, None, ui.instruction, api_visibility="private")

    run_inputs = [ui.query, ui.instruction, ui.documents, ui.loaded, ui.model, ui.engine, ui.base_url,
                  ui.truncate_length, ui.alpha, ui.max_new_tokens, ui.force_answer, ui.sort_by, ui.annotator, ui.bench,
                  ui.template]
    run_outputs = [*detail_outputs, ui.progress, ui.model_status, ui.engine_warning, ui.label_status,
                   *queue_outputs(ui)]
    # an input error is one toast and leaves the run on screen as it is
    run_handler = handler = keep_screen(make_run_handler(ctx, ui))
    if saved_state is not None:
        def run_and_remember(query, instruction, documents_text, loaded, model, engine_name, base_url,
                             truncate_length, alpha, max_new_tokens, force, sort_by, annotator, bench, template,
                             saved, request: gr.Request):
            yield from remember_run(run_handler(query, instruction, documents_text, loaded, model, engine_name,
                                                base_url, truncate_length, alpha, max_new_tokens, force, sort_by,
                                                annotator, bench, template, request), saved, ui.view, saved_state)

        handler, run_inputs, run_outputs = run_and_remember, [*run_inputs, saved_state], [*run_outputs, saved_state]
    # Cancel is enabled only while a run is in progress (at once, not behind the run's queue): the
    # page's token is made as the click happens, so Cancel works before the run event starts.
    def pressed(request: gr.Request):
        ctx.new_cancel(_owner(request))
        return gr.update(interactive=True)

    def ended(request: gr.Request):
        ctx.drop_cancel(_owner(request))  # a run refused before it started leaves no token behind
        return gr.update(interactive=False)

    ui.run.click(pressed, None, ui.cancel, queue=False, api_visibility="private")
    run_event = ui.run.click(handler, run_inputs, run_outputs, api_visibility="private",
                             concurrency_id=RUN_QUEUE, concurrency_limit=RUN_QUEUE_LIMIT)
    run_event.then(ended, None, ui.cancel, queue=False, api_visibility="private")
    if saved_state is not None:
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

    def on_rehybrid(view: RunView, alpha, annotator, sort_by):
        session.rehybrid(view, alpha)
        try:
            session.save_alpha(ctx.store, view)
        except Exception as error:
            gr.Warning(render.html_escape(f"alpha changed here but could not be saved: {error}"))
        return detail_values(ctx, view, annotator, sort_by)

    ui.alpha.change(on_rehybrid, [ui.view, ui.alpha, ui.annotator, ui.sort_by], detail_outputs,
                    api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    ui.sort_by.change(lambda v, a, s: detail_values(ctx, v, a, s), [ui.view, ui.annotator, ui.sort_by],
                      detail_outputs, api_visibility="private")

    def on_select(view: RunView, annotator, sort_by, evt: gr.SelectData):
        row = evt.row_value or []
        at = render.COLUMNS.index(render.COL_ID)
        doc_id = str(row[at]) if len(row) > at else None
        if doc_id in view.documents:
            view.selected = doc_id
        return detail_values(ctx, view, annotator, sort_by)

    ui.table.select(on_select, [ui.view, ui.annotator, ui.sort_by], detail_outputs, api_visibility="private",
                    concurrency_id="erank-annotate", concurrency_limit=1)

    wire_document_list(ui)
    # The open judgment's distribution follows its score card, whichever event changed the card.
    def distribution_figure(view: RunView):
        from . import plots

        return plots.score_distribution_figure(view.judgment(view.selected))

    ui.detail.change(distribution_figure, ui.view, ui.distribution, api_visibility="private", show_progress="hidden")


def opened_run_text(view: RunView) -> str:
    """The progress line of a reopened run: its status (an interrupted one said plainly), and what
    it was judged with (model, template, budget), which a server without model choice shows only
    here."""
    text = f"run #{view.run_id} · {render.html_escape(session.status_text(view.status))} · {len(view.judgments)} documents"
    if view.model:
        text += f" · {render.md_escape(models.display_name(view.model))}"
    text += f" · template {render.md_escape(view.template)}"
    if view.generation.get("max_new_tokens"):
        text += f" · max new tokens {int(view.generation['max_new_tokens'])}"
    return text


def wire_document_list(ui: RerankUI) -> None:
    """An uploaded file becomes the run's document list (shown as a table), or one toast saying
    why it cannot be read; the typed box is left as it was."""

    @keep_screen
    def on_upload(path):
        if not path:
            return gr.skip()
        try:
            docs = doc_input.parse_file(path)
        except doc_input.DocumentInputError as error:
            raise gr.Error(render.html_escape(error)) from None
        return show_list(LoadedList(Path(path).name, docs))

    outputs = ui.list_outputs
    ui.upload.upload(on_upload, ui.upload, outputs, api_visibility="private")
    ui.upload.clear(lambda: show_list(None), None, outputs, api_visibility="private")
    ui.list_clear.click(lambda: (*show_list(None), None), None, [*outputs, ui.upload], api_visibility="private")


def list_updates(ui: RerankUI, loaded: LoadedList | None, qrels: dict[str, int] | None = None) -> dict:
    """``show_list`` keyed by component."""
    return dict(zip(ui.list_outputs, show_list(loaded, qrels)))


def show_list(loaded: LoadedList | None, qrels: dict[str, int] | None = None) -> tuple:
    """(loaded, list_box, list_info, list_table) updates for a loaded list, or none."""
    if loaded is None:
        return None, gr.update(visible=False), "", render.documents_frame([])
    info = (f"The run uses these **{len(loaded.documents)} documents** from {render.md_escape(loaded.source)} "
            "(the box above is ignored while they are loaded).")
    return loaded, gr.update(visible=True), info, render.documents_frame(loaded.documents, qrels)
