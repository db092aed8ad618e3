"""What one browser session is looking at (a run and its judgments), and every store call the UI
makes: the tabs call these functions, never SQL and never the store's internals.

Nothing here imports gradio, so it is tested directly (tests/ui/)."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .. import judge, prompt, runs, scoring
from ..engines.base import CancelToken, Engine
from ..store import LabelRow, Store
from ..store.campaigns.records import RecordFilter
from ..types import Document, Judgment
from . import render

log = logging.getLogger(__name__)


@dataclass
class Benchmark:
    """Where the current query came from when it was loaded from a benchmark."""

    source: str
    source_query_id: str
    query: str
    qrels: dict[str, int] = field(default_factory=dict)


@dataclass
class RunView:
    run_id: int | None = None
    query_id: int | None = None
    query: str = ""
    instruction: str = ""
    model: str = ""
    engine: str = ""
    status: str = ""
    alpha: float = scoring.DEFAULT_ALPHA
    template: str = prompt.DEFAULT_TEMPLATE
    # What else the run was judged with (a reopened run restores them in the inputs); None/empty
    # for a view that is not a stored run.
    truncate_length: int | None = None
    generation: dict = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)
    judgments: list[Judgment] = field(default_factory=list)
    qrels: dict[str, int] = field(default_factory=dict)
    selected: str | None = None
    # What the run path said about the list (e.g. BM25 replaced a partial first stage), and the
    # run itself while this page's job judges it.
    note: str | None = None
    run: runs.Run | None = field(default=None, repr=False, compare=False)
    # The results table's filter (results_table.py): it belongs to this run's table, so opening
    # or starting another run shows that one whole.
    row_filter: RecordFilter | None = None

    def judgment(self, doc_id: str | None) -> Judgment | None:
        return next((j for j in self.judgments if j.doc_id == doc_id), None)

    def order(self, sort_by: str) -> list[str]:
        return [j.doc_id for j in render.ranked(self.judgments, sort_by)]


def rehybrid(view: RunView, alpha: float) -> None:
    """Hybrid scores again from the held judgments: no model call."""
    view.alpha = float(alpha)
    judge.apply_hybrid(view.judgments, view.alpha)


def save_alpha(store: Store, view: RunView) -> None:
    if view.run_id is not None and view.judgments:
        store.set_hybrid_scores(view.run_id, {j.doc_id: j.hybrid_score for j in view.judgments}, view.alpha)


def benchmark_ids(benchmark: Benchmark | None, query: str) -> dict[str, str]:
    """The ``RunSpec`` fields that tie a run to the benchmark query loaded in the page (``source``,
    ``source_query_id``), or none when there is no benchmark or the query was edited since."""
    if benchmark is None or benchmark.query.strip() != query.strip():
        return {}
    return {"source": benchmark.source, "source_query_id": benchmark.source_query_id}


def start_run(store: Store, engine: Engine, spec: runs.RunSpec) -> RunView:
    """Record the query and the run through the one run path (``runs.start``: the input rules,
    BM25 for documents that came without scores, with a note when only some had one)."""
    run = runs.start(store, engine, spec)
    return RunView(
        run_id=run.run_id, query_id=run.query_id, query=run.spec.query, instruction=run.spec.instruction,
        model=run.model, engine=run.engine, status=runs.RunStatus.RUNNING.value, alpha=run.spec.alpha,
        template=run.spec.template, documents={d.doc_id: d for d in run.spec.documents},
        qrels=store.qrels_for(run.query_id), note=run.note, run=run,
    )


def stream_judgments(
    store: Store,
    engine: Engine,
    view: RunView,
    *,
    cancel: CancelToken,
    judge_fn: Callable[..., Iterator[Judgment]] = judge.judge,
) -> Iterator[RunView]:
    """Judge the run through the one run path (``runs.execute``); yields the view after each
    judgment. The run is marked done, cancelled or failed however the loop ends (a closed
    generator included), with its hybrid scores computed once, at the end (recomputing them
    after every judgment made a run quadratic); a live view that wants them mid-run calls
    ``rehybrid`` when it renders. What is judged, and how, is the run's spec (``start_run``)."""
    run = view.run
    if run is None:
        raise ValueError("stream_judgments needs a view made by start_run")
    try:
        for j in runs.execute(run, engine, store, cancel, judge_fn):
            view.judgments.append(j)
            yield view
    finally:
        view.status = run.status.value


def open_run(store: Store, run_id: int) -> RunView:
    info = store.run_info(run_id)
    query_id = int(info["query_id"])
    docs = {d.doc_id: d for d in store.documents_for_query(query_id)}
    judgments = store.run_judgments(run_id)
    for j in judgments:  # a document's first-stage score lives with the candidate list
        if j.first_stage_score is None and j.doc_id in docs:
            j.first_stage_score = docs[j.doc_id].first_stage_score
    judged = {j.doc_id for j in judgments}
    view = RunView(
        run_id=run_id, query_id=query_id, query=store.query_text(query_id),
        instruction=info.get("instruction") or "", model=info.get("model") or "",
        engine=info.get("engine") or "", status=info.get("status") or "",
        alpha=float(info.get("alpha") if info.get("alpha") is not None else scoring.DEFAULT_ALPHA),
        template=info.get("template") or prompt.DEFAULT_TEMPLATE,
        truncate_length=info.get("truncate_length"), generation=dict(info.get("generation") or {}),
        documents={k: v for k, v in docs.items() if k in judged} or docs,
        judgments=judgments, qrels=store.qrels_for(query_id),
    )
    rehybrid(view, view.alpha)
    return view


def benchmark_of(store: Store, view: RunView) -> Benchmark | None:
    """The benchmark query the open run belongs to (None for a typed query)."""
    query = next((q for q in store.queries() if q["id"] == view.query_id), None)
    if query is None or not query["source"] or not query["source_query_id"]:
        return None
    return Benchmark(source=query["source"], source_query_id=query["source_query_id"], query=view.query,
                     qrels=dict(view.qrels))


def run_status_text(status: str | None) -> str:
    """A run's status for people: "interrupted" says what happened."""
    if status == runs.RunStatus.INTERRUPTED:  # a str enum: equal to the stored "interrupted"
        return "interrupted (the process judging it stopped; what it judged is kept)"
    return status or ""


def run_choices(store: Store, limit: int = 50, query_id: int | None = None) -> list[tuple[str, int]]:
    """The newest runs (of one query when ``query_id`` is given) as dropdown choices."""
    out = []
    for r in store.runs(query_id=query_id, limit=limit):  # the store reads only these rows
        text = render.snippet(r.query_text, 50)
        out.append((f"#{r.id} · {text} · {r.model.split('/')[-1]} · {r.status} · {r.n_judgments} docs", r.id))
    return out


def labels(store: Store, view: RunView, annotator: str | None) -> dict[str, LabelRow]:
    if view.query_id is None or not annotator:
        return {}
    return store.current_labels(view.query_id, annotator)


def label_scores(store: Store, view: RunView, annotator: str | None) -> dict[str, int | None]:
    return {k: v.score for k, v in labels(store, view, annotator).items()}


def add_label(store: Store, view: RunView, doc_id: str, annotator: str, score: int | None,
              rationale: str | None, note: str | None) -> LabelRow:
    """Commit a label. The rationale is kept only when the person changed the model's trace."""
    if view.query_id is None:
        raise ValueError("run or open a query first")
    j = view.judgment(doc_id)
    return add_label_for_query(store, view.query_id, doc_id, annotator, score, rationale, note,
                               j.trace if j else "")


def add_label_for_query(store: Store, query_id: int, doc_id: str, annotator: str, score: int | None,
                        rationale: str | None, note: str | None, trace: str | None) -> LabelRow:
    """Commit a label without a run loaded (the API): ``trace`` is the model's, to tell an edited
    rationale from the unchanged trace."""
    annotator = (annotator or "").strip()
    if not annotator:
        raise ValueError("type your name in 'Annotator' first, so your labels are yours")
    kept = (rationale or "").strip()
    rationale_value = kept if kept and kept != (trace or "").strip() else None
    return store.add_label(query_id, doc_id, annotator, score, rationale_value, (note or "").strip() or None)


def save_text(store: Store, view: RunView, doc_id: str, annotator: str, rationale: str | None,
              note: str | None) -> LabelRow | None:
    """Save the rationale and note of the person's label (their current score kept): one row when
    they differ from what the store holds, none (None) when they do not. The Save button and
    leaving either box both come here, so a Save right after the box's own save writes nothing."""
    annotator = (annotator or "").strip()
    current = labels(store, view, annotator).get(doc_id)
    j = view.judgment(doc_id)
    trace = (j.trace or "").strip() if j else ""
    new_rationale = (rationale or "").strip()
    new_rationale = None if not new_rationale or new_rationale == trace else new_rationale
    new_note = (note or "").strip() or None
    if current is None and new_rationale is None and new_note is None:
        return None
    if current is not None and (current.rationale or None, current.note or None) == (new_rationale, new_note):
        return None
    return add_label(store, view, doc_id, annotator, current.score if current else None, rationale, note)


def undo_label(store: Store, view: RunView, doc_id: str, annotator: str) -> LabelRow | None:
    if view.query_id is None:
        raise ValueError("run or open a query first")
    annotator = (annotator or "").strip()
    before = len(store.label_history(view.query_id, doc_id, annotator))
    now = store.undo_label(view.query_id, doc_id, annotator)
    if len(store.label_history(view.query_id, doc_id, annotator)) == before:
        # the store wrote nothing: say so rather than "undone"
        raise ValueError(f"Nothing to undo for {doc_id}" + (f" by {annotator}" if annotator else ""))
    return now


def labelled_progress(view: RunView, scores: dict[str, int | None]) -> str:
    n = len(view.judgments)
    k = sum(1 for j in view.judgments if scores.get(j.doc_id) is not None)
    gaps = sum(1 for j in view.judgments if render.disagrees(j.score, scores.get(j.doc_id)))
    text = f"labelled {k} of {n}"
    if gaps:
        text += f" · {gaps} disagreement{'s' if gaps != 1 else ''} (|human − model| ≥ {render.DISAGREEMENT_GAP})"
    return text


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
