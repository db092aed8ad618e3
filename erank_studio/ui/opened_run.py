"""Opening a saved run in the Rerank view, one way for every place that opens one (the "Open a
saved run" list, ``?run=N`` in the address, a reload, the Analyze view's benchmark page, a Label
next order that crosses into another run).

Opening is exact: the inputs show what the run was judged with (query, its documents as the run's
document list, instruction and the preset it matches, template, alpha, truncation and generation
settings, and the model where the operator lets visitors choose one; the progress line names them
either way), and what belonged to the run shown before is cleared (a loaded benchmark list, its
benchmark context, the label status line, a Label next order). Rerank pressed next judges exactly
what is shown."""
from __future__ import annotations

import gradio as gr

from .. import prompt
from ..engines import ENGINES
from . import queue_panel, render, session
from .context import Context
from .rerank_tab import RerankUI, detail_updates, opened_run_text
from .run_inputs import PRESET_CUSTOM, LoadedList, list_updates, model_choices
from .session import RunView


def preset_of(instruction: str) -> str:
    """The paper's preset whose instruction this is, else "custom"."""
    text = (instruction or "").strip()
    return next((name for name, value in prompt.INSTRUCTIONS.items() if value.strip() == text), PRESET_CUSTOM)


def run_documents(view: RunView) -> LoadedList:
    """The run's documents in its judged order (with their first-stage scores): what a rerun judges."""
    docs = [view.documents[j.doc_id] for j in view.judgments if j.doc_id in view.documents]
    return LoadedList(f"run #{view.run_id}", docs or list(view.documents.values()))


def outputs(ui: RerankUI) -> list:
    """Every component ``updates`` may set."""
    return [*ui.detail_outputs, *settings_outputs(ui), ui.model, ui.engine, *ui.list_outputs, ui.upload, ui.bench,
            ui.progress, ui.label_status, ui.saved_runs, *ui.queue.outputs]


def settings_outputs(ui: RerankUI) -> list:
    """Every component ``settings_updates`` may set."""
    return [ui.query, ui.preset, ui.instruction, ui.template, ui.alpha, ui.force_answer, ui.truncate_length,
            ui.max_new_tokens]


def settings_updates(ui: RerankUI, view: RunView) -> dict:
    """The inputs ``view`` was judged with, but the model: query, instruction and its preset,
    template, alpha, truncation and generation settings."""
    generation = view.generation or {}
    out = {
        ui.query: view.query,
        ui.preset: preset_of(view.instruction),
        ui.instruction: view.instruction,
        ui.template: view.template if view.template in prompt.TEMPLATES else prompt.DEFAULT_TEMPLATE,
        ui.alpha: view.alpha,
        ui.force_answer: bool(generation.get("force_answer", False)),
    }
    if view.truncate_length:
        out[ui.truncate_length] = int(view.truncate_length)
    if generation.get("max_new_tokens"):
        out[ui.max_new_tokens] = int(generation["max_new_tokens"])
    return out


def updates(ctx: Context, ui: RerankUI, view: RunView, annotator: str | None, sort_by: str, *,
            keep_queue: bool = False) -> dict:
    """``{component: value}`` for ``view`` opened in the Rerank view, its top document selected
    unless one is. ``keep_queue``: the Label next order itself opened it (it goes on)."""
    if view.judgments and view.selected is None:
        view.selected = view.order(sort_by)[0]
    out = {
        **detail_updates(ctx, ui, view, annotator, sort_by),
        **settings_updates(ui, view),
        **list_updates(ui.inputs, run_documents(view), view.qrels),
        ui.upload: None,
        ui.bench: session.benchmark_of(ctx.store, view),
        ui.progress: opened_run_text(view),
        ui.label_status: "",
        ui.saved_runs: gr.update(choices=session.run_choices(ctx.store), value=view.run_id),
    }
    offered = [value for _, value in model_choices(ctx.defaults)]
    if ctx.defaults.allow_model_choice and view.model in offered:
        # Only a model this server offers: a run judged elsewhere (another machine's folder, a
        # model since removed) must not make the next Rerank load what is not here.
        out[ui.model] = view.model
        if view.engine in ENGINES:
            out[ui.engine] = view.engine
    if not keep_queue:
        out.update(queue_panel.reset(ui.queue))
    return out


def open_updates(ctx: Context, ui: RerankUI, run_id, annotator: str | None, sort_by: str) -> dict | None:
    """``updates`` for the stored run ``run_id``; None (after one toast) when it cannot be opened."""
    try:
        view = session.open_run(ctx.store, int(run_id))
    except Exception as error:
        gr.Warning(render.html_escape(f"Cannot open run {run_id}: {error}"))
        return None
    return updates(ctx, ui, view, annotator, sort_by)


def remembered(saved: dict | None, run_id: int) -> dict:
    """The browser's saved state naming ``run_id`` (a reload reopens it)."""
    return {**{k: v for k, v in (saved or {}).items() if k != "__type__"}, "run_id": int(run_id)}


def wire(ctx: Context, ui: RerankUI, saved: gr.BrowserState) -> None:
    """The "Open a saved run" list."""

    def on_open(run_id, annotator, sort_by, saved_value):
        if run_id in (None, ""):
            return gr.skip()
        opened = open_updates(ctx, ui, run_id, annotator, sort_by)
        if opened is None:
            return gr.skip()
        return {**opened, saved: remembered(saved_value, run_id)}

    ui.saved_runs.input(on_open, [ui.saved_runs, ui.annotator, ui.sort_by, saved], [*outputs(ui), saved],
                        api_visibility="private")
