""""Label next" in the annotation panel: pick a strategy and the unlabelled documents of the open
run, or of its whole benchmark batch, come one after another in that order (erank_studio/queue.py);
a score key labels the current document and moves to the next (opening the next query's run when
the batch's queue crosses queries), ``s`` skips it. The panel shows "k of n in queue · m left".

The functions below take and return plain values (no gradio), so tests call them directly; the
score buttons' handlers (annotate.py) call ``after_label`` in the same event as the label, so a
fast typist's keys apply in order."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .. import queue
from ..queue import QueueWalk
from ..store import Store
from . import session
from .session import RunView

OFF = ""
SCOPE_RUN = "this run"
SCOPE_BATCH = "its benchmark batch"
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
    scope: gr.Radio
    skip: gr.Button
    status: gr.Markdown
    walk: gr.State

    @property
    def outputs(self) -> list:
        """What ``reset`` sets."""
        return [self.walk, self.strategy, self.scope, self.status]


def reset(panel: QueuePanel) -> dict:
    """The panel off: no order, this run's scope, no status. A queue belongs to the run (and the
    annotator) it was chosen for; another run opened or started, or another person, starts again."""
    return {panel.walk: None, panel.strategy: OFF, panel.scope: SCOPE_RUN, panel.status: ""}


def build() -> QueuePanel:
    """The queue's controls (inside the annotation column)."""
    with gr.Row(equal_height=True):
        strategy = gr.Dropdown(STRATEGY_CHOICES, value=OFF, label="Label next", scale=3,
                               elem_id="erank-queue-strategy")
        skip = gr.Button("Skip (s)", size="sm", scale=1, min_width=80, elem_id="erank-queue-skip")
    scope = gr.Radio([SCOPE_RUN, SCOPE_BATCH], value=SCOPE_RUN, show_label=False, container=False,
                     elem_id="erank-queue-scope")
    status = gr.Markdown("", elem_id="erank-queue-status")
    return QueuePanel(strategy=strategy, scope=scope, skip=skip, status=status, walk=gr.State(None))


def labelled_pairs(store: Store, query_ids: set[int], annotator: str | None) -> set[tuple[int, str]]:
    """(query_id, doc_id) of the documents this person has a current score for."""
    if not annotator:
        return set()
    return {(q, d) for q in query_ids for d, row in store.current_labels(q, annotator).items()
            if row.score is not None}


def _active(view: RunView, walk: QueueWalk | None) -> bool:
    return isinstance(walk, QueueWalk) and view.run_id is not None and view.run_id in walk.run_ids


def _open(store: Store, view: RunView, entry: tuple[int, int, str] | None) -> RunView:
    """The view with the entry's document selected, its run opened when it is another run's."""
    if entry is None:
        return view
    run_id, _, doc_id = entry
    if run_id != view.run_id:
        view = session.open_run(store, run_id)
    view.selected = doc_id
    return view


def _queue(store: Store, view: RunView, strategy: str, annotator: str, scope: str) -> tuple[queue.Queue, str]:
    if scope != SCOPE_BATCH:
        return queue.run_queue(store, view.run_id, strategy, annotator), f"run #{view.run_id}"
    bench = session.benchmark_of(store, view)
    if bench is None:
        raise ValueError("This run's query is not a benchmark query: its batch has no other queries. "
                         "Choose 'this run'.")
    return (queue.batch_queue(store, bench.source, strategy, annotator, view.model or None),
            f"dataset {bench.source}")


def start(store: Store, view: RunView, strategy: str, annotator: str,
          scope: str = SCOPE_RUN) -> tuple[RunView, QueueWalk | None, str]:
    """The walk for the chosen strategy over the open run (or its benchmark batch), its first
    document open; (view, None, "") for "off". Raises ValueError (QueueUnavailable) with what to do."""
    if strategy == OFF:
        return view, None, ""
    if view.run_id is None:
        raise ValueError("Open or run a query first: the queue orders the open run's documents.")
    if not annotator:
        raise ValueError("Type your name in 'Annotator' first: the queue holds what you have not labelled.")
    order, where = _queue(store, view, strategy, annotator, scope)
    walk = QueueWalk.of(order, where)
    if not walk.entries:
        return view, walk, f"nothing left to label in {where}"
    view = _open(store, view, walk.current())
    notes = "".join(f" · {n}" for n in order.notes)
    return view, walk, walk.status(labelled_pairs(store, walk.query_ids, annotator)) + notes


def after_label(store: Store, view: RunView, walk: QueueWalk | None,
                annotator: str) -> tuple[RunView, QueueWalk | None, str]:
    """After a label: when it labelled the queue's current document, the next one opens."""
    if not _active(view, walk):
        return view, walk, _inactive_status(walk)
    labelled = labelled_pairs(store, walk.query_ids, annotator)
    if (view.run_id, view.query_id, view.selected) == walk.current() and (view.query_id, view.selected) in labelled:
        view = _open(store, view, walk.advance(labelled))
    return view, walk, walk.status(labelled)


def skip(store: Store, view: RunView, walk: QueueWalk | None,
         annotator: str) -> tuple[RunView, QueueWalk | None, str]:
    """Leave the current document unlabelled and open the next one."""
    if not _active(view, walk):
        raise ValueError("Choose a 'Label next' order first: skip walks that queue.")
    labelled = labelled_pairs(store, walk.query_ids, annotator)
    view = _open(store, view, walk.advance(labelled))
    return view, walk, walk.status(labelled)


def _inactive_status(walk: QueueWalk | None) -> str:
    if isinstance(walk, QueueWalk):
        return f"the queue was for {walk.scope}: choose 'Label next' again for this run"
    return ""
