"""The Rerank view's open document: its score card, the distribution P(0..10) of its score, the
document itself and the model's whole reasoning trace (searchable in the page)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from ..types import Document, Judgment
from . import render
from .session import RunView

INSPECT_JS = Path(__file__).resolve().parents[2] / "assets" / "inspect.js"


@dataclass
class OpenDocument:
    detail: gr.HTML  # the score card
    distribution: gr.Plot  # P(0..10) of the open judgment, beside its score card
    document: gr.HTML
    trace: gr.HTML


def _inspect_head() -> str:
    js = INSPECT_JS.read_text(encoding="utf-8") if INSPECT_JS.exists() else ""
    help_json = json.dumps(render.COLUMN_HELP, ensure_ascii=False).replace("</", "<\\/")
    return f"<script>window.ERANK_COLUMN_HELP = {help_json};\n{js}</script>"


def build() -> OpenDocument:
    """Its components, in the column the caller opened."""
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
    return OpenDocument(detail, distribution, document, trace)


def values(j: Judgment | None, doc: Document | None, *, position: int | None, total: int, qrel: int | None,
           label: int | None) -> tuple[str, str, str]:
    """(score card, document, trace) for the open judgment."""
    card = render.scorecard(j, doc, position=position, total=total, qrel=qrel, label=label)
    return card, render.document_html(doc), render.trace_html(j)


def wire(opened: OpenDocument, view: gr.State) -> None:
    """The open judgment's distribution follows its score card, whichever event changed the card."""

    def distribution_figure(view: RunView):
        from . import plots

        return plots.score_distribution_figure(view.judgment(view.selected))

    opened.detail.change(distribution_figure, view, opened.distribution, api_visibility="private",
                         show_progress="hidden")
