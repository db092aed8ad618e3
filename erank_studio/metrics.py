"""Metrics: nDCG@10 through ir_measures, and model-vs-human agreement (quadratic weighted
Cohen's kappa over the 0..10 scale through scikit-learn, Spearman through scipy).

Runs and qrels are plain dicts: ``run[qid][docid] = score`` and ``qrels[qid][docid] = relevance``.
Two conventions for the mean (``MISSING``): "skip", trec_eval's default, averages over the queries
both the run ranks and the qrels judge (a query whose judgments all failed drops out); "zero",
trec_eval -c, averages over every query of the qrels, a query the run lacks counting 0."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import scoring

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]
MEASURE = "nDCG@10"  # ir_measures' name of the measure (imported when first computed, not at start-up)
JUDGED = "Judged@10"  # reported beside it: how much of the top 10 the qrels judge
SCALE = list(range(11))
MISSING = ("skip", "zero")


def _plain_run(run: Run) -> dict[str, dict[str, float]]:
    return {str(q): {str(d): float(s) for d, s in docs.items()} for q, docs in run.items() if docs}


def _plain_qrels(qrels: Qrels) -> dict[str, dict[str, int]]:
    return {str(q): {str(d): int(r) for d, r in docs.items()} for q, docs in qrels.items() if docs}


def ndcg_at_10(run: Run, qrels: Qrels, missing: str = "skip") -> tuple[float, dict[str, float]]:
    """(mean nDCG@10, {qid: nDCG@10}) over the queries both the run and the qrels have, or with
    ``missing="zero"`` over every qrels query (0 where the run has none); the mean is NaN when
    there are none."""
    return measure_at(MEASURE, run, qrels, missing)


def judged_at_10(run: Run, qrels: Qrels, missing: str = "skip") -> tuple[float, dict[str, float]]:
    """(mean Judged@10, {qid: value}): the share of each query's top 10 that the qrels judge
    (ir_measures' ``Judged@10``), over the same queries as ``ndcg_at_10``. Low values say the
    nDCG rests on unjudged documents counted as not relevant."""
    return measure_at(JUDGED, run, qrels, missing)


def measure_at(name: str, run: Run, qrels: Qrels, missing: str = "skip") -> tuple[float, dict[str, float]]:
    """One ir_measures measure by name, per query and mean, under the ``missing`` convention."""
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {', '.join(MISSING)}, not {missing!r}")
    plain_run, plain_qrels = _plain_run(run), _plain_qrels(qrels)
    common = set(plain_run) & set(plain_qrels)
    per_query: dict[str, float] = {}
    if common:
        import ir_measures

        measure = ir_measures.parse_measure(name)
        per_query = {
            m.query_id: float(m.value)
            for m in ir_measures.iter_calc([measure], {q: plain_qrels[q] for q in common}, {q: plain_run[q] for q in common})
        }
    if missing == "zero":
        per_query.update({q: 0.0 for q in plain_qrels if q not in per_query})
    mean = float(np.mean(list(per_query.values()))) if per_query else math.nan
    return mean, dict(sorted(per_query.items()))


def hybrid_run(first_stage: Run, model: Run, alpha: float = scoring.DEFAULT_ALPHA) -> dict[str, dict[str, float]]:
    """The hybrid run: per query, alpha * z(first stage) + (1 - alpha) * z(model) over the
    documents both runs score (scoring.hybrid, population z-scores)."""
    out: dict[str, dict[str, float]] = {}
    for qid, scores in model.items():
        first = first_stage.get(qid, {})
        docs = [d for d in scores if d in first]
        values = scoring.hybrid([first[d] for d in docs], [scores[d] for d in docs], alpha)
        out[qid] = {d: v for d, v in zip(docs, values) if v is not None}
    return out


def evaluate_runs(runs: Mapping[str, Run], qrels: Qrels, missing: str = "skip") -> dict[str, Any]:
    """nDCG@10 of several named runs: {"measure", "missing", "qrels_queries", "systems": {name:
    {"mean", "n_queries" (averaged over), "per_query", "judged_at_10", "judged_per_query"}},
    "queries": sorted qids}."""
    systems = {}
    qids: set[str] = set()
    for name, run in runs.items():
        mean, per_query = ndcg_at_10(run, qrels, missing)
        judged, judged_per_query = judged_at_10(run, qrels, missing)
        systems[name] = {"mean": mean, "n_queries": len(per_query), "per_query": per_query,
                         "judged_at_10": judged, "judged_per_query": judged_per_query}
        qids |= set(per_query)
    return {"measure": MEASURE, "missing": missing, "qrels_queries": len(_plain_qrels(qrels)),
            "systems": systems, "queries": sorted(qids)}


def convention_note(result: Mapping[str, Any]) -> str:
    """One line saying which queries each mean is over (printed under every nDCG table)."""
    total = result["qrels_queries"]
    if result.get("missing") == "zero":
        return (f"means over all {total} qrels queries; a query a run lacks counts 0 "
                "(--missing zero, trec_eval -c)")
    counts = ", ".join(f"{name} {s['n_queries']}" for name, s in result["systems"].items())
    return (f"means over the queries both in the run and the qrels ({counts} of {total} qrels "
            "queries; trec_eval's default; --missing zero counts the others as 0)")


def format_table(result: Mapping[str, Any], per_query: bool = True) -> str:
    """A plain-text table: one column a system, one row a query, the mean last."""
    names = list(result["systems"])
    width = max([len("query"), len(JUDGED)] + ([len(q) for q in result["queries"]] if per_query else []))
    cols = [max(len(n), 7) for n in names]
    lines = [f"{'query':<{width}}  " + "  ".join(f"{n:>{c}}" for n, c in zip(names, cols))]

    def cell(value: float | None, c: int) -> str:
        return f"{'-':>{c}}" if value is None or math.isnan(value) else f"{value:>{c}.4f}"

    if per_query:
        for qid in result["queries"]:
            row = [result["systems"][n]["per_query"].get(qid) for n in names]
            lines.append(f"{qid:<{width}}  " + "  ".join(cell(v, c) for v, c in zip(row, cols)))
    means = [result["systems"][n]["mean"] for n in names]
    lines.append(f"{'mean':<{width}}  " + "  ".join(cell(v, c) for v, c in zip(means, cols)))
    judged = [result["systems"][n].get("judged_at_10") for n in names]
    lines.append(f"{JUDGED:<{width}}  " + "  ".join(cell(v, c) for v, c in zip(judged, cols)))
    counts = [result["systems"][n]["n_queries"] for n in names]
    lines.append(f"{'queries':<{width}}  " + "  ".join(f"{v:>{c}}" for v, c in zip(counts, cols)))
    return "\n".join(lines)


def _check_scores(values: Sequence[int], what: str) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not float(v).is_integer() or not 0 <= int(v) <= 10:
            raise ValueError(f"{what} scores must be integers from 0 to 10, got {v!r}")
        out.append(int(v))
    return out


def agreement(model_scores: Sequence[int], human_scores: Sequence[int]) -> dict[str, Any]:
    """How far the model's 0..10 scores agree with a person's on the same documents.

    kappa_quadratic: Cohen's kappa with quadratic weights over the fixed 0..10 scale and
    spearman: rank correlation, both from ``agreement.kappa_spearman`` (scikit-learn, scipy;
    None when undefined: fewer than two pairs, or a rater constant); confusion: 11 x 11 counts,
    rows the model's score, columns the human's."""
    from .agreement import kappa_spearman

    if len(model_scores) != len(human_scores):
        raise ValueError("model and human score lists differ in length")
    model = _check_scores(model_scores, "model")
    human = _check_scores(human_scores, "human")
    n = len(model)
    confusion = np.zeros((11, 11), dtype=int)
    for m, h in zip(model, human):
        confusion[m, h] += 1
    coefficients = kappa_spearman(model, human)
    return {
        "kappa_quadratic": coefficients["kappa_quadratic"],
        "spearman": coefficients["spearman"],
        "n": n,
        "exact": (sum(int(m == h) for m, h in zip(model, human)) / n) if n else None,
        "confusion": confusion.tolist(),
    }
