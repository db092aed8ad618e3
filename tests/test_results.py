"""Typed results that read as the documented dicts (issue 20, 8), mirroring rerankers'
tests/test_results.py: build results, read them every documented way, order and hybrid them."""
from __future__ import annotations

import json

import pytest

from erank_studio import hybrid_scores
from erank_studio.results import JUDGMENT_FIELDS, RerankResult
from erank_studio.types import Judgment


def _result(doc: dict, score: int | None, p: float | None, bm25: float | None = None) -> RerankResult:
    judgment = Judgment(doc_id=doc.get("id", "x"), index=0, raw_output=f"<answer>{score}</answer>",
                        status="ok" if score is not None else "failed", score=score, probability=p,
                        rank_score=None if score is None else score * p)
    return RerankResult.of(doc, judgment, bm25)


def test_a_result_reads_as_the_documented_dict():
    doc = {"id": "a", "content": "Cats purr.", "first_stage_score": 3.5, "source": "mine"}
    r = _result(doc, 8, 0.5)
    assert r["rank_score"] == 4.0 and r.rank_score == 4.0
    assert r["content"] == "Cats purr." and r.content == "Cats purr." and r["source"] == "mine"
    assert "content" in r and "bm25_score" not in r and "hybrid_score" not in r
    assert r.get("missing", 7) == 7 and r.get("score") == 8 and r.score == 8
    assert list(r) == ["id", "content", "first_stage_score", "source", "rank_score", *JUDGMENT_FIELDS]
    assert dict(r) == r.to_dict() and r == r.to_dict()
    assert json.loads(json.dumps(r.to_dict()))["rank_score"] == 4.0
    with pytest.raises(KeyError):
        r["nope"]
    with pytest.raises(AttributeError):
        r.nope
    doc["content"] = "changed"
    assert r["content"] == "Cats purr.", "a result holds a copy of the document"


def test_bm25_and_hybrid_scores_show_when_set():
    results = [_result({"id": "a", "content": "x"}, 8, 0.5, bm25=2.0),
               _result({"id": "b", "content": "y"}, 2, 0.9, bm25=0.5),
               _result({"id": "c", "content": "z"}, None, None, bm25=1.0)]
    assert results[0]["bm25_score"] == 2.0
    ranked = hybrid_scores(results, alpha=0.2)
    assert all(isinstance(r, RerankResult) for r in ranked)
    assert [r["id"] for r in ranked] == ["a", "b", "c"] and ranked[-1]["hybrid_score"] is None
    assert ranked[0]["hybrid_score"] == pytest.approx(0.2 * 1.0 + 0.8 * 1.0)
    assert "hybrid_score" not in results[0], "hybrid_scores returns new results"


def test_plain_dicts_still_work_with_hybrid_scores():
    ranked = hybrid_scores([{"first_stage_score": 1.0, "rank_score": 2.0}, {"first_stage_score": 3.0,
                                                                           "rank_score": 1.0}], alpha=0.5)
    assert all(type(r) is dict and "hybrid_score" in r for r in ranked)
