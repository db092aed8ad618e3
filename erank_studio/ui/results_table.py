"""The Rerank view's results: the progress line and the run's note, the rank-by and alpha toggles,
the "Open a saved run" list, the ranked table (a click opens a row's document), and its filter:
text, the model's score range, labelled by me / anyone / no one, through the records search's
own filter (store.campaigns.records), kept on the open run's view and applied at every redraw,
ranks kept as they are in the whole list."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import scoring
from ..store.campaigns import CampaignError, records
from . import render, session
from . import person as acting
from .record_filter import record_filter, score_box
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
    filter_text: gr.Textbox
    filter_min: gr.Dropdown
    filter_max: gr.Dropdown
    filter_labelled: gr.Dropdown
    filter_apply: gr.Button
    filter_clear: gr.Button
    filter_line: gr.Markdown  # what the filter shows (in rerank_tab's detail outputs: true after every redraw)


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
    with gr.Accordion("Filter the table", open=False, elem_id="erank-results-filter"):
        with gr.Row(equal_height=True):
            filter_text = gr.Textbox(label="Text (in the document, its id or the query)", elem_id="erank-filter-text", scale=3)
            filter_min = score_box("Model score ≥", "erank-filter-min")
            filter_max = score_box("Model score ≤", "erank-filter-max")
            filter_labelled = gr.Dropdown(list(records.LABELLED_BY), value="", label="Labelled by",
                                          elem_id="erank-filter-labelled", scale=1)
            filter_apply = gr.Button("Filter", size="sm", elem_id="erank-filter-apply", scale=0, min_width=80)
            filter_clear = gr.Button("Show all", size="sm", elem_id="erank-filter-clear", scale=0, min_width=80)
    filter_line = gr.Markdown("", elem_id="erank-filter-line")
    table = gr.Dataframe(
        value=render.styled(render.results_frame([], {})), interactive=False, wrap=False, max_height=480,
        label="Results (click a row to open its document and trace)", elem_id="erank-results",
        column_widths=render.COLUMN_WIDTHS, datatype=render.DATATYPES,
    )
    return ResultsTable(progress, run_note, sort_by, alpha, saved_runs, table, filter_text, filter_min, filter_max,
                        filter_labelled, filter_apply, filter_clear, filter_line)


def kept_rows(store: Any, view: RunView) -> set[str] | None:
    """The doc_ids the view's filter keeps (None: no filter, every row)."""
    if view.row_filter is None:
        return None
    documents = [(j.doc_id, view.documents[j.doc_id].text if j.doc_id in view.documents else "", j.score)
                 for j in view.judgments]
    return records.kept_documents(store, view.query_id, view.query, documents, view.row_filter)


def table_value(view: RunView, scores: dict[str, int], sort_by: str, kept: set[str] | None = None):
    """The table for ``view``, ranked by ``sort_by``, with the person's label ``scores``; only the
    ``kept`` rows (each with its rank in the whole list) when a filter is on."""
    frame = render.results_frame(view.judgments, view.documents, sort_by=sort_by, qrels=view.qrels,
                                 labels=scores, selected=view.selected)
    if kept is not None:
        frame = frame[frame[render.COL_ID].isin(kept)].reset_index(drop=True)
    return render.styled(frame)


def filter_line_text(view: RunView, kept: set[str] | None) -> str:
    """What the filter shows, escaped (empty without a filter)."""
    if view.row_filter is None or kept is None:
        return ""
    shown = sum(1 for j in view.judgments if j.doc_id in kept)
    return (f"Filtered ({render.md_escape(view.row_filter.describe())}): {shown} of {len(view.judgments)} "
            "documents shown, each at its rank in the whole list.")


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

    def on_filter(view: RunView, annotator, sort_by, text, model_min, model_max, labelled_by,
                  request: gr.Request = None):
        try:
            flt = record_filter(text, model_min, model_max, None, "", labelled_by, acting.who(annotator, request))
            flt.check(records.RUN_STATUSES, blind=False)
        except (CampaignError, ValueError, TypeError) as error:
            gr.Warning(render.html_escape(error))
            return (gr.skip(),) * len(outputs)
        view.row_filter = flt if flt.active else None
        return show(view, annotator, sort_by)

    def on_clear(view: RunView, annotator, sort_by):
        view.row_filter = None
        return show(view, annotator, sort_by)

    results.filter_apply.click(on_filter, [view, annotator, results.sort_by, results.filter_text, results.filter_min,
                                           results.filter_max, results.filter_labelled], outputs,
                               api_visibility="private")
    results.filter_text.submit(on_filter, [view, annotator, results.sort_by, results.filter_text, results.filter_min,
                                           results.filter_max, results.filter_labelled], outputs,
                               api_visibility="private")
    results.filter_clear.click(on_clear, [view, annotator, results.sort_by], outputs, api_visibility="private")

    results.table.select(on_select, [view, annotator, results.sort_by], outputs, api_visibility="private",
                         concurrency_id="erank-annotate", concurrency_limit=1)
