"""Which one label an item gets when several annotators labelled it (exports' ``--resolve``).

The rules, over the annotators' current labels of one (query, document) (adjudications are not
annotators' labels):

- ``adjudicated``: the latest adjudication's score; an item nobody adjudicated takes ``mean``.
- ``mean``: the mean of the annotators' scores rounded half up (3.5 -> 4, 3.25 -> 3), computed
  in integers, so no float rounding decides.
- ``majority``: the score most annotators gave; a tie between two or more scores has no
  majority, and the item is left out.
- ``annotator:NAME``: NAME's current label; items NAME did not label are left out.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

RULES = ("adjudicated", "mean", "majority", "annotator:NAME")
# The exports a rule applies to (one label per item); tables and the bundle keep every label.
RESOLVABLE = ("sft-messages", "alpaca", "sharegpt", "qrels", "run-rank", "run-hybrid")
RULE_HELP = ("adjudicated (the adjudicator's label, else the mean), mean (rounded half up), "
             "majority (ties left out) or annotator:NAME")


@dataclass(frozen=True)
class Rule:
    name: str  # adjudicated | mean | majority | annotator
    annotator: str | None = None

    def __str__(self) -> str:
        return f"annotator:{self.annotator}" if self.name == "annotator" else self.name


def parse_rule(text: str) -> Rule:
    """``"mean"`` -> Rule("mean"); ``"annotator:alice"`` -> Rule("annotator", "alice")."""
    value = (text or "").strip()
    if value in ("adjudicated", "mean", "majority"):
        return Rule(value)
    kind, sep, name = value.partition(":")
    if kind == "annotator" and sep and name.strip():
        return Rule("annotator", name.strip())
    raise ValueError(f"--resolve must be one of {', '.join(RULES)}, not {text!r}")


def mean_label(scores: list[int]) -> int:
    """The mean rounded half up: floor(sum / n + 1/2) = (2 * sum + n) // (2 * n)."""
    return (2 * sum(scores) + len(scores)) // (2 * len(scores))


def majority_label(scores: list[int]) -> int | None:
    """The most frequent score; None on a tie for the top."""
    counts = Counter(scores).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None
    return counts[0][0]


def resolve(rule: Rule, scores: Mapping[str, int], adjudicated: int | None = None) -> tuple[int, str] | None:
    """(score, where it came from: "adjudicated", "mean", "majority" or the annotator's name), or
    None when the rule gives the item no label."""
    if rule.name == "annotator":
        return (scores[rule.annotator], rule.annotator) if rule.annotator in scores else None
    if rule.name == "adjudicated" and adjudicated is not None:
        return adjudicated, "adjudicated"
    values = list(scores.values())
    if not values:
        return None
    if rule.name == "majority":
        value = majority_label(values)
        return None if value is None else (value, "majority")
    return mean_label(values), "mean"
