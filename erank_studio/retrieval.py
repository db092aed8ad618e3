"""BM25 first stage (bm25s) for documents that come without first-stage scores."""
from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np


def _tokenize(texts: Sequence[str]):
    return bm25s.tokenize(list(texts), stopwords="en", show_progress=False)


def bm25_scores(query: str, texts: Sequence[str]) -> list[float]:
    """BM25 score of ``query`` against each text, the texts forming the corpus."""
    return Bm25Index(texts).scores(query).tolist()


def bm25_top_k(query: str, texts: Sequence[str], k: int) -> list[tuple[int, float]]:
    """The ``k`` best (index, score) pairs of ``texts`` for ``query``, best first."""
    return Bm25Index(texts).top_k(query, k)


class Bm25Index:
    """One bm25s index over a corpus, reused for every query of it (a benchmark's first stage)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        self._retriever = bm25s.BM25()
        corpus = _tokenize(texts) if texts else None
        # A corpus with no indexable word at all (stopwords, punctuation, empty) scores 0 everywhere.
        self._empty = corpus is None or not corpus.vocab
        if not self._empty:
            self._retriever.index(corpus, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        if self._empty:
            return np.zeros(self.size)
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False, return_ids=False)[0]
        if not tokens:
            return np.zeros(self.size)
        return np.asarray(self._retriever.get_scores(tokens), dtype=float)

    def top_k(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (index, score) pairs for ``query``, best first (ties: lower index)."""
        scores = self.scores(query)
        top = np.argsort(-scores, kind="stable")[: max(0, k)]
        return [(int(i), float(scores[i])) for i in top]
