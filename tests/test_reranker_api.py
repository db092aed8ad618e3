"""The Python API shaped like ERank's own examples, and the engine loader's fallback."""
import time

import pytest

from erank_studio import Reranker, hybrid_scores
from erank_studio.engines import EngineUnavailable, load_engine
from erank_studio.types import GenerationSettings

DOCS = [
    {"content": "Cats purr with their laryngeal muscles.", "first_stage_score": 46.7},
    {"content": "Stock markets fell.", "first_stage_score": 2.3},
    {"content": "Dogs bark.", "first_stage_score": 1.5},
]


def test_rerank_returns_the_docs_sorted_with_rank_score_and_judgment_fields(tiny_engine):
    reranker = Reranker(engine=tiny_engine)
    results = reranker.rerank("why do cats purr", DOCS, "Given a query, retrieval relevant passage.",
                              truncate_length=2048, settings=GenerationSettings(max_new_tokens=4, force_answer=True))
    assert len(results) == 3
    assert sorted(r["content"] for r in results) == sorted(d["content"] for d in DOCS)
    scores = [r["rank_score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    for r in results:
        assert r["status"] == "forced" and r["failure"] == "cut_at_budget"  # noise, then a forced score
        assert 0 <= r["score"] <= 10 and r["rank_score"] == pytest.approx(r["score"] * r["probability"])
        assert r["output_tokens"] == 4 and r["prompt_tokens"] > 0
    with_hybrid = hybrid_scores(results, alpha=0.2)
    assert all("hybrid_score" in r for r in with_hybrid)
    assert DOCS[0] == {"content": "Cats purr with their laryngeal muscles.", "first_stage_score": 46.7}


def test_failed_judgments_have_no_score_and_come_last(tiny_engine):
    results = Reranker(engine=tiny_engine).rerank(
        "q", DOCS[:2], settings=GenerationSettings(max_new_tokens=3, force_answer=False)
    )
    for r in results:
        assert r["status"] == "failed" and r["rank_score"] is None and r["score"] is None
        assert r["raw_output"] is not None and r["failure"] == "cut_at_budget"


def test_documents_without_first_stage_scores_get_bm25(tiny_engine):
    docs = [{"content": "cats purr loudly"}, {"content": "bonds and stocks"}]
    results = Reranker(engine=tiny_engine).rerank(
        "why do cats purr", docs, settings=GenerationSettings(max_new_tokens=2, force_answer=True)
    )
    bm25 = {r["content"]: r["bm25_score"] for r in results}
    assert bm25["cats purr loudly"] > bm25["bonds and stocks"] == 0.0
    assert all(r["hybrid_score"] is not None for r in hybrid_scores(results))


def test_unreachable_hub_model_fails_fast_without_fallback(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(EngineUnavailable, match="cannot be reached"):
        load_engine("Alibaba-NLP/ERank-4B", "transformers", fallback=False)
    assert time.perf_counter() - started < 5


def test_unreachable_hub_model_falls_back_to_the_demo_model_with_a_warning(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    engine = load_engine("Alibaba-NLP/ERank-4B", "transformers")
    assert engine.is_reranker is False
    assert "Alibaba-NLP/ERank-4B" in engine.warning and "NOT a reranker" in engine.warning
    reranker = Reranker(engine=engine)
    results = reranker.rerank("why do cats purr", DOCS[:2], settings=GenerationSettings(max_new_tokens=16, force_answer=True))
    assert all(r["status"] in ("ok", "forced") for r in results)


def test_unknown_engine_is_refused():
    with pytest.raises(EngineUnavailable, match="unknown engine"):
        load_engine("x", "tensorrt")


def test_an_option_the_engine_does_not_take_is_an_error_not_a_fallback(tiny_model_dir):
    with pytest.raises(TypeError, match="max_new_tokens"):
        Reranker(str(tiny_model_dir), engine="transformers", max_new_tokens=8)


def test_each_fallback_reuses_the_one_loaded_demo_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    first = load_engine("nobody/no-such-model", "transformers")
    started = time.perf_counter()
    second = load_engine("/no/such/folder", "transformers")
    assert time.perf_counter() - started < 5
    assert second.hf_model is first.hf_model
    assert "nobody/no-such-model" in first.warning and "/no/such/folder" in second.warning
