""""Label next" in the annotation panel: pick a strategy and the open run's unlabelled documents
come one after another in that order (erank_studio/queue.py); a score key labels the current
document and moves to the next, ``s`` skips it. The panel shows "k of n in queue · m left".

The functions below take and return plain values (no gradio), so tests call them directly; the
score buttons' handlers (annotate.py) call ``after_label`` in the same event as the label, so a
fast typist's keys apply in order."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .. import queue
from ..queue import QueueUnavailable, QueueWalk
from ..store import Store
from . import session
from .session import RunView

OFF = ""
STRATEGY_CHOICES = [
    ("off: the table's order", OFF),
    ("highest uncertainty (entropy; documents without a distribution last)", queue.STRATEGY_ENTROPY),
    ("model vs first-stage rank disagreement", queue.STRATEGY_FIRST_STAGE),
    ("model vs qrels disagreement (benchmark queries)", queue.STRATEGY_QRELS),
    ("the model's ranking", queue.STRATEGY_RANK),
]


@dataclass
class QueuePanel:
    strategy: gr.Dropdown
    skip: gr.Button
    status: gr.Markdown
    walk: gr.State


def build() -> QueuePanel:
    """The queue's controls (inside the annotation column)."""
    with gr.Row(equal_height=True):
        strategy = gr.Dropdown(STRATEGY_CHOICES, value=OFF, label="Label next", scale=3,
                               elem_id="erank-queue-strategy")
        skip = gr.Button("Skip (s)", size="sm", scale=1, min_width=80, elem_id="erank-queue-skip")
    status = gr.Markdown("", elem_id="erank-queue-status")
    return QueuePanel(strategy=strategy, skip=skip, status=status, walk=gr.State(None))


def labelled_ids(store: Store, view: RunView, annotator: str | None) -> set[str]:
    """The open run's documents this person has a current score for."""
    return {d for d, row in session.labels(store, view, annotator).items() if row.score is not None}


def _active(view: RunView, walk: QueueWalk | None) -> bool:
    return isinstance(walk, QueueWalk) and view.run_id is not None and walk.run_id == view.run_id


def start(store: Store, view: RunView, strategy: str, annotator: str) -> tuple[QueueWalk | None, str]:
    """The walk for the open run and the chosen strategy, its first document selected; (None, "")
    for "off". Raises ValueError (QueueUnavailable) with what to do."""
    if strategy == OFF:
        return None, ""
    if view.run_id is None:
        raise ValueError("Open or run a query first: the queue orders the open run's documents.")
    if not annotator:
        raise ValueError("Type your name in 'Annotator' first: the queue holds what you have not labelled.")
    order = queue.run_queue(store, view.run_id, strategy, annotator)
    walk = QueueWalk.of(order, view.run_id)
    if walk.current() is not None:
        view.selected = walk.current()
    labelled = labelled_ids(store, view, annotator)
    notes = "".join(f" · {n}" for n in order.notes)
    return walk, (walk.status(labelled) + notes if walk.doc_ids else
                  f"nothing left to label in run #{view.run_id}")


def after_label(store: Store, view: RunView, walk: QueueWalk | None, annotator: str) -> tuple[QueueWalk | None, str]:
    """After a label: when it labelled the queue's current document, the next one is selected."""
    if not _active(view, walk):
        return walk, _inactive_status(walk)
    labelled = labelled_ids(store, view, annotator)
    if view.selected == walk.current() and view.selected in labelled:
        nxt = walk.advance(labelled)
        if nxt is not None:
            view.selected = nxt
    return walk, walk.status(labelled)


def skip(store: Store, view: RunView, walk: QueueWalk | None, annotator: str) -> tuple[QueueWalk | None, str]:
    """Leave the current document unlabelled and select the next one."""
    if not _active(view, walk):
        raise ValueError("Choose a 'Label next' order first: skip walks that queue.")
    labelled = labelled_ids(store, view, annotator)
    nxt = walk.advance(labelled)
    if nxt is not None:
        view.selected = nxt
    return walk, walk.status(labelled)


def _inactive_status(walk: QueueWalk | None) -> str:
    if isinstance(walk, QueueWalk):
        return f"the queue was for run #{walk.run_id}: choose 'Label next' again for this run"
    return ""
