"""A benchmark batch as the store holds it: per query, the latest judgment of each document by one
model, turned into the first-stage / model / hybrid runs and the qrels (benchmark qrels, a qrels
file, or people's labels graded by ``grading.grade``).

This is the one path from the store to nDCG: ``evaluate --dataset`` and the Analyze view's
benchmark page both load a batch here and score it with ``metrics.evaluate_runs``, so the two
can never disagree. Nothing here imports gradio or torch."""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import grading, metrics
from .batch import RUN_KINDS, latest_judgments
from .scoring import DEFAULT_ALPHA, MODEL_SCORES
from .store import Store
from .types import Judgment

AGAINST = ("qrels", "labels")


class BatchNotFound(ValueError):
    """The store holds no such batch, or the request is ambiguous (said in one line)."""


@dataclass
class BatchQuery:
    """One query of a batch: ``key`` is its benchmark id (the store's id when it has none)."""

    key: str
    query_id: int
    text: str
    judgments: list[Judgment]  # the latest judgment of each document by the batch's model
    run_id: int | None  # the run holding most of those judgments (what "open" shows)
    run_of: dict[str, int] = field(default_factory=dict)  # doc_id -> the run holding its judgment


@dataclass
class Batch:
    dataset: str
    model: str
    against: str
    alpha: float
    queries: list[BatchQuery]
    runs: dict[str, dict[str, dict[str, float]]]  # "first_stage" / "model" / "hybrid" -> qid -> doc -> score
    qrels: dict[str, dict[str, int]]  # every query of the dataset, judged or not (may be empty)
    # (model score, person's score) pairs of the judged documents, with --against labels
    label_pairs: tuple[list[int], list[int]] = field(default_factory=lambda: ([], []))

    @property
    def has_qrels(self) -> bool:
        return any(self.qrels.values())


def batch_models(store: Store) -> dict[str, list[str]]:
    """dataset -> the models that judged some of its queries (both sorted): the batches to pick."""
    source = {q["id"]: q["source"] for q in store.queries() if q["source"]}
    found: dict[str, set[str]] = {}
    for run in store.runs():
        if run.query_id in source:
            found.setdefault(source[run.query_id], set()).add(run.model)
    return {name: sorted(models) for name, models in sorted(found.items())}


def _main_run(latest: Mapping[str, tuple[int, Judgment]]) -> int | None:
    """A resumed batch spreads a query over several runs: the one holding most of its judgments
    (the newest on a tie) is the one worth opening."""
    counts = Counter(run_id for run_id, _ in latest.values())
    return max(counts, key=lambda r: (counts[r], r)) if counts else None


def load_batch(
    store: Store,
    dataset: str,
    *,
    model: str | None = None,
    alpha: float = DEFAULT_ALPHA,
    against: str = "qrels",
    annotator: str | None = None,
    file_qrels: Mapping[str, Mapping[str, int]] | None = None,
    model_score: str = "rank_score",
) -> Batch:
    """The batch of ``dataset`` judged by ``model`` (may be omitted when one model judged it).
    Raises BatchNotFound with what to change. A batch without qrels loads (``has_qrels`` False):
    the caller says what needs them."""
    if against not in AGAINST:
        raise ValueError(f"against must be one of {', '.join(AGAINST)}, not {against!r}")
    if model_score not in MODEL_SCORES:
        raise ValueError(f"model_score must be one of {', '.join(MODEL_SCORES)}, not {model_score!r}")
    attribute = MODEL_SCORES[model_score]
    queries = [q for q in store.queries() if q["source"] == dataset]
    if not queries:
        raise BatchNotFound(f"the store ({store.url}) holds no queries of dataset {dataset!r}")
    models = batch_models(store).get(dataset, [])  # one read of the run list, not one per query
    if model:
        if model not in models:
            raise BatchNotFound(f"no judgments by {model!r} for {dataset}; models in the store: {', '.join(models) or 'none'}")
    elif len(models) == 1:
        model = models[0]
    else:
        raise BatchNotFound(f"several models judged {dataset}: pass --model (one of {', '.join(models) or 'none'})")
    runs: dict[str, dict[str, dict[str, float]]] = {kind: {} for kind in RUN_KINDS}
    qrels: dict[str, dict[str, int]] = {}
    pairs: tuple[list[int], list[int]] = ([], [])
    loaded: list[BatchQuery] = []
    for q in queries:
        key = q["source_query_id"] or str(q["id"])
        latest = latest_judgments(store, q["id"], model)
        judged = [j for _, j in latest.values()]
        loaded.append(BatchQuery(key=key, query_id=q["id"], text=q["text"], judgments=judged, run_id=_main_run(latest),
                                 run_of={d: run for d, (run, _) in latest.items()}))
        if judged:
            runs["first_stage"][key] = {j.doc_id: j.first_stage_score for j in judged if j.first_stage_score is not None}
            runs["model"][key] = {j.doc_id: getattr(j, attribute) for j in judged if getattr(j, attribute) is not None}
            hybrid = metrics.hybrid_run({key: runs["first_stage"][key]}, {key: runs["model"][key]}, alpha)
            runs["hybrid"][key] = hybrid.get(key, {})
        # Qrels for every query of the dataset, judged or not: --missing zero must see the queries
        # whose judgments all failed (or never ran), and the count printed names them.
        if against == "labels":
            labels = store.current_labels(q["id"], annotator=annotator)
            raw = {d: row.score for d, row in labels.items() if row.score is not None}
            qrels[key] = {d: grading.grade(s) for d, s in raw.items()}
            for j in judged:
                if j.score is not None and j.doc_id in raw:
                    pairs[0].append(j.score)
                    pairs[1].append(raw[j.doc_id])
        elif file_qrels is not None:
            qrels[key] = dict(file_qrels.get(key, {}))
        else:
            qrels[key] = store.qrels_for(q["id"])
    return Batch(dataset=dataset, model=model, against=against, alpha=alpha, queries=loaded, runs=runs,
                 qrels=qrels, label_pairs=pairs)
