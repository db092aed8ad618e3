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
