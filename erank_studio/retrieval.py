"""BM25 first stage (bm25s) for documents that come without first-stage scores.

Which BM25: bm25s's Lucene variant (``method="lucene"``) with Pyserini's default parameters
(k1 = 0.9, b = 0.4), Lucene's 33 English stop words (bm25s's "en" list is exactly that set) and
the Porter stemmer (PyStemmer's "porter", the algorithm of Lucene's PorterStemFilter, which
Pyserini's default English analyzer uses): as close to the paper's Pyserini BM25 as bm25s gets.
It is still not Pyserini: the word splitting differs (bm25s keeps runs of two or more word
characters; Lucene's StandardTokenizer follows Unicode word breaks and keeps single letters).

Memory follows the words, not the characters: every text (document or query) is read whole, as
Pyserini would index it, but tokenized a piece of at most about ``PIECE_CHARS`` characters at a
time, each piece cut just after a non-word character so that no word is split, into one shared
bm25s vocabulary. A document is then held as a list of word ids (8 bytes a word) instead of
bm25s's word strings and their copies (about 19 bytes a character in one go), and the scores
are exactly those of ``bm25s.tokenize`` over the whole texts."""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import bm25s
    import Stemmer

# bm25s and PyStemmer are imported where they are first used: bm25s pulls in scipy (about a
# fifth of the web page's own start-up on top of Gradio's, bench/bench_paths.py), and a page or
# a command that never scores a list without first-stage scores should not pay for it.

# A document's first_stage_source when its first-stage score is BM25's computed here.
SOURCE_BM25 = "bm25"
METHOD = "lucene"
K1 = 0.9
B = 0.4
STOPWORDS = "en"
STEMMER = "porter"
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # bm25s.tokenize's default (scikit-learn's CountVectorizer)
PIECE_CHARS = 1 << 20  # characters tokenized at once: bounds the word strings alive at a time
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


_NON_WORD = re.compile(r"\W")
_split_words = re.compile(TOKEN_PATTERN).findall


def text_pieces(text: str, size: int | None = None) -> Iterator[str]:
    """``text`` in consecutive pieces of about ``size`` characters (``PIECE_CHARS`` by default),
    each ending just after a non-word character, so that tokenizing the pieces one by one gives
    the words of the whole text. A run of word characters longer than ``size`` stays whole."""
    size = size or PIECE_CHARS
    start = 0
    while len(text) - start > size:
        cut = _NON_WORD.search(text, start + size - 1)
        if cut is None:
            break
        yield text[start: cut.end()]
        start = cut.end()
    yield text[start:]


def _word_tokenizer() -> bm25s.tokenization.Tokenizer:
    # The same lowercasing, word pattern, stop words and stemmer as bm25s.tokenize; allow_empty
    # False so an empty text is an empty list there too (no "" word that would count in lengths).
    import bm25s

    return bm25s.tokenization.Tokenizer(
        lower=True, splitter=_split_words, stopwords=STOPWORDS, stemmer=_stemmer()
    )


def _word_ids(tokenizer: bm25s.tokenization.Tokenizer, text: str, update_vocab: bool | str) -> list[int]:
    """The ids of ``text``'s words, tokenized piece by piece into the tokenizer's vocabulary."""
    ids: list[int] = []
    for piece_ids in tokenizer.streaming_tokenize(text_pieces(text), update_vocab=update_vocab, allow_empty=False):
        ids.extend(piece_ids)
    return ids


def bm25_scores(query: str, texts: Sequence[str]) -> list[float]:
    """BM25 score of ``query`` against each text, the texts forming the corpus."""
    return Bm25Index(texts).scores(query).tolist()


def bm25_top_k(query: str, texts: Sequence[str], k: int) -> list[tuple[int, float]]:
    """The ``k`` best (index, score) pairs of ``texts`` for ``query``, best first."""
    return Bm25Index(texts).top_k(query, k)


class Bm25Index:
    """One bm25s index over a corpus, reused for every query of it (a benchmark's first stage)."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self.size = len(texts)
        self._retriever = bm25s.BM25(method=METHOD, k1=K1, b=B)
        tokenizer = _word_tokenizer()
        corpus_ids = [_word_ids(tokenizer, text, update_vocab=True) for text in texts]
        self._vocab = dict(tokenizer.get_vocab_dict())  # stem -> id
        # A corpus with no indexable word at all (stopwords, punctuation, empty) scores 0 everywhere.
        self._empty = not self._vocab
        if not self._empty:
            self._retriever.index((corpus_ids, self._vocab), show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        if self._empty:
            return np.zeros(self.size)
        # A tokenizer of its own per query, since the index is shared between threads; with
        # update_vocab False it maps the corpus's words and drops the others.
        tokenizer = _word_tokenizer()
        tokenizer.stem_to_sid = dict(self._vocab)
        ids = _word_ids(tokenizer, query, update_vocab=False)
        if not ids:
            return np.zeros(self.size)
        return np.asarray(self._retriever.get_scores(ids), dtype=float)

    def top_k(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (index, score) pairs for ``query``, best first (ties: lower index)."""
        scores = self.scores(query)
        top = np.argsort(-scores, kind="stable")[: max(0, k)]
        return [(int(i), float(scores[i])) for i in top]
