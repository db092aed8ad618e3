"""The Rerank view's results: the progress line and the run's note, the rank-by and alpha toggles,
the "Open a saved run" list, and the ranked table (a click opens a row's document)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from .. import scoring
from . import render, session
from .context import Context
from .session import RunView


@dataclass
class ResultsTable:
    progress: gr.Markdown
    run_note: gr.Markdown  # what the run path did to the open run's list (RunView.note)
    sort_by: gr.Radio
    alpha: gr.Slider
    saved_runs: gr.Dropdown
    table: gr.Dataframe


def build() -> ResultsTable:
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
    return ResultsTable(progress, run_note, sort_by, alpha, saved_runs, table)


def table_value(view: RunView, scores: dict[str, int], sort_by: str):
    """The table for ``view``, ranked by ``sort_by``, with the person's label ``scores``."""
    return render.styled(render.results_frame(view.judgments, view.documents, sort_by=sort_by, qrels=view.qrels,
                                              labels=scores, selected=view.selected))


def run_note_text(view: RunView) -> str:
    """The run path's note about the open run's list, escaped (empty when there is none)."""
    return f"Note: {render.md_escape(view.note)}" if view.note else ""


def wire(ctx: Context, results: ResultsTable, view: gr.State, annotator: gr.Textbox, outputs: list,
         show: Callable[[RunView, str | None, str], tuple]) -> None:
    """Alpha, rank-by and a row click: ``show(view, annotator, sort_by)`` fills ``outputs`` again."""

    def on_rehybrid(view: RunView, alpha, annotator, sort_by):
        session.rehybrid(view, alpha)
        try:
            session.save_alpha(ctx.store, view)
        except Exception as error:
            gr.Warning(render.html_escape(f"alpha changed here but could not be saved: {error}"))
        return show(view, annotator, sort_by)

    results.alpha.change(on_rehybrid, [view, results.alpha, annotator, results.sort_by], outputs,
                         api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    results.sort_by.change(show, [view, annotator, results.sort_by], outputs, api_visibility="private")

    def on_select(view: RunView, annotator, sort_by, evt: gr.SelectData):
        row = evt.row_value or []
        at = render.COLUMNS.index(render.COL_ID)
        doc_id = str(row[at]) if len(row) > at else None
        if doc_id in view.documents:
            view.selected = doc_id
        return show(view, annotator, sort_by)

    results.table.select(on_select, [view, annotator, results.sort_by], outputs, api_visibility="private",
                         concurrency_id="erank-annotate", concurrency_limit=1)
