"""The one interface every benchmark and user file sits behind: queries, candidates with
first-stage scores, qrels."""
from __future__ import annotations

from ..errors import FileFormatError

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..prompt import instruction_for
from ..retrieval import SOURCE_BM25, Bm25Index
from ..types import Document

SOURCE_RUN = "run"


class DatasetUnavailable(RuntimeError):
    """The dataset cannot be loaded here (typically: it needs the network); the message says why."""


class DatasetFormatError(FileFormatError):
    """A malformed user file. ``str(error)`` names the file and, where known, the line."""


@dataclass(frozen=True)
class Query:
    query_id: str
    text: str


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    needs_network: bool


@dataclass
class Dataset:
    """Queries, a corpus (doc_id -> (title, text)), qrels and optionally a first-stage run.

    Candidates come from the run when there is one (``first_stage_source`` "run"), else from
    BM25 top-k over the whole corpus (bm25s; one index built on first use and reused)."""

    name: str
    instruction: str
    _queries: list[Query]
    _corpus: Mapping[str, tuple[str | None, str]]
    _qrels: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # query_id -> [(doc_id, score)], best first
    _run: Mapping[str, Sequence[tuple[str, float]]] | None = None
    title: str = ""
    warnings: list[str] = field(default_factory=list)
    _index: Bm25Index | None = field(default=None, repr=False)
    _doc_ids: list[str] | None = field(default=None, repr=False)

    def queries(self) -> list[Query]:
        return list(self._queries)

    def query(self, query_id: str) -> Query:
        for q in self._queries:
            if q.query_id == query_id:
                return q
        raise KeyError(f"{self.name} has no query {query_id!r}")

    # A negative relevance (BRIGHT's -100) marks a document excluded from evaluation: it is
    # neither a candidate nor in the qrels.
    def qrels(self, query_id: str) -> dict[str, int]:
        return {d: r for d, r in self._qrels.get(query_id, {}).items() if r >= 0}

    def all_qrels(self) -> dict[str, dict[str, int]]:
        return {q: self.qrels(q) for q in self._qrels}

    def _excluded(self, query_id: str) -> set[str]:
        return {d for d, r in self._qrels.get(query_id, {}).items() if r < 0}

    def document(self, doc_id: str) -> Document:
        title, text = self._corpus[doc_id]
        return Document(doc_id=doc_id, text=text, title=title or None)

    def _bm25(self) -> tuple[Bm25Index, list[str]]:
        if self._index is None:
            self._doc_ids = list(self._corpus)
            texts = [
                f"{t}\n{x}" if t else x for t, x in (self._corpus[d] for d in self._doc_ids)
            ]
            self._index = Bm25Index(texts)
        assert self._doc_ids is not None
        return self._index, self._doc_ids

    def candidates(self, query_id: str, top_k: int = 100) -> list[Document]:
        """The query's first-stage top ``top_k``, best first, each with its first-stage score."""
        excluded = self._excluded(query_id)
        if self._run is not None:
            out = []
            ranked = [(d, s) for d, s in self._run.get(query_id, ()) if d not in excluded]
            for doc_id, score in ranked[: max(0, top_k)]:
                doc = self.document(doc_id)
                doc.first_stage_score, doc.first_stage_source = float(score), SOURCE_RUN
                out.append(doc)
            return out
        index, ids = self._bm25()
        out = []
        for position, score in index.top_k(self.query(query_id).text, top_k + len(excluded)):
            if ids[position] in excluded or len(out) >= top_k:
                continue
            doc = self.document(ids[position])
            doc.first_stage_score, doc.first_stage_source = score, SOURCE_BM25
            out.append(doc)
        return out


def make_dataset(
    name: str,
    queries: Sequence[Query],
    corpus: Mapping[str, tuple[str | None, str]],
    qrels: Mapping[str, Mapping[str, int]] | None = None,
    run: Mapping[str, Sequence[tuple[str, float]]] | None = None,
    *,
    instruction: str | None = None,
    title: str = "",
) -> Dataset:
    """A Dataset over in-memory parts; run entries whose documents the corpus lacks are dropped
    (and counted in ``warnings``)."""
    warnings: list[str] = []
    if run is not None:
        kept: dict[str, list[tuple[str, float]]] = {}
        missing = 0
        for qid, ranked in run.items():
            kept[qid] = [(d, s) for d, s in ranked if d in corpus]
            missing += len(ranked) - len(kept[qid])
        if missing:
            warnings.append(f"{missing} run entries name documents that are not in the corpus; skipped")
        run = kept
    return Dataset(
        name=name,
        instruction=instruction if instruction is not None else instruction_for(name),
        _queries=list(queries),
        _corpus=corpus,
        _qrels={q: dict(d) for q, d in (qrels or {}).items()},
        _run=run,
        title=title or name,
        warnings=warnings,
    )


def ranked_run(rows: Sequence[tuple[str, str, int, float]]) -> dict[str, list[tuple[str, float]]]:
    """(qid, docid, rank, score) rows -> qid -> [(docid, score)] by score desc, rank asc."""
    by_query: dict[str, list[tuple[float, int, str]]] = {}
    for qid, docid, rank, score in rows:
        by_query.setdefault(qid, []).append((float(score), int(rank), docid))
    return {
        q: [(d, s) for s, _, d in sorted(items, key=lambda x: (-x[0], x[1], x[2]))]
        for q, items in by_query.items()
    }
