"""Which BM25 the studio computes: Lucene's formula, Pyserini's parameters, stop words, Porter."""
from __future__ import annotations

import math

import pytest

from erank_studio import retrieval


def lucene_bm25(tf: int, df: int, n_docs: int, doc_len: int, avg_len: float, k1: float = 0.9, b: float = 0.4) -> float:
    """Lucene's BM25Similarity (since Lucene 8), written out."""
    idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * doc_len / avg_len))


def test_scores_follow_lucene_bm25_with_pyserini_defaults():
    docs = ["cat cat dog", "dog bird", "fish"]
    scores = retrieval.bm25_scores("cat", docs)
    assert scores[0] == pytest.approx(lucene_bm25(tf=2, df=1, n_docs=3, doc_len=3, avg_len=2.0), rel=1e-6)
    assert scores[1:] == [0.0, 0.0]
    assert (retrieval.METHOD, retrieval.K1, retrieval.B) == ("lucene", 0.9, 0.4)


def test_english_stemming_matches_word_forms():
    docs = ["The cat runs and purrs.", "Dogs barked.", "A running dog."]
    scores = retrieval.bm25_scores("running cats purring", docs)
    assert scores[0] > scores[2] > 0 and scores[1] == 0.0  # cats~cat, purring~purrs, running~runs


def test_stop_words_do_not_score():
    docs = ["the and of", "cats"]
    assert retrieval.bm25_scores("the of and", docs) == [0.0, 0.0]
    # Stop words do not count towards a document's length either.
    assert retrieval.bm25_scores("cats", ["cats the the the the", "cats"])[0] == pytest.approx(
        retrieval.bm25_scores("cats", ["cats the the the the", "cats"])[1])


def test_unindexable_lists_score_zero():
    assert retrieval.bm25_scores("cats", ["", "!!", "the"]) == [0.0, 0.0, 0.0]
    assert retrieval.bm25_scores("", ["cats"]) == [0.0]


def test_description_names_the_variant():
    assert "lucene" in retrieval.DESCRIPTION and "Porter" in retrieval.DESCRIPTION
