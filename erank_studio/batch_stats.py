"""The figures of a benchmark batch that a researcher would otherwise compute by hand from the run
files: nDCG@10 per query (``metrics.evaluate_runs``, as ``evaluate``), failure rates by class,
model scores by relevance grade, and calibration of P(N) and E[N] against the share of relevant
documents. Pure functions of a ``batch_eval.Batch``; the Analyze view draws them.

"Relevant" is relevance >= 1, the grade nDCG starts to count. With benchmark qrels a document the
qrels do not name counts as not relevant (TREC's convention, as in nDCG); against human labels only
labelled documents count, since an unlabelled one was never judged by a person."""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import metrics, parse
from .batch import RUN_KINDS
from .batch_eval import Batch
from .benchmark_qrels import counted_qrels
from .types import STATUS_FAILED, STATUS_FORCED, STATUS_OK, Judgment

OUTCOMES = (STATUS_OK, STATUS_FORCED, *parse.FAILURE_MESSAGES)
UNCLASSIFIED = "failed (no class)"
NOT_IN_QRELS = "not in qrels"
SCORES = 11  # the answer 0..10
CALIBRATION_BINS = 10
# what a calibration point is computed from: the judgment's value scaled to 0..1
SIGNALS = {
    "P(N)": lambda j: j.probability,
    "E[N] / 10": lambda j: None if j.expected_score is None else j.expected_score / 10.0,
}


def evaluate(batch: Batch, missing: str = "skip", runs: Mapping[str, Any] | None = None,
             qrels_from_file: bool = False) -> dict[str, Any]:
    """nDCG@10 and Judged@10 of the batch's first stage, model and hybrid (``runs``: the same runs
    under other names): what ``evaluate --dataset`` and the Analyze page both report. With
    ``missing="zero"`` the mean is over every query of the benchmark's own qrels where this machine
    holds them (benchmark_qrels.counted_qrels), else over the store's, and ``qrels_note`` says so;
    ``qrels_from_file``: the batch's qrels came from ``--qrels FILE``, already the whole benchmark."""
    qrels, note = counted_qrels(batch.dataset, batch.qrels, missing,
                                every_query=batch.against == "qrels" and not qrels_from_file)
    result = metrics.evaluate_runs(batch.runs if runs is None else runs, qrels, missing)
    if note:
        result["qrels_note"] = note
    return result


def _judgments(batch: Batch) -> list[tuple[str, Judgment]]:
    return [(q.key, j) for q in batch.queries for j in q.judgments]


def per_query_rows(batch: Batch, result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row a query of the batch, in the batch's order: its judged and failed counts, nDCG@10 of
    each system (None where the mean leaves the query out, or everywhere when ``result`` is None:
    no qrels) and the run to open."""
    rows = []
    for q in batch.queries:
        ndcg = {name: result["systems"][name]["per_query"].get(q.key) if result else None for name in RUN_KINDS}
        gain = None if ndcg["model"] is None or ndcg["first_stage"] is None else ndcg["model"] - ndcg["first_stage"]
        rows.append({
            "query": q.key, "text": q.text, "judged": len(q.judgments),
            "failed": sum(1 for j in q.judgments if j.status == STATUS_FAILED),
            **ndcg, "model_gain": gain, "run_id": q.run_id,
        })
    return rows


def outcome(judgment: Judgment) -> str:
    """ok, forced, or the failure class (parse.py's)."""
    if judgment.status != STATUS_FAILED:
        return judgment.status
    return judgment.failure or UNCLASSIFIED


def failure_rates(batch: Batch) -> list[tuple[str, int, float]]:
    """(outcome, count, share of the batch's judgments) for every known outcome (zeros included, so a
    class that never happened is seen not to), then any other the store holds."""
    counts = Counter(outcome(j) for _, j in _judgments(batch))
    total = sum(counts.values())
    names = [*OUTCOMES, *sorted(set(counts) - set(OUTCOMES))]
    return [(name, counts[name], counts[name] / total if total else 0.0) for name in names]


def _grades(batch: Batch) -> list[tuple[Judgment, int | None]]:
    """Each judgment with its document's relevance grade (None: not in the qrels / not labelled)."""
    return [(j, batch.qrels.get(key, {}).get(j.doc_id)) for key, j in _judgments(batch)]


def score_counts_by_grade(batch: Batch) -> dict[str, list[int]]:
    """grade -> how many judged documents of that grade got each answer 0..10 (index = answer).
    Grades in ascending order, then the documents no qrel or label grades."""
    scored: dict[int | None, list[int]] = {}
    for j, grade in _grades(batch):
        if j.score is not None:
            scored.setdefault(grade, []).append(j.score)
    out = {str(g): np.bincount(scored[g], minlength=SCORES).tolist() for g in sorted(g for g in scored if g is not None)}
    if None in scored:
        out[NOT_IN_QRELS if batch.against == "qrels" else "not labelled"] = np.bincount(scored[None], minlength=SCORES).tolist()
    return out


@dataclass
class CalibrationBin:
    low: float
    high: float
    documents: int
    relevant: int

    @property
    def share(self) -> float:
        return self.relevant / self.documents


def calibration(batch: Batch, signal: str, bins: int = CALIBRATION_BINS) -> list[CalibrationBin]:
    """The scored judgments binned by ``signal`` (a key of SIGNALS, 0..1) into equal-width bins: per
    non-empty bin, how many documents and how many relevant. Empty when the signal is never stored
    (E[N] of judgments made before distributions were kept)."""
    value_of = SIGNALS[signal]
    values, relevant = [], []
    for j, grade in _grades(batch):
        value = value_of(j) if j.score is not None else None
        if value is None or (grade is None and batch.against == "labels"):
            continue
        values.append(min(max(float(value), 0.0), 1.0))
        relevant.append(1.0 if grade is not None and grade >= 1 else 0.0)
    if not values:
        return []
    # Bin i holds [i/bins, (i+1)/bins), the last one 1.0 too. Computed from value * bins, not with
    # np.histogram: its linspace edges sit a rounding error off, and a P(N) of exactly 0.6 fell
    # into the bin below.
    at = np.minimum(np.floor(np.asarray(values) * bins).astype(int), bins - 1)
    documents = np.bincount(at, minlength=bins)
    hits = np.bincount(at, weights=relevant, minlength=bins)
    return [CalibrationBin(i / bins, (i + 1) / bins, int(documents[i]), int(round(hits[i])))
            for i in range(bins) if documents[i]]
