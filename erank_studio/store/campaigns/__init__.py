"""Labelling campaigns: a named set of items (a query and one document's text) that ``overlap``
people each label, under versioned guidelines, blind (the model's judgment withheld until the
person's label) or not. One module a job:

- ``lookup``: a campaign found by name (the one reading every module shares);
- ``setup``: create a campaign from a run or a dataset's batch (``sources``), optionally only what
  a records filter finds, items in a strategy's order;
- ``records``: search and filter over a campaign's items, a run's or a batch's documents;
- ``guidelines``: the default rubric (the paper's instruction and score definitions) and versions;
- ``work``: hand the next item to a person under a lease, take their label, skip, keep the
  revealed trace;
- ``payload``: what a person may be sent about an item (nothing of the model's before their label
  in a blind campaign);
- ``progress``: done / leased / left, labels per hour and median seconds, per person and overall;
- ``anchoring``: agreement with the model for blind labels and for labels made in view of it.

Everything goes through ``Store.write()`` / ``Store.read()`` and the tables of store/schema.py,
so it runs the same on SQLite and PostgreSQL. Never imports gradio."""
from __future__ import annotations

from .errors import CampaignError

__all__ = ["CampaignError", "sft_may_use_trace"]


def sft_may_use_trace(blind: bool | None, trace_kept: bool | None) -> bool:
    """Whether the SFT export may fill a label's missing rationale with the model's trace: always
    for labels made in view of the model (and outside campaigns, where ``blind`` is NULL); for a
    blind label only when its person kept the trace after the reveal (``work.keep_trace``)."""
    return not blind or bool(trace_kept)
