"""The qrels of every query of a benchmark, for ``--missing zero`` (trec_eval -c): the store keeps
the qrels of the queries it judged only, so a mean "over every qrels query" taken from the store
alone would quietly leave out the benchmark's other queries (3 of the sample's 40, say).

Read only where this machine holds them: the bundled sample, and the ir_datasets-backed
benchmarks (TREC DL, BEIR, BRIGHT) whose qrels are already in ir_datasets' cache
(``data.irds.cached_qrels``, which never downloads: loading a benchmark could otherwise reach for
the network in the middle of an evaluation). For any other dataset the store's qrels stay what
they are and ``note`` says so.

``counted_qrels`` is the one rule ``evaluate --dataset`` and the Analyze page both apply."""
from __future__ import annotations

from collections.abc import Mapping


def dataset_qrels(dataset: str) -> dict[str, dict[str, int]] | None:
    """qid -> doc -> relevance for every query of ``dataset``; None when it is not held offline."""
    from .data import SAMPLE_NAME, load_sample
    from .data.irds import cached_qrels

    if dataset == SAMPLE_NAME:
        return {qid: dict(docs) for qid, docs in load_sample().all_qrels().items() if docs}
    held = cached_qrels(dataset)
    return None if held is None else {qid: docs for qid, docs in held.items() if docs}


def merged(every: Mapping[str, Mapping[str, int]] | None,
           stored: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """The store's qrels, plus the benchmark's own (``every``) for the queries the store does not hold."""
    out = {qid: dict(docs) for qid, docs in (every or {}).items()}
    out.update({qid: dict(docs) for qid, docs in stored.items() if docs or qid not in out})
    return out


def note_for(dataset: str) -> str:
    """The line for the reader when the benchmark's other queries could not be counted."""
    return (f"{dataset}: only the qrels of the queries the store holds are counted (the benchmark's own qrels "
            "are not on this machine); `evaluate --qrels FILE` counts every query of the benchmark")


def counted_qrels(dataset: str, stored: Mapping[str, Mapping[str, int]], missing: str,
                  every_query: bool = True) -> tuple[dict[str, dict[str, int]], str | None]:
    """(the qrels a mean is taken over, a note or None). With ``missing="zero"`` and
    ``every_query`` (the store's qrels, not a person's labels or a --qrels file), every query of
    the benchmark's own qrels where they are held, else the store's with a note saying so."""
    if missing != "zero" or not every_query:
        return {qid: dict(docs) for qid, docs in stored.items()}, None
    every = dataset_qrels(dataset)
    return merged(every, stored), None if every is not None else note_for(dataset)
