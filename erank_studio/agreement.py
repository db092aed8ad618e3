"""Inter-annotator agreement on the 0..10 scale, through maintained libraries only:
scikit-learn's ``cohen_kappa_score(weights="quadratic")``, scipy's ``spearmanr`` and the
``krippendorff`` package's ``alpha`` (interval and ordinal).

Input: ``ratings[annotator][item] = score`` (an item is any hashable key; an annotator who did not
rate an item simply lacks it) and optionally ``model[item] = score``. Missing ratings:

- a pair of annotators (and an annotator against the model) is compared over the items both
  rated; ``n`` is that number;
- Krippendorff's alpha takes every annotator's row with NaN where they did not rate; ``n`` is the
  number of items two or more annotators rated (the only ones alpha can use).

A coefficient that is undefined on the data (fewer than two shared items, a rater who gave one
score to everything) is None, never NaN or a guess."""
from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping
from itertools import combinations
from typing import Any

import numpy as np

SCALE = list(range(11))
KRIPPENDORFF_LEVELS = ("interval", "ordinal")

Ratings = Mapping[str, Mapping[Hashable, int]]


def _number(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def kappa_spearman(x: list[int], y: list[int]) -> dict[str, Any]:
    """Quadratic-weighted Cohen's kappa over the 0..10 scale and Spearman's rho of two aligned
    score lists, with ``n``."""
    from scipy.stats import spearmanr
    from sklearn.metrics import cohen_kappa_score

    n = len(x)
    kappa = rho = None
    with warnings.catch_warnings():
        # Both libraries warn (and return NaN) where the coefficient is undefined: None says it.
        warnings.simplefilter("ignore")
        if n >= 2:
            kappa = _number(cohen_kappa_score(x, y, labels=SCALE, weights="quadratic"))
            if len(set(x)) > 1 and len(set(y)) > 1:
                rho = _number(spearmanr(x, y).statistic)
    return {"n": n, "kappa_quadratic": kappa, "spearman": rho}


def _shared(a: Mapping[Hashable, int], b: Mapping[Hashable, int]) -> tuple[list[int], list[int]]:
    keys = [k for k in a if k in b]
    return [a[k] for k in keys], [b[k] for k in keys]


def krippendorff_alpha(ratings: Ratings, level: str) -> dict[str, Any]:
    """Krippendorff's alpha over all annotators (rows) and items (columns, NaN where missing)."""
    import krippendorff

    items = sorted({k for scores in ratings.values() for k in scores}, key=repr)
    rated = [sum(1 for scores in ratings.values() if k in scores) for k in items]
    n = sum(1 for c in rated if c >= 2)
    value = None
    if n and len(ratings) >= 2:
        data = np.array([[scores.get(k, np.nan) for k in items] for scores in ratings.values()], dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                value = _number(krippendorff.alpha(reliability_data=data, value_domain=SCALE,
                                                   level_of_measurement=level))
            except (ValueError, ZeroDivisionError):  # one value only: no expected disagreement
                value = None
    return {"level": level, "alpha": value, "n": n}


def report(ratings: Ratings, model: Mapping[Hashable, int] | None = None) -> dict[str, Any]:
    """Every coefficient: {"annotators", "items", "pairs": [{a, b, n, kappa_quadratic,
    spearman}], "krippendorff": {level: {alpha, n}}, "model": [{annotator, n, kappa_quadratic,
    spearman}]}."""
    names = sorted(ratings)
    pairs = [{"a": a, "b": b, **kappa_spearman(*_shared(ratings[a], ratings[b]))}
             for a, b in combinations(names, 2)]
    vs_model = []
    if model is not None:
        vs_model = [{"annotator": a, **kappa_spearman(*_shared(ratings[a], model))} for a in names]
    items = {k for scores in ratings.values() for k in scores}
    return {
        "annotators": names,
        "items": len(items),
        "pairs": pairs,
        "krippendorff": {level: krippendorff_alpha({a: ratings[a] for a in names}, level)
                         for level in KRIPPENDORFF_LEVELS},
        "model": vs_model,
    }


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table_rows(result: Mapping[str, Any]) -> list[list[str]]:
    """The report as rows [comparison, coefficient, value, n] (for the CLI table and the app)."""
    rows = []
    for p in result["pairs"]:
        rows.append([f"{p['a']} vs {p['b']}", "Cohen's kappa (quadratic)", _cell(p["kappa_quadratic"]), str(p["n"])])
        rows.append([f"{p['a']} vs {p['b']}", "Spearman", _cell(p["spearman"]), str(p["n"])])
    for level, k in result["krippendorff"].items():
        rows.append(["all annotators", f"Krippendorff's alpha ({level})", _cell(k["alpha"]), str(k["n"])])
    for m in result["model"]:
        rows.append([f"{m['annotator']} vs model", "Cohen's kappa (quadratic)", _cell(m["kappa_quadratic"]), str(m["n"])])
        rows.append([f"{m['annotator']} vs model", "Spearman", _cell(m["spearman"]), str(m["n"])])
    return rows


TABLE_HEADERS = ["comparison", "coefficient", "value", "items"]


def format_table(result: Mapping[str, Any]) -> str:
    rows = [TABLE_HEADERS] + table_rows(result)
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEADERS))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
