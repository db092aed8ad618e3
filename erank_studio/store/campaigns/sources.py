"""Where a campaign's items come from: one run (its judged documents) or a dataset's batch (every
query's latest judgment per document by one model, optionally only each query's top k by the
model's ranking). Creating a campaign (setup) and searching before creating one (records) read
the same candidates from here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ... import queue
from .errors import CampaignError

if TYPE_CHECKING:
    from .. import Store


@dataclass(frozen=True)
class Source:
    items: list[queue.QueueItem]
    instruction: str | None  # the runs' instruction (the default guidelines quote it)
    origin: str  # what a campaign made from it says it holds


def run_items(store: Store, run_id: int) -> Source:
    try:
        info = store.run_info(run_id)
    except ValueError as error:
        raise CampaignError(str(error)) from None
    query_id = int(info["query_id"])
    items = queue.query_items(run_id, query_id, store.run_judgments(run_id), store.qrels_for(query_id))
    return Source(items, info["instruction"], f"run {run_id} ({info['model']})")


def batch_items(store: Store, dataset: str, model: str | None, top_k: int | None) -> Source:
    from ...batch_eval import BatchNotFound, load_batch

    try:
        batch = load_batch(store, dataset, model=model)
    except BatchNotFound as error:
        raise CampaignError(str(error)) from None
    items: list[queue.QueueItem] = []
    for q in batch.queries:
        if q.judgments:
            items += queue.query_items(q.run_of, q.query_id, q.judgments, batch.qrels.get(q.key), q.key)
    if top_k is not None:
        items = [i for i in items if i.model_rank is not None and i.model_rank <= top_k]
    run_ids = sorted({i.run_id for i in items})
    instruction = store.run_info(run_ids[0])["instruction"] if run_ids else None
    origin = f"dataset {dataset} ({batch.model}" + (f", top {top_k})" if top_k else ")")
    return Source(items, instruction, origin)
