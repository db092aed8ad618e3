"""The Analyze view's benchmark page: a whole batch (``rerank --dataset NAME``, or benchmark queries
reranked in the app) at once. nDCG@10 per query for first stage, model and hybrid (sortable; a click
opens the query's run in the Rerank view), their means with the count of queries, failure rates by
class, model answers by relevance grade, and calibration of P(N) and E[N].

Every number comes from the store through batch_eval.load_batch and batch_stats, the path
``evaluate --dataset`` takes, so the page and the command always agree."""
from __future__ import annotations

import json
import math
from typing import Any

import gradio as gr
import pandas as pd

from .. import batch_eval, batch_stats, grading, metrics, models
from ..scoring import DEFAULT_ALPHA
from ..store import Store, StoreError
from . import opened_run, render
from .context import Context
from .rerank_tab import RerankUI

NO_BATCH = ("No benchmark batch in the store yet: rerank a dataset (`python -m erank_studio rerank --dataset "
            "sample`), or load benchmark queries in the Benchmark tab and rerank them.")
PICK_BATCH = "Pick a batch above, or press **Show batch** for the one chosen."
AGAINST_CHOICES = [("benchmark qrels", "qrels"), ("human labels (everyone's current label)", "labels")]
MISSING_CHOICES = [("queries in both (trec_eval's default)", "skip"), ("every qrels query, 0 where missing (-c)", "zero")]
SYSTEM_COLUMNS = {"first_stage": "first stage", "model": "model", "hybrid": "hybrid"}
COL_QUERY, COL_RUN, COL_GAIN = "query", "run", "model − first"
QUERY_COLUMNS = [COL_QUERY, "text", "judged", "failed", *SYSTEM_COLUMNS.values(), COL_GAIN, COL_RUN]
NDCG_COLUMNS = [*SYSTEM_COLUMNS.values(), COL_GAIN]
FAILURE_COLUMNS = ["outcome", "judgments", "share"]
TEXT_CHARS = 70


def batch_choices(store: Store) -> list[tuple[str, str]]:
    """(what a person reads, a JSON [dataset, model] pair) for every batch in the store."""
    return [(f"{dataset} · {models.display_name(model) or model}", json.dumps([dataset, model]))
            for dataset, judged_by in batch_eval.batch_models(store).items() for model in judged_by]


def _chosen(choice: str | None) -> tuple[str, str]:
    try:
        dataset, model = json.loads(choice or "")
        return str(dataset), str(model)
    except (ValueError, TypeError):
        raise ValueError("pick a batch first") from None


def query_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame([{
        COL_QUERY: r["query"], "text": render.snippet(r["text"], TEXT_CHARS), "judged": r["judged"],
        "failed": r["failed"], **{SYSTEM_COLUMNS[s]: r[s] for s in SYSTEM_COLUMNS}, COL_GAIN: r["model_gain"],
        COL_RUN: r["run_id"],
    } for r in rows], columns=QUERY_COLUMNS)
    frame[COL_RUN] = frame[COL_RUN].astype("Int64")
    for column in NDCG_COLUMNS:
        frame[column] = frame[column].astype(float)
    return frame


def query_table(frame: pd.DataFrame):
    """The per-query frame as shown: nDCG to four decimals (the frame keeps every digit), blanks
    where a query has no value."""
    return (frame.style.format(na_rep="", precision=4, subset=NDCG_COLUMNS)
            .format(na_rep="", subset=[c for c in QUERY_COLUMNS if c not in NDCG_COLUMNS]))


def failure_frame(rates: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"outcome": name, "judgments": n, "share": round(share, 4)} for name, n, share in rates],
                        columns=FAILURE_COLUMNS)


def summary_text(batch: batch_eval.Batch, result: dict[str, Any] | None) -> str:
    """The batch in a line, then each system's mean nDCG@10 with its count of queries and the rule."""
    n_judgments = sum(len(q.judgments) for q in batch.queries)
    head = (f"**{render.md_escape(batch.dataset)}** · {render.md_escape(models.display_name(batch.model) or batch.model)}"
            f" · {len(batch.queries)} queries · {n_judgments} judgments · alpha {batch.alpha:g}")
    if result is None:
        from . import batch_plots  # plotly: imported when the page is first drawn, not at start-up

        return f"{head}\n\n{render.md_escape(batch_plots.no_reference_text(batch))}"

    def mean(system: str) -> str:
        s = result["systems"][system]
        value = "–" if math.isnan(s["mean"]) else f"{s['mean']:.4f}"
        judged = s.get("judged_at_10")
        judged_text = "" if judged is None or math.isnan(judged) else f" Judged@10 {judged:.2f}"
        return f"{SYSTEM_COLUMNS[system]} **{value}** ({s['n_queries']} queries){judged_text}"

    against = f"human labels graded {render.md_escape(grading.RULE)}" if batch.against == "labels" else "qrels"
    return (f"{head}\n\nmean nDCG@10 against {against}: " + " · ".join(mean(s) for s in SYSTEM_COLUMNS)
            + f"\n\n{render.md_escape(metrics.convention_note(result))}"
            + (f"\n\nNote: {render.md_escape(result['qrels_note'])}" if result.get("qrels_note") else ""))


def page_values(store: Store, choice: str | None, against: str, missing: str, alpha: float) -> tuple:
    """(summary, per-query table, failure table, histogram, calibration) of the chosen batch.
    Raises ValueError with a one-line message for a missing or unknown batch or a bad setting."""
    dataset, model = _chosen(choice)
    if missing not in metrics.MISSING:
        raise ValueError(f"missing must be one of {', '.join(metrics.MISSING)}")
    if alpha is None or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError("alpha must lie between 0 and 1")
    batch = batch_eval.load_batch(store, dataset, model=model, alpha=float(alpha), against=against)
    result = batch_stats.evaluate(batch, missing) if batch.has_qrels else None
    rows = batch_stats.per_query_rows(batch, result)
    from . import batch_plots  # plotly: imported when the page is first drawn, not at start-up

    return (summary_text(batch, result), query_frame(rows), failure_frame(batch_stats.failure_rates(batch)),
            batch_plots.score_histograms(batch), batch_plots.calibration_plot(batch))


def build(ctx: Context, ui: RerankUI, tab: gr.Tab, tabs: gr.Tabs, rerank_tab_id: str,
          saved: gr.BrowserState | None = None) -> None:
    gr.Markdown("A whole benchmark batch: every query's nDCG@10 (click a row to open its run), failures, "
                "answers by relevance grade and calibration. The same numbers as `evaluate --dataset`.")
    with gr.Row(equal_height=False):
        batch = gr.Dropdown([], value=None, label="Batch (dataset · model)", scale=3, elem_id="erank-batch-choice")
        against = gr.Radio(AGAINST_CHOICES, value="qrels", label="Relevance from", scale=2,
                           elem_id="erank-batch-against")
        missing = gr.Radio(MISSING_CHOICES, value="skip", label="Queries in the mean", scale=2,
                           elem_id="erank-batch-missing")
        alpha = gr.Slider(0.0, 1.0, value=DEFAULT_ALPHA, step=0.05, label="alpha (hybrid)", scale=2,
                          elem_id="erank-batch-alpha")
    show = gr.Button("Show batch", variant="primary", size="sm", elem_id="erank-batch-show")
    summary = gr.Markdown(NO_BATCH, elem_id="erank-batch-summary")
    queries = gr.Dataframe(value=query_table(query_frame([])), interactive=False, wrap=False, max_height=420,
                           label="nDCG@10 per query (click a header to sort, a row to open its run)",
                           elem_id="erank-batch-queries",
                           datatype=["str", "str", "number", "number", "number", "number", "number", "number",
                                     "number"])
    with gr.Row(equal_height=False):
        failures = gr.Dataframe(value=failure_frame([]), interactive=False, label="Outcomes by class",
                                elem_id="erank-batch-failures", scale=1)
        histogram = gr.Plot(label="Answers by grade", scale=2)
    calibration = gr.Plot(label="Calibration")

    def list_batches(current, shown):
        try:
            choices = batch_choices(ctx.store)
        except StoreError as error:
            raise gr.Error(render.html_escape(error)) from None
        values = [value for _, value in choices]
        value = current if current in values else (values[0] if values else None)
        if not choices:
            return gr.update(choices=[], value=None), NO_BATCH
        return gr.update(choices=choices, value=value), PICK_BATCH if shown in (NO_BATCH, "", None) else gr.skip()

    def on_show(choice, against_value, missing_value, alpha_value):
        if not choice:
            raise gr.Error("Pick a batch first.")
        try:
            summary_md, frame, *figures = page_values(ctx.store, choice, against_value, missing_value, alpha_value)
        except (ValueError, StoreError) as error:  # batch_eval.BatchNotFound included
            raise gr.Error(render.html_escape(error)) from None
        return (summary_md, query_table(frame), *figures)

    tab.select(list_batches, [batch, summary], [batch, summary], api_visibility="private")
    page_inputs, page_outputs = [batch, against, missing, alpha], [summary, queries, failures, histogram, calibration]
    for event in (show.click, batch.input, against.input, missing.input, alpha.release):
        event(on_show, page_inputs, page_outputs, api_visibility="private")

    def open_query_run(annotator, sort_by, saved_value, evt: gr.SelectData):
        row = evt.row_value or []
        at = QUERY_COLUMNS.index(COL_RUN)
        try:
            run_id = int(row[at])
        except (IndexError, TypeError, ValueError):  # a query never judged has no run (NaN, blank)
            gr.Warning("This query has no judgments by this model yet: nothing to open.")
            return gr.skip()
        opened = opened_run.open_updates(ctx, ui, run_id, annotator, sort_by)
        if opened is None:
            return gr.skip()
        return {**opened, saved_output: opened_run.remembered(saved_value, run_id),
                tabs: gr.Tabs(selected=rerank_tab_id)}

    saved_output = saved if saved is not None else gr.State(None)
    queries.select(open_query_run, [ui.annotator, ui.sort_by, saved_output],
                   [*opened_run.outputs(ui), saved_output, tabs], api_visibility="private")
