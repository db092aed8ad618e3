"""Creating a campaign (finding one by name: lookup.py).

Items come from one run (its judged documents) or from a dataset's batch (every query's latest
judgment per document by one model, optionally only each query's top k by the model's ranking),
sources.py; with a filter, only the documents that the records search (records.py) finds with it.
They are put in the order of a label-next strategy (queue.py: entropy, first_stage, qrels, rank)
once, at creation, so every person's ``next`` walks the same fixed order and the order does not
shift as labels arrive. Each item points at the document row the model judged, so a label stays
bound to the text that was read."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from ... import queue
from ...errors import ValidationError
from .. import validation
from . import guidelines, sources
from .lookup import Campaign, find
from .errors import CampaignError
from .records import RecordFilter, matching_pairs
from .tables import C, I, J, utcnow

if TYPE_CHECKING:
    from .. import Store

DEFAULT_LEASE_S = 600  # ten minutes: long enough to read a long document, short enough that a closed tab frees it
DEFAULT_STRATEGY = queue.STRATEGY_RANK
MAX_GUIDELINES_CHARS = 100_000


def _checked(name: str, overlap: Any, lease_s: Any, strategy: str, text: str | None) -> str:
    try:
        name = validation.annotator(name, "campaign name")
        validation.positive_int(overlap, "overlap")
        validation.positive_int(lease_s, "lease time (seconds)")
        if text is not None:
            validation.storable(text, "guidelines")
    except ValidationError as error:
        raise CampaignError(str(error)) from None
    if strategy not in queue.STRATEGIES:
        raise CampaignError(f"unknown strategy {strategy!r}; choose one of {', '.join(queue.STRATEGIES)}")
    if text is not None and not text.strip():
        raise CampaignError("the guidelines are empty")
    if text is not None and len(text) > MAX_GUIDELINES_CHARS:
        raise CampaignError(f"the guidelines are longer than {MAX_GUIDELINES_CHARS} characters")
    return name


def _document_rows(conn: Connection, run_ids: set[int]) -> dict[tuple[int, str], int]:
    """(run, doc_id) -> the document row its latest judgment in that run read."""
    rows = conn.execute(select(J.c.run_id, J.c.doc_id, J.c.document_id).where(J.c.run_id.in_(run_ids))
                        .order_by(J.c.id)).all()
    return {(r.run_id, r.doc_id): r.document_id for r in rows}  # ordered by id: the latest wins


def create(store: Store, name: str, *, run_id: int | None = None, dataset: str | None = None,
           model: str | None = None, top_k: int | None = None, overlap: int = 1, blind: bool = False,
           guidelines_text: str | None = None, strategy: str = DEFAULT_STRATEGY,
           lease_s: int = DEFAULT_LEASE_S, record_filter: RecordFilter | None = None) -> Campaign:
    """A new campaign over a run's documents or a dataset's batch (``top_k`` per query by the
    model's ranking), its guidelines version 1 (``guidelines_text`` or the default rubric).
    ``record_filter``: only the documents the records search finds with it (all of them, its
    limit aside); a filter that finds none is refused."""
    name = _checked(name, overlap, lease_s, strategy, guidelines_text)
    if (run_id is None) == (dataset is None):
        raise CampaignError("a campaign is built from one run or one dataset: give exactly one of them")
    if dataset is None and (model is not None or top_k is not None):
        raise CampaignError("a model and a top k go with a dataset (a run has one model and its own documents)")
    if top_k is not None:
        try:
            validation.positive_int(top_k, "top k")
        except ValidationError as error:
            raise CampaignError(str(error)) from None
    source = (sources.run_items(store, run_id) if run_id is not None
              else sources.batch_items(store, dataset, model, top_k))
    items, origin = source.items, source.origin
    if record_filter is not None and record_filter.active:
        keep = matching_pairs(store, record_filter, source, run_id)
        items = [i for i in items if (i.query_id, i.doc_id) in keep]
        if not items:
            raise CampaignError(f"no document of {origin} matches the filter ({record_filter.describe()}): "
                                "no campaign was created")
        origin = f"{origin}, filtered: {record_filter.describe(withhold_model=bool(blind))}"
    try:
        ordered = queue.order(items, strategy)
    except queue.QueueUnavailable as error:
        raise CampaignError(str(error)) from None
    if not ordered:
        raise CampaignError(f"{origin} has no judged documents to label")
    with store.write() as conn:
        if conn.execute(select(C.c.id).where(C.c.name == name)).first() is not None:
            raise CampaignError(f"a campaign named {name!r} exists already; choose another name")
        campaign_id = int(conn.execute(C.insert().values(
            name=name, overlap=overlap, blind=bool(blind), strategy=strategy, lease_s=lease_s, origin=origin,
            created_at=utcnow())).inserted_primary_key[0])
        guidelines.add_version(conn, campaign_id, guidelines_text or guidelines.default_rubric(source.instruction))
        rows = _document_rows(conn, {i.run_id for i in ordered})
        conn.execute(I.insert(), [
            {"campaign_id": campaign_id, "position": n, "query_id": i.query_id, "doc_id": i.doc_id,
             "document_id": rows[(i.run_id, i.doc_id)], "run_id": i.run_id}
            for n, i in enumerate(ordered)])
        return find(conn, name)


def edit_guidelines(store: Store, name: str, text: str) -> int:
    """Store new guidelines for the campaign; returns the new version (labels made from now on
    record it; earlier labels keep the version they were made under)."""
    if not isinstance(text, str) or not text.strip():
        raise CampaignError("the guidelines are empty")
    _checked(name, 1, 1, DEFAULT_STRATEGY, text)
    with store.write() as conn:
        return guidelines.add_version(conn, find(conn, name).id, text)
