"""The Rerank view, put together from its parts: the inputs (run_inputs.py), the run buttons, the
results table (results_table.py) and the open document (open_document.py), beside the annotation
panel (annotation_panel.py). ``RerankUI`` holds the parts and names their components for the
handlers that span them; ``detail_values`` fills the table, the open document and the panel
together. The run in progress: run_progress.py; a saved run opened: opened_run.py; the annotation
controls: annotate.py."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .. import models
from . import annotation_panel, open_document, render, results_table, run_inputs, session
from .annotation_panel import AnnotationPanel
from .context import Context
from .open_document import OpenDocument
from .results_table import ResultsTable
from .run_inputs import RunInputs
# Read from here by run_progress.py and bench/bench_paths.py.
from .run_inputs import LoadedList, documents_for_run, show_list  # noqa: F401
from .session import RunView


@dataclass
class RunButtons:
    model_status: gr.Markdown
    engine_warning: gr.Markdown
    run: gr.Button
    cancel: gr.Button
    rerun: gr.Button  # "rerun the open run's documents with these settings" (compare_tab.wire_rerun)
    running_note: gr.Markdown  # which run is in progress elsewhere, and who started it


def _part(part: str, name: str) -> property:
    """A component of one of the view's parts, read as the view's own (``ui.query``)."""
    return property(lambda self: getattr(getattr(self, part), name))


@dataclass
class RerankUI:
    view: gr.State
    bench: gr.State
    inputs: RunInputs
    buttons: RunButtons
    results: ResultsTable
    opened: OpenDocument
    panel: AnnotationPanel

    query, preset, instruction = (_part("inputs", n) for n in ("query", "preset", "instruction"))
    documents, upload, loaded = (_part("inputs", n) for n in ("documents", "upload", "loaded"))
    list_box, list_info, list_table, list_clear = (_part("inputs", n) for n in
                                                   ("list_box", "list_info", "list_table", "list_clear"))
    model, engine, base_url = (_part("inputs", n) for n in ("model", "engine", "base_url"))
    truncate_length, max_new_tokens, force_answer, template = (
        _part("inputs", n) for n in ("truncate_length", "max_new_tokens", "force_answer", "template"))
    model_status, engine_warning, run, cancel, rerun, running_note = (
        _part("buttons", n) for n in ("model_status", "engine_warning", "run", "cancel", "rerun", "running_note"))
    progress, run_note, sort_by, alpha, saved_runs, table, filter_line = (
        _part("results", n) for n in ("progress", "run_note", "sort_by", "alpha", "saved_runs", "table", "filter_line"))
    detail, distribution, document, trace = (_part("opened", n) for n in ("detail", "distribution", "document", "trace"))
    annotator, rationale, note, label_status, labelled, queue = (
        _part("panel", n) for n in ("annotator", "rationale", "note", "label_status", "labelled", "queue"))

    @property
    def detail_outputs(self) -> list:
        """What ``detail_values`` fills, in its order: the one place that order is written."""
        return [self.view, self.table, self.detail, self.document, self.trace, self.rationale, self.note,
                self.labelled, self.run_note, self.filter_line]

    @property
    def list_outputs(self) -> list:
        """What ``show_list`` fills, in its order."""
        return self.inputs.list_outputs


def _build_buttons() -> RunButtons:
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
    return RunButtons(model_status, engine_warning, run, cancel, rerun, running_note)


def build(ctx: Context) -> RerankUI:
    view = gr.State(RunView())
    bench = gr.State(None)
    inputs = run_inputs.build(ctx)
    buttons = _build_buttons()
    results = results_table.build()
    with gr.Row(equal_height=False, elem_id="erank-inspect"):
        with gr.Column(scale=5, min_width=600):
            opened = open_document.build()
        with gr.Column(scale=2, min_width=300, elem_id="erank-annotate"):
            panel = annotation_panel.build(ctx)
    return RerankUI(view, bench, inputs, buttons, results, opened, panel)


# -- handlers --------------------------------------------------------------------------------------


def detail_values(ctx: Context, view: RunView, annotator: str | None, sort_by: str) -> tuple:
    """(view, table, detail, document, trace, rationale, note, labelled, run note, filter line) for
    the selected row."""
    labels = session.labels(ctx.store, view, annotator)
    scores = {k: v.score for k, v in labels.items()}
    doc = view.documents.get(view.selected) if view.selected else None
    j = view.judgment(view.selected)
    mine = labels.get(view.selected) if view.selected else None
    order = view.order(sort_by)
    position = order.index(view.selected) + 1 if view.selected in order else None
    card, document, trace = open_document.values(j, doc, position=position, total=len(order),
                                                 qrel=view.qrels.get(view.selected or ""),
                                                 label=mine.score if mine else None)
    rationale = (mine.rationale if mine and mine.rationale else (j.trace if j and j.trace else "")) or ""
    note = (mine.note if mine and mine.note else "") or ""
    kept = results_table.kept_rows(ctx.store, view)
    return (view, results_table.table_value(view, scores, sort_by, kept), card, document, trace, rationale, note,
            render.label_summary(session.labelled_progress(view, scores), mine.score if mine else None),
            results_table.run_note_text(view), results_table.filter_line_text(view, kept))


def detail_updates(ctx: Context, ui: RerankUI, view: RunView, annotator: str | None, sort_by: str) -> dict:
    """``detail_values`` keyed by component (for handlers that return ``{component: value}``)."""
    return dict(zip(ui.detail_outputs, detail_values(ctx, view, annotator, sort_by)))


def wire(ctx: Context, ui: RerankUI) -> None:
    """The inputs, the results table and the open document (the run itself: run_progress.wire)."""
    run_inputs.wire(ui.inputs)
    results_table.wire(ctx, ui.results, ui.view, ui.annotator, ui.detail_outputs,
                       lambda view, annotator, sort_by: detail_values(ctx, view, annotator, sort_by))
    open_document.wire(ui.opened, ui.view)


def opened_run_text(view: RunView) -> str:
    """The progress line of a reopened run: its status (an interrupted one said plainly), and what
    it was judged with (model, template, budget), which a server without model choice shows only
    here."""
    text = f"run #{view.run_id} · {render.html_escape(session.run_status_text(view.status))} · {len(view.judgments)} documents"
    if view.model:
        text += f" · {render.md_escape(models.display_name(view.model))}"
    text += f" · template {render.md_escape(view.template)}"
    if view.generation.get("max_new_tokens"):
        text += f" · max new tokens {int(view.generation['max_new_tokens'])}"
    return text
