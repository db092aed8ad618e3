"""BM25 first stage (bm25s) for documents that come without first-stage scores."""
from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np


def _tokenize(texts: Sequence[str]):
    return bm25s.tokenize(list(texts), stopwords="en", show_progress=False)


def bm25_scores(query: str, texts: Sequence[str]) -> list[float]:
    """BM25 score of ``query`` against each text, the texts forming the corpus."""
    if not texts:
        return []
    retriever = bm25s.BM25()
    retriever.index(_tokenize(texts), show_progress=False)
    query_tokens = bm25s.tokenize([query], stopwords="en", show_progress=False, return_ids=False)[0]
    if not query_tokens:
        return [0.0] * len(texts)
    return [float(s) for s in np.asarray(retriever.get_scores(query_tokens), dtype=float)]


def bm25_top_k(query: str, texts: Sequence[str], k: int) -> list[tuple[int, float]]:
    """The ``k`` best (index, score) pairs of ``texts`` for ``query``, best first."""
    scores = np.asarray(bm25_scores(query, texts))
    top = np.argsort(-scores, kind="stable")[: max(0, k)]
    return [(int(i), float(scores[i])) for i in top]


class Bm25Index:
    """One bm25s index over a corpus, reused for every query of it (a benchmark's first stage)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        self._retriever = bm25s.BM25()
        if texts:
            self._retriever.index(_tokenize(texts), show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        if not self.size:
            return np.zeros(0)
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False, return_ids=False)[0]
        if not tokens:
            return np.zeros(self.size)
        return np.asarray(self._retriever.get_scores(tokens), dtype=float)

    def top_k(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (index, score) pairs for ``query``, best first (ties: lower index)."""
        scores = self.scores(query)
        top = np.argsort(-scores, kind="stable")[: max(0, k)]
        return [(int(i), float(scores[i])) for i in top]
