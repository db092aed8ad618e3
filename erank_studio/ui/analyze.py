"""The Analyze tab: plots of the run that is open in the Rerank view."""
from __future__ import annotations

import gradio as gr

from . import render, session
from .context import Context
from .rerank_tab import RerankUI
from .session import RunView


def build(ctx: Context, ui: RerankUI, tab: gr.Tab) -> None:
    summary = gr.Markdown("Open or run a query in the Rerank view, then come back here.", elem_id="erank-analyze-summary")
    refresh = gr.Button("Refresh plots", size="sm", elem_id="erank-analyze-refresh")
    with gr.Row():
        hist = gr.Plot(label="Scores")
        scatter = gr.Plot(label="rank_score vs first stage")
    with gr.Row():
        ndcg = gr.Plot(label="nDCG@10 vs alpha")
        with gr.Column():
            confusion = gr.Plot(label="Model vs human")
            agreement = gr.Markdown("")

    def analyze(view: RunView, annotator):
        # Imported when the tab is first opened: plotly and ir_measures would add a tenth to the
        # page's start-up (bench/bench_paths.py) for a tab many sessions never open.
        from . import plots

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
                plots.ndcg_curves(view.judgments, view.qrels, human), conf, text)

    outputs = [summary, hist, scatter, ndcg, confusion, agreement]
    refresh.click(analyze, [ui.view, ui.annotator], outputs, api_visibility="private")
    tab.select(analyze, [ui.view, ui.annotator], outputs, api_visibility="private")
