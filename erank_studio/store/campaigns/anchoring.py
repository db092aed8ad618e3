"""How much showing the model's answer moves people: agreement with the model of blind labels and
of labels made with the model's answer in view, over a campaign's items.

A campaign is blind or not, so a team measures anchoring by labelling the same items in a blind
campaign and in one that shows the model; this report reads every campaign label (``blind`` set)
on the campaign's items (the same query and document row). Labels made outside campaigns are left
out: whether their person saw the model is unknown (imports, the Annotate page).

For each condition: the labels (each person's latest campaign label per item and condition) paired
with the model's score of that item (payload.model_judgment), quadratic-weighted kappa and Spearman
(agreement.kappa_spearman) and the mean |human - model|, with counts; then the same over the items
that have labels of both conditions only, which is the comparison that is fair."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ... import agreement
from .payload import model_judgment
from .lookup import find
from .tables import I, L

if TYPE_CHECKING:
    from .. import Store

CONDITIONS = {"blind": True, "in_view": False}


def _summary(pairs: list[tuple[int, int]], items: set[Any]) -> dict[str, Any]:
    human = [h for h, _ in pairs]
    model = [m for _, m in pairs]
    stats = agreement.kappa_spearman(human, model)
    mad = sum(abs(h - m) for h, m in pairs) / len(pairs) if pairs else None
    return {"labels": len(pairs), "items": len(items), "kappa_quadratic": stats["kappa_quadratic"],
            "spearman": stats["spearman"], "mean_abs_diff": mad}


def report(store: Store, name: str) -> dict[str, Any]:
    """{"campaign", "all": {condition: summary}, "same_items": {condition: summary}} (module doc)."""
    with store.read() as conn:
        campaign = find(conn, name)
        items = conn.execute(select(I).where(I.c.campaign_id == campaign.id)).all()
        model = {}
        for item in items:
            judged = model_judgment(conn, item)
            if judged is not None and judged["score"] is not None:
                model[(item.query_id, item.document_id)] = judged["score"]
        rows = conn.execute(select(L.c.query_id, L.c.document_id, L.c.annotator_id, L.c.score, L.c.blind)
                            .where(L.c.blind.is_not(None), L.c.score.is_not(None),
                                   L.c.query_id.in_({i.query_id for i in items}))
                            .order_by(L.c.id)).all()
    latest: dict[tuple[Any, ...], int] = {}
    for r in rows:  # ordered by id: each person's latest label per item and condition wins
        key = (r.query_id, r.document_id)
        if key in model:
            latest[(bool(r.blind), key, r.annotator_id)] = r.score
    labelled = {cond: {key for (blind, key, _) in latest if blind is flag} for cond, flag in CONDITIONS.items()}
    both = labelled["blind"] & labelled["in_view"]

    def pairs(flag: bool, keep: set[Any]) -> list[tuple[int, int]]:
        return [(score, model[key]) for (blind, key, _), score in latest.items() if blind is flag and key in keep]

    return {"campaign": campaign.name,
            "all": {c: _summary(pairs(f, labelled[c]), labelled[c]) for c, f in CONDITIONS.items()},
            "same_items": {c: _summary(pairs(f, both), both) for c, f in CONDITIONS.items()}}


HEADERS = ["items compared", "labels made", "labels", "items", "kappa (quadratic)", "Spearman", "mean |human-model|"]


def rows(result: dict[str, Any]) -> list[list[str]]:
    """The report as rows (HEADERS), for the CLI's table and the app's."""
    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    out = []
    for scope, title in (("all", "all"), ("same_items", "same items")):
        for cond, words in (("blind", "blind"), ("in_view", "model in view")):
            s = result[scope][cond]
            out.append([title, words, str(s["labels"]), str(s["items"]), cell(s["kappa_quadratic"]),
                        cell(s["spearman"]), cell(s["mean_abs_diff"])])
    return out


def format_report(result: dict[str, Any]) -> str:
    table = [HEADERS, *rows(result)]
    widths = [max(len(r[n]) for r in table) for n in range(len(table[0]))]
    return "\n".join("  ".join(v.ljust(w) if n < 2 else v.rjust(w) for n, (v, w) in enumerate(zip(r, widths)))
                     for r in table)
