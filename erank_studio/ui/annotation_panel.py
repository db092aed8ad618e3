"""The annotation panel beside the trace (its components; what they do: annotate.py). Keyboard
shortcuts (assets/shortcuts.js) click these buttons by their elem_id."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from . import queue_panel, render
from .context import Context

SCORES = list(range(11))


@dataclass
class AnnotationPanel:
    annotator: gr.Textbox
    labelled: gr.HTML  # "labelled k of n" and the current label
    queue: queue_panel.QueuePanel  # Label next
    rationale: gr.Textbox
    note: gr.Textbox
    label_status: gr.Markdown  # what the last action did
    buttons: dict[str, gr.Button]  # "0".."10", accept, undo, prev, next, save_text


def build(ctx: Context) -> AnnotationPanel:
    buttons: dict[str, gr.Button] = {}
    gr.Markdown("### Your label", elem_id="erank-annotate-title")
    annotator = gr.Textbox(
        value=ctx.defaults.annotator, label="Annotator", placeholder="your name",
        interactive=not (ctx.defaults.hf_sign_in or ctx.defaults.auth), elem_id="erank-annotator",
    )
    labelled = gr.HTML(render.label_summary("labelled 0 of 0", None), elem_id="erank-labelled", js_on_load=None)
    queue = queue_panel.build()
    with gr.Row(elem_classes=["erank-scores"]):
        for k in SCORES:
            buttons[str(k)] = gr.Button(str(k), size="sm", min_width=36, elem_id=f"erank-score-{k}")
    with gr.Row():
        buttons["accept"] = gr.Button("Accept model score (a)", size="sm", elem_id="erank-accept")
        buttons["undo"] = gr.Button("Undo (u)", size="sm", elem_id="erank-undo")
    with gr.Row():
        buttons["prev"] = gr.Button("◀ Previous (k)", size="sm", elem_id="erank-prev")
        buttons["next"] = gr.Button("Next (j) ▶", size="sm", elem_id="erank-next")
    rationale = gr.Textbox(label="Rationale (the model's trace; edit it to correct the reasoning)",
                           lines=5, max_lines=14, elem_id="erank-rationale")
    note = gr.Textbox(label="Note", lines=2, elem_id="erank-note")
    buttons["save_text"] = gr.Button("Save rationale and note", size="sm", elem_id="erank-save-text")
    label_status = gr.Markdown("", elem_id="erank-label-status")
    gr.Markdown("Keys (outside text boxes): **0–9** score, **t** = 10, **a** accept, **u** undo, "
                "**j / ↓** next, **k / ↑** previous, **s** skip (Label next). Saved the moment you act; "
                "with a Label next order, a score moves on to the next document of the queue.",
                elem_classes=["erank-help"])
    return AnnotationPanel(annotator=annotator, labelled=labelled, queue=queue, rationale=rationale, note=note,
                           label_status=label_status, buttons=buttons)
