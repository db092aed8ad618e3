"""The records search's filter as the app's boxes and the API's arguments give it: one builder of
``store.campaigns.records.RecordFilter`` for the Label tab's Find panel, its campaign form, the
Rerank table's filter and ``/campaign_create``.

The 0..10 bounds are dropdowns with an "any" choice: an empty ``gr.Number`` reaches the server as
0, which as "model score at most" would keep only the documents the model scored 0."""
from __future__ import annotations

from typing import Any

import gradio as gr

from ..store.campaigns import CampaignError, records

ANY = ""
SCORE_CHOICES = [("any", ANY), *[(str(n), str(n)) for n in range(11)]]


def score_box(label: str, elem_id: str | None = None, scale: int = 1) -> gr.Dropdown:
    """A 0..10 bound of the filter ("any": no bound)."""
    return gr.Dropdown(SCORE_CHOICES, value=ANY, label=label, elem_id=elem_id, scale=scale, min_width=90)


def _whole(value: Any, name: str) -> int | None:
    """A box's value as a whole number (None when empty)."""
    if value is None or value == ANY:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CampaignError(f"{name} must be a whole number from 0 to 10, got {value!r}") from None
    if not number.is_integer():
        raise CampaignError(f"{name} must be a whole number from 0 to 10, got {value!r}")
    return int(number)


def record_filter(text: str | None, model_min: Any, model_max: Any, disagreement: Any, status: str | None,
                  labelled_by: str | None, person: str, limit: int = records.DEFAULT_LIMIT) -> records.RecordFilter:
    """The records search's filter from the values of the app's boxes or the API's arguments
    (labelled_by "nobody" is "no one", as on the command line)."""
    return records.RecordFilter(
        text=text or "", model_min=_whole(model_min, "model score from"), model_max=_whole(model_max, "model score to"),
        disagreement=_whole(disagreement, "disagreement"), status=status or "",
        labelled_by="no one" if labelled_by == "nobody" else labelled_by or "", person=person or "", limit=limit)
