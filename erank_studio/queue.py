"""Label next: the order in which a person should label a run's (or a benchmark batch's)
unlabelled documents, so their time goes where the model is least sure or most at odds with
another signal.

Strategies (``STRATEGIES``), each with ties broken by the model's rank, then query, run and
document id, so the order is the same every time:

- ``entropy``: the model's uncertainty (entropy in bits of its P(0..10)), highest first;
  judgments without a stored distribution come last.
- ``first_stage``: |model rank - first-stage rank| within the query, largest first.
- ``qrels``: |grade(model score) - qrel| (``grading.grade``), largest first, for queries that have
  qrels (a document the qrels do not list counts 0, as nDCG counts it); unavailable without qrels.
- ``rank``: the model's ranking (rank_score), best first.

Documents whose value is undefined (a failed judgment has no rank or score) come after the
others. ``order`` is pure; ``run_queue`` and ``batch_queue`` read their inputs from a ``Store``."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import grading, scoring
from .types import Judgment

if TYPE_CHECKING:
    from .store import Store

STRATEGY_ENTROPY = "entropy"
STRATEGY_FIRST_STAGE = "first_stage"
STRATEGY_QRELS = "qrels"
STRATEGY_RANK = "rank"
# strategy -> what it puts first (shown in the UI and the CLI's help)
STRATEGIES: dict[str, str] = {
    STRATEGY_ENTROPY: "highest uncertainty (entropy of P(0..10)) first; no distribution: last",
    STRATEGY_FIRST_STAGE: "largest |model rank - first-stage rank| first",
    STRATEGY_QRELS: "largest |grade of the model's score - qrel| first (queries with qrels)",
    STRATEGY_RANK: "the model's ranking (rank_score), best first",
}


class QueueUnavailable(ValueError):
    """The strategy cannot order these documents (no qrels, no runs of a dataset): one line."""


@dataclass(frozen=True)
class QueueItem:
    """One candidate for labelling, with the values every strategy reads."""

    run_id: int
    query_id: int
    doc_id: str
    model_rank: int | None  # 1-based by rank_score within the query; None for a failed judgment
    first_stage_rank: int | None  # 1-based by first-stage score; None without one
    score: int | None
    entropy: float | None
    qrel: int | None  # None when the query has no qrels
    source_query_id: str | None = None

    def value(self, strategy: str) -> float | None:
        """What the strategy sorts by (None: undefined, placed last)."""
        if strategy == STRATEGY_ENTROPY:
            return self.entropy
        if strategy == STRATEGY_FIRST_STAGE:
            if self.model_rank is None or self.first_stage_rank is None:
                return None
            return float(abs(self.model_rank - self.first_stage_rank))
        if strategy == STRATEGY_QRELS:
            if self.score is None or self.qrel is None:
                return None
            return float(abs(grading.grade(self.score) - self.qrel))
        if strategy == STRATEGY_RANK:
            return None if self.model_rank is None else float(self.model_rank)
        raise QueueUnavailable(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")

    def to_dict(self, strategy: str) -> dict[str, Any]:
        return {**asdict(self), "value": self.value(strategy)}


@dataclass
class Queue:
    """The ordered unlabelled documents and how many candidates there were."""

    strategy: str
    items: list[QueueItem]
    n_candidates: int
    n_labelled: int
    annotator: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "annotator": self.annotator, "n_candidates": self.n_candidates,
                "n_labelled": self.n_labelled, "n_queued": len(self.items), "notes": list(self.notes),
                "items": [item.to_dict(self.strategy) for item in self.items]}


def _ranks(values: Sequence[float | None]) -> list[int | None]:
    """1-based ranks by value, descending (scoring.order: the table's order); None stays None."""
    ranks: list[int | None] = [None] * len(values)
    for rank, i in enumerate(scoring.order(values), start=1):
        if values[i] is not None:
            ranks[i] = rank
    return ranks


def query_items(run_ids: Mapping[str, int] | int, query_id: int, judgments: Sequence[Judgment],
                qrels: Mapping[str, int] | None, source_query_id: str | None = None) -> list[QueueItem]:
    """A query's candidates: ranks computed over its judgments (in the order given, as the
    table ranks them). ``run_ids``: one run for all, or doc_id -> run (a batch's latest runs)."""
    model_ranks = _ranks([j.rank_score if j.ok else None for j in judgments])
    first_ranks = _ranks([j.first_stage_score for j in judgments])
    has_qrels = bool(qrels)
    items = []
    for j, model_rank, first_rank in zip(judgments, model_ranks, first_ranks):
        run_id = run_ids if isinstance(run_ids, int) else run_ids[j.doc_id]
        items.append(QueueItem(
            run_id=run_id, query_id=query_id, doc_id=j.doc_id, model_rank=model_rank,
            first_stage_rank=first_rank, score=j.score if j.ok else None, entropy=j.score_entropy,
            qrel=int(qrels.get(j.doc_id, 0)) if has_qrels else None, source_query_id=source_query_id,
        ))
    return items


def order(items: Iterable[QueueItem], strategy: str,
          labelled: set[tuple[int, str]] | None = None) -> list[QueueItem]:
    """The items not in ``labelled`` ((query_id, doc_id) pairs), in the strategy's order."""
    if strategy not in STRATEGIES:
        raise QueueUnavailable(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    todo = [i for i in items if (i.query_id, i.doc_id) not in (labelled or set())]
    if strategy == STRATEGY_QRELS and todo and all(i.qrel is None for i in todo):
        raise QueueUnavailable("the qrels strategy needs qrels for the query: load it from a benchmark "
                               "(or import qrels), or choose another strategy")
    ascending = strategy == STRATEGY_RANK  # rank 1 first; every other value: largest first

    def key(item: QueueItem) -> tuple:
        value = item.value(strategy)
        primary = 0.0 if value is None else (value if ascending else -value)
        return (value is None, primary, item.model_rank is None, item.model_rank or 0,
                item.query_id, item.run_id, item.doc_id)

    return sorted(todo, key=key)


def _labelled(store: Store, query_id: int, annotator: str | None) -> set[tuple[int, str]]:
    """Documents with a current score by this annotator (by anyone when None)."""
    labels = store.current_labels(query_id, annotator or None)
    return {(query_id, d) for d, row in labels.items() if row.score is not None}


def _notes(items: Sequence[QueueItem], strategy: str) -> list[str]:
    missing = sum(1 for i in items if i.value(strategy) is None)
    if not missing:
        return []
    why = {STRATEGY_ENTROPY: "without a score distribution",
           STRATEGY_FIRST_STAGE: "without a model rank or first-stage score",
           STRATEGY_QRELS: "without a model score or qrels",
           STRATEGY_RANK: "whose judgment failed"}[strategy]
    return [f"{missing} document{'s' if missing != 1 else ''} {why}: placed last"]


def _queue(items: list[QueueItem], labelled: set[tuple[int, str]], strategy: str,
           annotator: str | None) -> Queue:
    ordered = order(items, strategy, labelled)
    n_labelled = sum(1 for i in items if (i.query_id, i.doc_id) in labelled)
    return Queue(strategy=strategy, items=ordered, n_candidates=len(items), n_labelled=n_labelled,
                 annotator=annotator or None, notes=_notes(ordered, strategy))


def run_queue(store: Store, run_id: int, strategy: str, annotator: str | None = None) -> Queue:
    """The queue over one run's judged documents."""
    query_id = int(store.run_info(run_id)["query_id"])
    judgments = store.run_judgments(run_id)
    # The benchmark's id of the query (as the batch queue shows it), not the store's row id.
    query = next((q for q in store.queries() if q["id"] == query_id), {})
    items = query_items(run_id, query_id, judgments, store.qrels_for(query_id), query.get("source_query_id"))
    return _queue(items, _labelled(store, query_id, annotator), strategy, annotator)


def batch_queue(store: Store, source: str, strategy: str, annotator: str | None = None,
                model: str | None = None) -> Queue:
    """The queue over a benchmark batch: every query of ``source`` with, per document, the latest
    judgment by ``model`` (needed when several models judged it), loaded as ``evaluate`` and the
    benchmark page load it (batch_eval.load_batch)."""
    from .batch_eval import BatchNotFound, load_batch

    try:
        batch = load_batch(store, source, model=model)
    except BatchNotFound as error:
        raise QueueUnavailable(str(error)) from None
    items: list[QueueItem] = []
    labelled: set[tuple[int, str]] = set()
    for query in batch.queries:
        if query.judgments:
            items += query_items(query.run_of, query.query_id, query.judgments, batch.qrels.get(query.key),
                                 query.key)
            labelled |= _labelled(store, query.query_id, annotator)
    return _queue(items, labelled, strategy, annotator)


@dataclass
class QueueWalk:
    """A person walking a queue in the app: the order fixed when they chose the strategy (so
    positions do not shift under them), and where they are in it. Entries are (run_id, query_id,
    doc_id): a benchmark batch's queue crosses runs and queries."""

    strategy: str
    entries: list[tuple[int, int, str]]
    scope: str  # what the queue covers, for messages: "run #3", "dataset sample"
    position: int = 0  # index of the current entry; len(entries) once past the end

    @classmethod
    def of(cls, queue: Queue, scope: str) -> QueueWalk:
        return cls(strategy=queue.strategy, scope=scope,
                   entries=[(i.run_id, i.query_id, i.doc_id) for i in queue.items])

    @property
    def run_ids(self) -> set[int]:
        return {run for run, _, _ in self.entries}

    @property
    def query_ids(self) -> set[int]:
        return {query for _, query, _ in self.entries}

    def current(self) -> tuple[int, int, str] | None:
        return self.entries[self.position] if self.position < len(self.entries) else None

    def advance(self, labelled: set[tuple[int, str]]) -> tuple[int, int, str] | None:
        """Move to the next entry not yet labelled ((query_id, doc_id) pairs; skipped entries
        stay skipped); the new current entry, or None at the end."""
        self.position += 1
        while self.position < len(self.entries) and self.entries[self.position][1:] in labelled:
            self.position += 1
        return self.current()

    def status(self, labelled: set[tuple[int, str]]) -> str:
        left = sum(1 for e in self.entries if e[1:] not in labelled)
        n = len(self.entries)
        where = f"{self.position + 1} of {n} in queue" if self.position < n else f"end of the queue ({n})"
        return f"{where} · {left} left"
