"""The Analyze tab: plots of the run that is open in the Rerank view ("This run"), and a whole
benchmark batch ("Benchmark batch", ui/benchmark_analyze.py)."""
from __future__ import annotations

import gradio as gr

from .. import scoring
from . import benchmark_analyze, plots, render, session
from .context import Context
from .rerank_tab import RerankUI
from .session import RunView


def build(ctx: Context, ui: RerankUI, tab: gr.Tab, tabs: gr.Tabs | None = None, rerank_tab_id: str = "rerank",
          saved: gr.BrowserState | None = None) -> None:
    with gr.Tab("This run", elem_id="erank-analyze-run"):
        build_run_page(ctx, ui, tab)
    if tabs is not None:  # the benchmark page opens a query's run in the Rerank view: it needs the tabs
        with gr.Tab("Benchmark batch", elem_id="erank-analyze-batch") as batch_tab:
            benchmark_analyze.build(ctx, ui, batch_tab, tabs, rerank_tab_id, saved)


def build_run_page(ctx: Context, ui: RerankUI, tab: gr.Tab) -> None:
    summary = gr.Markdown("Open or run a query in the Rerank view, then come back here.", elem_id="erank-analyze-summary")
    refresh = gr.Button("Refresh plots", size="sm", elem_id="erank-analyze-refresh")
    with gr.Row():
        hist = gr.Plot(label="Scores")
        scatter = gr.Plot(label="rank_score vs first stage")
    with gr.Row():
        with gr.Column():
            ndcg_score = gr.Radio(list(scoring.MODEL_SCORES), value="rank_score", elem_id="erank-analyze-model-score",
                                  label="nDCG@10 vs alpha: the model ranks by (ERank's rank_score, or E[N])")
            ndcg = gr.Plot(label="nDCG@10 vs alpha")
        with gr.Column():
            confusion = gr.Plot(label="Model vs human")
            agreement = gr.Markdown("")

    def analyze(view: RunView, annotator, model_score="rank_score"):
        try:
            human = session.label_scores(ctx.store, view, annotator)
        except Exception as error:
            gr.Warning(render.html_escape(f"Could not read labels: {error}"))
            human = {}
        colors, name = (view.qrels, "qrel") if view.qrels else (human, "human label")
        conf, text = plots.agreement_figure(view.judgments, human)
        head = (f"run #{view.run_id} · {len(view.judgments)} judgments · {len(human)} labels by "
                f"{render.md_escape(annotator) if annotator else 'nobody'} · {len(view.qrels)} qrels" if view.run_id else
                "No run open: run or open one in the Rerank view.")
        return (head, plots.score_histogram(view.judgments, human),
                plots.rank_vs_first_stage(view.judgments, colors, name),
                plots.ndcg_curves(view.judgments, view.qrels, human, model_score), conf, text)

    outputs = [summary, hist, scatter, ndcg, confusion, agreement]
    inputs = [ui.view, ui.annotator, ndcg_score]
    refresh.click(analyze, inputs, outputs, api_visibility="private")
    tab.select(analyze, inputs, outputs, api_visibility="private")
    ndcg_score.change(analyze, inputs, outputs, api_visibility="private")
