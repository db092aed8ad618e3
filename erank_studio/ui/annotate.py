"""What the annotation panel (annotation_panel.py) does: a person's 0..10 score, rationale and
note for the selected document, each committed to the store the moment it is given, undo, moving
through the table, and the Label next order."""
from __future__ import annotations

from datetime import datetime

import gradio as gr

from . import opened_run, queue_panel, render, session
from .annotation_panel import SCORES
from .context import Context
from .person import who
from .rerank_tab import RerankUI, detail_updates
from .session import RunView

# One queue for every annotation action, so key presses apply in the order they were typed.
QUEUE = "erank-annotate"


def _stamp(text: str) -> str:
    return f"{text} · {datetime.now().strftime('%H:%M:%S')}"


def wire(ctx: Context, ui: RerankUI) -> None:
    """Each action is one event calling the store at most once; its handler answers
    ``{component: value}``: the detail (table, score card, boxes from the store's state after the
    action, counts) and the status line."""
    panel: queue_panel.QueuePanel = ui.queue
    buttons = ui.panel.buttons
    inputs = [ui.view, ui.annotator, ui.rationale, ui.note, ui.sort_by]
    outputs = [*ui.detail_outputs, ui.label_status]
    # A queue that crosses into another run opens it as any opened run is (opened_run.updates).
    queue_outputs = [*opened_run.outputs(ui), ui.label_status]

    def shown(view: RunView, annotator: str, sort_by: str, run_before: int | None) -> dict:
        """The detail of ``view``; the whole opened run when the queue moved to another run."""
        if view.run_id != run_before:
            return opened_run.updates(ctx, ui, view, annotator, sort_by, keep_queue=True)
        return detail_updates(ctx, ui, view, annotator, sort_by)

    def label_with(score_of):
        def handler(view: RunView, annotator, rationale, note, sort_by, walk=None, request: gr.Request = None):
            annotator = who(annotator, request)
            if not view.selected:
                gr.Warning("Select a document first (click a row).")
                return gr.skip()
            score = score_of(view)
            if score == "missing":
                gr.Warning("The model gave this document no score (parse failure): pick one yourself.")
                return gr.skip()
            labelled = view.selected
            try:
                row = session.add_label(ctx.store, view, labelled, annotator, score, rationale, note)
            except ValueError as error:
                gr.Warning(render.html_escape(error))
                return gr.skip()
            # In the same event as the label: with a Label next order, the next document opens.
            run_before = view.run_id
            view, walk, queue_status = queue_panel.after_label(ctx.store, view, walk, annotator)
            what = f"score {row.score}" if row.score is not None else "note"
            return {**shown(view, annotator, sort_by, run_before), panel.walk: walk,
                    panel.status: render.md_escape(queue_status),
                    ui.label_status: _stamp(f"saved ✓ {what} for {render.md_escape(labelled)}")}
        return handler

    label_inputs = [*inputs, panel.walk]
    for k in SCORES:
        buttons[str(k)].click(label_with(lambda view, k=k: k), label_inputs, queue_outputs, api_visibility="private",
                              concurrency_id=QUEUE, concurrency_limit=1, trigger_mode="multiple")

    def model_score(view: RunView):
        j = view.judgment(view.selected)
        return j.score if j is not None and j.score is not None else "missing"

    buttons["accept"].click(label_with(model_score), label_inputs, queue_outputs, api_visibility="private",
                            concurrency_id=QUEUE, concurrency_limit=1)
    _wire_queue(ctx, ui, panel, queue_outputs, shown)

    def save_text(view: RunView, annotator, rationale, note, sort_by, request: gr.Request):
        """Save the rationale and note: one row when they changed, none when the store holds them
        already (leaving the box just saved them). Also what leaving either box does."""
        annotator = who(annotator, request)
        if not view.selected:
            gr.Warning("Select a document first (click a row).")
            return gr.skip()
        try:
            session.save_text(ctx.store, view, view.selected, annotator, rationale, note)
        except ValueError as error:
            gr.Warning(render.html_escape(f"{error} (give a score, or write a note)"))
            return gr.skip()
        # Nothing new (leaving the box saved it a moment ago): the store holds what is shown.
        return {**detail_updates(ctx, ui, view, annotator, sort_by),
                ui.label_status: _stamp(f"saved ✓ rationale and note for {render.md_escape(view.selected)}")}

    def autosave(view: RunView, annotator, rationale, note, sort_by, request: gr.Request):
        """Leaving the rationale or note box saves what changed (nothing, and no word, when nothing
        did; no name yet: nothing, the Save button says why)."""
        annotator = who(annotator, request)
        if not view.selected or not annotator:
            return gr.skip()
        try:
            row = session.save_text(ctx.store, view, view.selected, annotator, rationale, note)
        except ValueError as error:
            gr.Warning(render.html_escape(error))
            return gr.skip()
        if row is None:
            return gr.skip()
        # Not the boxes: the person may be typing in the other one.
        detail = detail_updates(ctx, ui, view, annotator, sort_by)
        return {ui.table: detail[ui.table], ui.labelled: detail[ui.labelled],
                ui.label_status: _stamp(f"saved ✓ rationale and note for {render.md_escape(view.selected)}")}

    for box in (ui.rationale, ui.note):
        box.blur(autosave, inputs, [ui.table, ui.labelled, ui.label_status], api_visibility="private",
                 concurrency_id=QUEUE, concurrency_limit=1)

    buttons["save_text"].click(save_text, inputs, outputs, api_visibility="private", concurrency_id=QUEUE,
                               concurrency_limit=1)

    def undo(view: RunView, annotator, rationale, note, sort_by, request: gr.Request):
        """Undo the person's last label action on the open document; every box then shows the
        store's state after it (score, rationale, note, the "you" column, the counts)."""
        annotator = who(annotator, request)
        if not view.selected:
            gr.Warning("Select a document first (click a row).")
            return gr.skip()
        try:
            now = session.undo_label(ctx.store, view, view.selected, annotator)
        except ValueError as error:
            gr.Warning(render.html_escape(error))
            return gr.skip()
        msg = f"undone ✓ now {now.score}" if now is not None and now.score is not None else "undone ✓ (no label)"
        return {**detail_updates(ctx, ui, view, annotator, sort_by),
                ui.label_status: _stamp(f"{msg} for {render.md_escape(view.selected)}")}

    buttons["undo"].click(undo, inputs, outputs, api_visibility="private", concurrency_id=QUEUE, concurrency_limit=1)

    def move(step: int):
        def handler(view: RunView, annotator, rationale, note, sort_by, request: gr.Request):
            annotator = who(annotator, request)
            order = view.order(sort_by)
            if not order:
                return gr.skip()
            if view.selected not in order:
                view.selected = order[0]
            else:
                view.selected = order[max(0, min(len(order) - 1, order.index(view.selected) + step))]
            return {**detail_updates(ctx, ui, view, annotator, sort_by), ui.label_status: ""}
        return handler

    buttons["next"].click(move(1), inputs, outputs, api_visibility="private", concurrency_id=QUEUE,
                          concurrency_limit=1, trigger_mode="multiple")
    buttons["prev"].click(move(-1), inputs, outputs, api_visibility="private", concurrency_id=QUEUE,
                          concurrency_limit=1, trigger_mode="multiple")


def _wire_queue(ctx: Context, ui: RerankUI, panel: queue_panel.QueuePanel, outputs: list, shown) -> None:
    """Choosing a Label next order opens its first document; Skip (s) opens the next one."""

    def step(action):
        def queue_step(view: RunView, annotator, sort_by, walk, strategy, scope, request: gr.Request):
            annotator = who(annotator, request)
            run_before = view.run_id
            try:
                view, walk, status = action(view, walk, strategy, annotator, scope)
            except ValueError as error:  # no run, no name, no qrels: one toast, the screen kept
                gr.Warning(render.html_escape(error))
                return gr.skip()
            return {**shown(view, annotator, sort_by, run_before), ui.label_status: "", panel.walk: walk,
                    panel.status: render.md_escape(status)}
        return queue_step

    inputs = [ui.view, ui.annotator, ui.sort_by, panel.walk, panel.strategy, panel.scope]
    start = step(lambda view, walk, strategy, annotator, scope: queue_panel.start(ctx.store, view, strategy,
                                                                                  annotator, scope))
    for changed in (panel.strategy.input, panel.scope.input):
        changed(start, inputs, outputs, api_visibility="private", concurrency_id=QUEUE, concurrency_limit=1)
    panel.skip.click(step(lambda view, walk, strategy, annotator, scope: queue_panel.skip(ctx.store, view, walk,
                                                                                          annotator)),
                     inputs, outputs, api_visibility="private", concurrency_id=QUEUE, concurrency_limit=1,
                     trigger_mode="multiple")
