"""The Rerank view: its components (``RerankUI``), the inputs and the document list, the ranked
table with its alpha / sort toggles, and the panel that shows one document with its whole
reasoning trace. The run in progress: run_progress.py; a saved run opened: opened_run.py; the
annotation controls: annotate.py."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from .. import models, prompt, scoring
from ..engines import ENGINES
from ..types import Document
from . import annotation_panel, doc_input, render, run_limits, session
from .annotation_panel import AnnotationPanel
from .context import Context
from .feedback import keep_screen
from .session import RunView

PRESET_CUSTOM = "custom"
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
    rerun: gr.Button  # "rerun the open run's documents with these settings" (compare_tab.wire_rerun)
    distribution: gr.Plot  # P(0..10) of the open judgment, beside its score card
    running_note: gr.Markdown  # which run is in progress elsewhere, and who started it
    run_note: gr.Markdown  # what the run path did to the open run's list (RunView.note)
    panel: AnnotationPanel

    # The annotation panel's components, read as the view's own by every tab.
    annotator = property(lambda self: self.panel.annotator)
    rationale = property(lambda self: self.panel.rationale)
    note = property(lambda self: self.panel.note)
    label_status = property(lambda self: self.panel.label_status)
    labelled = property(lambda self: self.panel.labelled)
    queue = property(lambda self: self.panel.queue)

    @property
    def detail_outputs(self) -> list:
        """What ``detail_values`` fills, in its order: the one place that order is written."""
        return [self.view, self.table, self.detail, self.document, self.trace, self.rationale, self.note,
                self.labelled, self.run_note]

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
            # Empty until the model loads (app._wire_model_status fills in the budget it gets);
            # a run started while it is empty gets that budget too (run_limits.settings_for).
            max_new_tokens = gr.Number(value=d.max_new_tokens, precision=0, label="max new tokens",
                                       info=run_limits.budget_info(None, d.max_new_tokens),
                                       elem_id="erank-max-new-tokens")
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
        with gr.Column(scale=2, min_width=240):
            progress = gr.Markdown("", elem_id="erank-progress")
            run_note = gr.Markdown("", elem_id="erank-run-note")
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
        with gr.Column(scale=2, min_width=300, elem_id="erank-annotate"):
            panel = annotation_panel.build(ctx)
    return RerankUI(view, bench, query, preset, instruction, documents, upload, model, engine, base_url,
                    truncate_length, max_new_tokens, force_answer, template, model_status, engine_warning, run,
                    cancel, progress, sort_by, alpha, table, saved_runs, detail, document, trace, loaded, list_box,
                    list_info, list_table, list_clear, rerun, distribution, running_note, run_note, panel)


# -- handlers --------------------------------------------------------------------------------------


def detail_values(ctx: Context, view: RunView, annotator: str | None, sort_by: str) -> tuple:
    """(view, table, detail, document, trace, rationale, note, labelled, run note) for the selected
    row."""
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
            render.label_summary(session.labelled_progress(view, scores), mine.score if mine else None),
            run_note_text(view))


def run_note_text(view: RunView) -> str:
    """The run path's note about the open run's list, escaped (empty when there is none)."""
    return f"Note: {render.md_escape(view.note)}" if view.note else ""


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


def wire(ctx: Context, ui: RerankUI) -> None:
    """The inputs, the results table and the open document (the run itself: run_progress.wire)."""
    detail_outputs = ui.detail_outputs

    # Only a person's choice of a preset fills the instruction: a reopened run sets both itself, and
    # the dropdown's own "input" also fires when focus merely passes through it (Tab), which wiped
    # an instruction typed just after.
    def on_preset(evt: gr.SelectData):
        return gr.skip() if evt.value == PRESET_CUSTOM else prompt.INSTRUCTIONS.get(evt.value, gr.skip())

    ui.preset.select(on_preset, None, ui.instruction, api_visibility="private")

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
