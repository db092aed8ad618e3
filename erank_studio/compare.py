"""Compare two runs of the same query: what another instruction, template, model, engine or
temperature does to the scores, the ranking and the reasoning.

Both runs must be of the same query and share documents. Ranks are taken among the shared
documents only (so both columns rank the same set); Kendall tau (tau-b) and Spearman come from
scipy over the shared documents judged ok in both runs, on their rank scores; nDCG@10 of each run
(metrics.ndcg_at_10, ir_measures) over the shared documents, against the query's qrels and
against people's labels graded by ``grading.grade``. Traces differ word by word (difflib)."""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import grading, metrics, scoring
from .types import Judgment
from .run_list import query_label

if TYPE_CHECKING:
    from .store import Store

RUN_FIELDS = ("id", "model", "engine", "instruction", "template", "status")
_WORDS = re.compile(r"\S+\s*|\s+")


class CompareError(ValueError):
    """Two runs that cannot be compared (other queries, nothing shared): one line."""


@dataclass
class CompareRow:
    doc_id: str
    a: Judgment
    b: Judgment
    rank_a: int | None  # among the shared documents; None for a failed judgment
    rank_b: int | None

    @property
    def rank_change(self) -> int | None:
        """How many places the document moved up from run A to run B (negative: down)."""
        if self.rank_a is None or self.rank_b is None:
            return None
        return self.rank_a - self.rank_b

    def to_dict(self) -> dict[str, Any]:
        def side(j: Judgment, rank: int | None) -> dict[str, Any]:
            return {"score": j.score, "probability": j.probability, "rank_score": j.rank_score, "rank": rank,
                    "status": j.status, "expected_score": j.expected_score, "score_entropy": j.score_entropy}

        return {"doc_id": self.doc_id, "a": side(self.a, self.rank_a), "b": side(self.b, self.rank_b),
                "rank_change": self.rank_change}


@dataclass
class Comparison:
    query_id: int
    query: str
    # The benchmark's id of the query ("biology-59"), or "#<store id>" for a typed query.
    query_label: str
    run_a: dict[str, Any]
    run_b: dict[str, Any]
    rows: list[CompareRow]  # in run A's order
    only_a: list[str]
    only_b: list[str]
    n_ok_both: int
    kendall_tau: float | None
    spearman: float | None
    # "qrels" / "labels" -> {"a": nDCG@10, "b": nDCG@10}; None when there is nothing to grade against
    ndcg: dict[str, dict[str, float] | None] = field(default_factory=dict)

    def row(self, doc_id: str) -> CompareRow | None:
        return next((r for r in self.rows if r.doc_id == doc_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {"query_id": self.query_id, "query_label": self.query_label, "query": self.query, "run_a": self.run_a, "run_b": self.run_b,
                "n_shared": len(self.rows), "n_ok_both": self.n_ok_both, "only_a": self.only_a,
                "only_b": self.only_b, "kendall_tau": self.kendall_tau, "spearman": self.spearman,
                "ndcg_at_10": self.ndcg, "documents": [r.to_dict() for r in self.rows]}


def _finite(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def correlations(scores_a: list[float], scores_b: list[float]) -> tuple[float | None, float | None]:
    """(Kendall tau-b, Spearman) of two score lists over the same documents (scipy); None where
    undefined (fewer than two documents, or a list that does not vary)."""
    from scipy.stats import kendalltau, spearmanr

    if len(scores_a) < 2 or len(set(scores_a)) < 2 or len(set(scores_b)) < 2:
        return None, None
    return _finite(kendalltau(scores_a, scores_b).statistic), _finite(spearmanr(scores_a, scores_b).statistic)


def _ranks(judgments: list[Judgment]) -> dict[str, int]:
    values = [j.rank_score if j.ok else None for j in judgments]
    return {judgments[i].doc_id: rank for rank, i in enumerate(scoring.order(values), start=1)
            if values[i] is not None}


def _ndcg(rows: list[CompareRow], relevance: dict[str, int]) -> dict[str, float] | None:
    if not relevance:
        return None
    out = {}
    for side in ("a", "b"):
        run = {"q": {r.doc_id: getattr(r, side).rank_score for r in rows
                     if getattr(r, side).ok and getattr(r, side).rank_score is not None}}
        mean, _ = metrics.ndcg_at_10(run, {"q": relevance})
        out[side] = None if math.isnan(mean) else mean
    return out


def compare_runs(store: Store, run_a: int, run_b: int, annotator: str | None = None) -> Comparison:
    """The comparison of two runs; ``annotator``: whose labels grade nDCG (None: the latest
    current label of anyone). Raises CompareError for runs that cannot be compared."""
    if run_a == run_b:
        raise CompareError(f"run {run_a} compared with itself: pick two different runs")
    infos = []
    for run_id in (run_a, run_b):
        try:
            infos.append(store.run_info(run_id))
        except ValueError:
            raise CompareError(f"no run with id {run_id}") from None
    info_a, info_b = infos
    if info_a["query_id"] != info_b["query_id"]:
        raise CompareError(f"runs {run_a} and {run_b} are of different queries ({info_a['query_id']} and "
                           f"{info_b['query_id']}): only runs of the same query can be compared")
    query_id = int(info_a["query_id"])
    judged_a, judged_b = store.run_judgments(run_a), store.run_judgments(run_b)
    by_b = {j.doc_id: j for j in judged_b}
    shared_a = [j for j in judged_a if j.doc_id in by_b]
    if not shared_a:
        raise CompareError(f"runs {run_a} and {run_b} share no judged document")
    shared_b = [by_b[j.doc_id] for j in shared_a]
    ranks_a, ranks_b = _ranks(shared_a), _ranks(shared_b)
    rows = [CompareRow(a.doc_id, a, b, ranks_a.get(a.doc_id), ranks_b.get(a.doc_id))
            for a, b in zip(shared_a, shared_b)]
    rows.sort(key=lambda r: (r.rank_a is None, r.rank_a or 0, r.doc_id))
    both = [r for r in rows if r.a.ok and r.b.ok and r.a.rank_score is not None and r.b.rank_score is not None]
    tau, rho = correlations([r.a.rank_score for r in both], [r.b.rank_score for r in both])
    labels = store.current_labels(query_id, annotator or None)
    graded = {d: grading.grade(row.score) for d, row in labels.items() if row.score is not None}
    shared_ids = {r.doc_id for r in rows}
    return Comparison(
        query_id=query_id, query=store.query_text(query_id), query_label=query_label(store, query_id),
        run_a={k: info_a.get(k) for k in RUN_FIELDS} | {"temperature": (info_a.get("generation") or {}).get("temperature")},
        run_b={k: info_b.get(k) for k in RUN_FIELDS} | {"temperature": (info_b.get("generation") or {}).get("temperature")},
        rows=rows, only_a=sorted({j.doc_id for j in judged_a} - shared_ids),
        only_b=sorted(set(by_b) - shared_ids), n_ok_both=len(both), kendall_tau=tau, spearman=rho,
        ndcg={"qrels": _ndcg(rows, store.qrels_for(query_id)), "labels": _ndcg(rows, graded)},
    )


def differing_settings(comparison: Comparison) -> list[str]:
    """The run settings that differ, e.g. ["instruction", "model"]."""
    return [k for k in (*RUN_FIELDS[1:-1], "temperature") if comparison.run_a.get(k) != comparison.run_b.get(k)]


def trace_diff(a: str | None, b: str | None) -> list[tuple[str, str, str]]:
    """Two texts as word-level pieces (tag, text in A, text in B); tag is difflib's "equal",
    "replace", "delete" (only in A) or "insert" (only in B)."""
    words_a, words_b = _WORDS.findall(a or ""), _WORDS.findall(b or "")
    matcher = difflib.SequenceMatcher(None, words_a, words_b, autojunk=False)
    return [(tag, "".join(words_a[i1:i2]), "".join(words_b[j1:j2]))
            for tag, i1, i2, j1, j2 in matcher.get_opcodes()]


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_lines(comparison: Comparison) -> list[str]:
    """The comparison's figures, one line each (CLI and UI)."""
    c = comparison
    changed = differing_settings(c)
    lines = [f"query {c.query_label}: run {c.run_a['id']} (A) vs run {c.run_b['id']} (B); differ in: "
             f"{', '.join(changed) if changed else 'nothing recorded (same settings)'}",
             f"shared documents: {len(c.rows)} ({c.n_ok_both} judged ok in both); only in A: {len(c.only_a)}, "
             f"only in B: {len(c.only_b)}",
             f"Kendall tau: {_cell(c.kendall_tau)}, Spearman: {_cell(c.spearman)} "
             f"(rank scores of the {c.n_ok_both} documents judged ok in both)"]
    for against in ("qrels", "labels"):
        values = c.ndcg.get(against)
        what = "qrels" if against == "qrels" else f"labels graded {grading.RULE}"
        lines.append(f"nDCG@10 vs {what}: " + ("none for this query" if values is None else
                                               f"A {_cell(values['a'], 4)}, B {_cell(values['b'], 4)}"))
    return lines


def format_table(comparison: Comparison) -> str:
    """A plain-text side-by-side table, in run A's order."""
    width = max([len("document")] + [len(r.doc_id) for r in comparison.rows])
    head = f"{'document':<{width}}  {'N_A':>3} {'N×P_A':>7} {'rank_A':>6}  {'N_B':>3} {'N×P_B':>7} {'rank_B':>6}  {'change':>6}"
    lines = [head]
    for r in comparison.rows:
        change = r.rank_change
        moved = "-" if change is None else ("0" if change == 0 else f"{change:+d}")
        lines.append(f"{r.doc_id:<{width}}  {_num(r.a.score):>3} {_cell(r.a.rank_score):>7} {_num(r.rank_a):>6}  "
                     f"{_num(r.b.score):>3} {_cell(r.b.rank_score):>7} {_num(r.rank_b):>6}  {moved:>6}")
    return "\n".join(lines)


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)
