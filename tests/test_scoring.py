import math

import pytest

from erank_studio import Reranker, hybrid_scores, parse, scoring


def test_hybrid_reproduces_the_model_card_example():
    values = scoring.hybrid([46.7, 2.3, 1.5], [4.84, 2.98, 0.0], alpha=0.2)
    assert [round(v, 2) for v in values] == [1.18, 0.01, -1.19]


def test_hybrid_scores_api_on_erank_style_results():
    results = [
        {"content": "c", "first_stage_score": 1.5, "rank_score": 0.0},
        {"content": "a", "first_stage_score": 46.7, "rank_score": 4.84},
        {"content": "b", "first_stage_score": 2.3, "rank_score": 2.98},
    ]
    ranked = hybrid_scores(results, 0.2)
    assert [r["content"] for r in ranked] == ["a", "b", "c"]
    assert [round(r["hybrid_score"], 2) for r in ranked] == [1.18, 0.01, -1.19]


def test_zscores_use_population_std_and_zero_for_constant_lists():
    assert scoring.zscores([1.0, 3.0]) == [-1.0, 1.0]  # ddof=0: std of [1, 3] is 1
    assert scoring.zscores([5.0, 5.0, 5.0]) == [0.0, 0.0, 0.0]
    assert scoring.zscores([]) == []
    assert scoring.hybrid([2.0, 2.0], [3.0, 1.0], 0.2) == [0.8, -0.8]


def test_hybrid_leaves_failed_judgments_out():
    values = scoring.hybrid([1.0, 2.0, 3.0], [1.0, None, 3.0], 0.5)
    assert values[1] is None
    assert values[0] == pytest.approx(-1.0) and values[2] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        scoring.hybrid([1.0], [1.0], 1.5)


def test_rank_score_is_n_times_p_and_zero_for_zero():
    assert scoring.rank_score(7, 0.5) == 3.5
    assert scoring.rank_score(0, 0.3) == 0.0
    assert scoring.rank_score(0, None) == 0.0
    assert scoring.rank_score(None, 0.9) is None


def _pieces(raw: str, split_at: list[int]) -> list[str]:
    bounds = [0, *split_at, len(raw)]
    return [raw[a:b] for a, b in zip(bounds, bounds[1:])]


def test_probability_of_a_single_digit_score_is_that_tokens_probability():
    raw = "<think>ok</think><answer> 7 </answer>"
    pieces = ["<think>", "ok", "</think>", "<answer>", " ", "7", " </answer>"]
    logprobs = [-0.1, -0.2, -0.3, -0.4, -0.5, math.log(0.8), -0.7]
    parsed = parse.parse_output(raw)
    assert scoring.score_probability(pieces, logprobs, raw, parsed.score_span) == pytest.approx(0.8)


def test_probability_of_ten_is_the_product_of_its_two_digit_tokens(qwen3_tokenizer):
    raw = "<think>great</think><answer>10</answer>"
    ids = qwen3_tokenizer(raw, add_special_tokens=False)["input_ids"]
    pieces = qwen3_tokenizer.batch_decode([[i] for i in ids])
    assert "1" in pieces and "0" in pieces  # Qwen writes "10" as two tokens
    logprobs = [0.0] * len(pieces)
    logprobs[pieces.index("1")] = math.log(0.9)
    logprobs[pieces.index("0")] = math.log(0.5)
    parsed = parse.parse_output(raw)
    probability = scoring.score_probability(pieces, logprobs, raw, parsed.score_span)
    assert probability == pytest.approx(0.45)
    assert scoring.rank_score(parsed.score, probability) == pytest.approx(4.5)


def test_probability_read_at_the_token_offsets_when_pieces_do_not_spell_the_output():
    raw = "<think>café</think><answer>6</answer>"
    pieces = ["<think>", "caf", "\ufffd", "\ufffd", "</think>", "<answer>", "6", "</answer>"]
    # "é" is two byte tokens: both cover its one character (engines/token_spans.py).
    spans = [(0, 7), (7, 10), (10, 11), (10, 11), (11, 19), (19, 27), (27, 28), (28, 37)]
    logprobs = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, math.log(0.25), 0.0]
    parsed = parse.parse_output(raw)
    assert scoring.score_probability(pieces, logprobs, raw, parsed.score_span, spans) == pytest.approx(0.25)
    # Without offsets, pieces that do not spell the output give no P(N): never a guess.
    assert scoring.score_probability(pieces, logprobs, raw, parsed.score_span) is None


def test_order_is_descending_with_missing_scores_last():
    assert scoring.order([0.5, None, 2.0, 0.5]) == [2, 0, 3, 1]


def test_reranker_rejects_documents_without_content(tiny_engine):
    with pytest.raises(ValueError, match="document 2"):
        Reranker(engine=tiny_engine).rerank("q", [{"content": "x"}, {"text": "y"}])


def test_bm25_scores_corpora_without_indexable_words_as_zero():
    from erank_studio.retrieval import bm25_scores

    assert bm25_scores("why do cats purr", ["a", "b"]) == [0.0, 0.0]
    assert bm25_scores("why do cats purr", ["", "!!"]) == [0.0, 0.0]
    assert bm25_scores("q", []) == []
    scores = bm25_scores("cats purr", ["the", "cats purr loudly", "dogs"])
    assert scores[1] > 0 and scores[0] == scores[2] == 0.0
