"""BM25 first stage (bm25s) for documents that come without first-stage scores.

Which BM25: bm25s's Lucene variant (``method="lucene"``) with Pyserini's default parameters
(k1 = 0.9, b = 0.4), Lucene's 33 English stop words (bm25s's "en" list is exactly that set) and
the Porter stemmer (PyStemmer's "porter", the algorithm of Lucene's PorterStemFilter, which
Pyserini's default English analyzer uses): as close to the paper's Pyserini BM25 as bm25s gets.
It is still not Pyserini: the word splitting differs (bm25s keeps runs of two or more word
characters; Lucene's StandardTokenizer follows Unicode word breaks and keeps single letters)."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import Stemmer

# bm25s and PyStemmer are imported where they are first used: bm25s pulls in scipy (about a
# fifth of the web page's own start-up on top of Gradio's, bench/bench_paths.py), and a page or
# a command that never scores a list without first-stage scores should not pay for it.

METHOD = "lucene"
K1 = 0.9
B = 0.4
STOPWORDS = "en"
STEMMER = "porter"
DESCRIPTION = (
    f"bm25s {METHOD} BM25 (k1={K1}, b={B}), Lucene's English stop words, {STEMMER.title()} stemmer"
)

_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    # A PyStemmer object must not be shared between threads (the UI scores lists concurrently).
    if not hasattr(_local, "stemmer"):
        import Stemmer

        _local.stemmer = Stemmer.Stemmer(STEMMER)
    return _local.stemmer


def _tokenize(texts: Sequence[str], return_ids: bool = True):
    import bm25s

    return bm25s.tokenize(
        list(texts), stopwords=STOPWORDS, stemmer=_stemmer(), show_progress=False,
        return_ids=return_ids,
    )


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
        import bm25s

        self._retriever = bm25s.BM25(method=METHOD, k1=K1, b=B)
        corpus = _tokenize(texts) if texts else None
        # A corpus with no indexable word at all (stopwords, punctuation, empty) scores 0 everywhere.
        self._empty = corpus is None or not corpus.vocab
        if not self._empty:
            self._retriever.index(corpus, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        if self._empty:
            return np.zeros(self.size)
        tokens = _tokenize([query], return_ids=False)[0]
        if not tokens:
            return np.zeros(self.size)
        return np.asarray(self._retriever.get_scores(tokens), dtype=float)

    def top_k(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (index, score) pairs for ``query``, best first (ties: lower index)."""
        scores = self.scores(query)
        top = np.argsort(-scores, kind="stable")[: max(0, k)]
        return [(int(i), float(scores[i])) for i in top]
