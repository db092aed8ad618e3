"""The qrels of every query of a benchmark, for ``--missing zero`` (trec_eval -c): the store keeps
the qrels of the queries it judged only, so a mean "over every qrels query" taken from the store
alone would quietly leave out the benchmark's other queries (3 of the sample's 40, say).

Only benchmarks this machine holds are read (the bundled sample); loading another one could reach
for the network in the middle of an evaluation, so for those the store's qrels stay what they are
and ``note`` says so."""
from __future__ import annotations

from collections.abc import Mapping


def dataset_qrels(dataset: str) -> dict[str, dict[str, int]] | None:
    """qid -> doc -> relevance for every query of ``dataset``; None when it is not held offline."""
    from .data import SAMPLE_NAME, load_sample

    if dataset != SAMPLE_NAME:
        return None
    return {qid: dict(docs) for qid, docs in load_sample().all_qrels().items() if docs}


def with_every_query(dataset: str, stored: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """The store's qrels, plus the benchmark's own for the queries the store does not hold."""
    every = dataset_qrels(dataset) or {}
    merged = {qid: dict(docs) for qid, docs in every.items()}
    merged.update({qid: dict(docs) for qid, docs in stored.items() if docs or qid not in merged})
    return merged


def note(dataset: str) -> str | None:
    """A line for the reader when the benchmark's other queries could not be counted."""
    if dataset_qrels(dataset) is not None:
        return None
    return (f"{dataset}: only the qrels of the queries the store holds are counted; pass --qrels FILE "
            "to count every query of the benchmark")
