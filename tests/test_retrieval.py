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


def whole_text_bm25(query: str, texts: list[str]) -> list[float]:
    """bm25s over the whole texts in one go (bm25s.tokenize), the reference for piecewise reading."""
    import bm25s

    corpus = bm25s.tokenize(texts, stopwords=retrieval.STOPWORDS, stemmer=retrieval._stemmer(), show_progress=False)
    index = bm25s.BM25(method=retrieval.METHOD, k1=retrieval.K1, b=retrieval.B)
    index.index(corpus, show_progress=False)
    words = bm25s.tokenize([query], stopwords=retrieval.STOPWORDS, stemmer=retrieval._stemmer(),
                           show_progress=False, return_ids=False)[0]
    return [float(s) for s in index.get_scores(words)]


LONG_TEXTS = [
    "Purring cats: the laryngeal muscles of a cat twitch, and the cat purrs. " * 300
    + "Σίσυφος naïve façade 東京 cats-purring co-operate.\n\n" * 40,
    "Dogs bark; cats purr. Running, runs, ran.",
    "",
    "the of and !!",
    "x" * 5000 + " cats",  # a word longer than a piece stays whole
]


def test_piecewise_reading_scores_exactly_as_bm25s_over_the_whole_texts(monkeypatch):
    expected = whole_text_bm25("why do cats purr? running façade 東京", LONG_TEXTS)
    for size in (1, 7, 100, 4096):
        monkeypatch.setattr(retrieval, "PIECE_CHARS", size)
        assert retrieval.bm25_scores("why do cats purr? running façade 東京", LONG_TEXTS) == expected
    assert expected[0] > expected[1] > 0 and expected[2:4] == [0.0, 0.0]


def test_the_word_splitter_never_reads_more_than_a_piece(monkeypatch):
    read: list[int] = []
    split = retrieval._split_words
    monkeypatch.setattr(retrieval, "PIECE_CHARS", 1000)
    monkeypatch.setattr(retrieval, "_split_words", lambda text: read.append(len(text)) or split(text))
    huge = "Cats purr when content, and sometimes when hurt. " * 20_000  # about 1 MB
    scores = retrieval.bm25_scores("cats purr hurt", [huge, "dogs bark"])
    assert scores[0] > 0 and scores[1] == 0.0
    # All of it read, a piece at a time: a piece ends at the first non-word character after 1000.
    assert sum(read) >= len(huge) and max(read) <= 1000 + len("sometimes")


def test_text_pieces_cut_after_non_word_characters_and_lose_nothing():
    text = "alpha beta, gamma\n" * 50 + "z" * 300
    pieces = list(retrieval.text_pieces(text, 40))
    assert "".join(pieces) == text
    assert all(not p[-1].isalnum() for p in pieces[:-1]) and pieces[-1].endswith("z" * 300)
    assert all(len(p) <= 40 + 5 for p in pieces[:-1])
