"""The one rule that turns a person's 0..10 label into graded relevance (qrels, nDCG gains).

0-2 -> 0 (not relevant), 3-5 -> 1, 6-8 -> 2, 9-10 -> 3: TREC-style grades, so an nDCG computed
against human labels means what an nDCG against a benchmark's qrels means. Every entry point
(qrels export, the Analyze tab, ``evaluate --against labels``) uses this function."""
from __future__ import annotations

RULE = "0-2 -> 0, 3-5 -> 1, 6-8 -> 2, 9-10 -> 3"


def grade(score: int) -> int:
    """The graded relevance (0..3) of a 0..10 label."""
    if isinstance(score, bool) or not isinstance(score, int):
        raise TypeError(f"a label is an integer 0..10, not {score!r}")
    if not 0 <= score <= 10:
        raise ValueError(f"a label is an integer 0..10, not {score}")
    if score <= 2:
        return 0
    if score <= 5:
        return 1
    if score <= 8:
        return 2
    return 3
