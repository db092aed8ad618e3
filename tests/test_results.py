"""Typed results that read as the documented dicts (issue 20, 8), mirroring rerankers'
tests/test_results.py: build results, read them every documented way, order and hybrid them; and
the one ``to_dict`` behind the Python API's results, the CLI's JSON lines and the web API's rows."""
from __future__ import annotations

import json

import pytest

from erank_studio import hybrid_scores
from erank_studio.results import ECHO_CHARS, JUDGMENT_FIELDS, RerankResult, document_dict, result_of
from erank_studio.types import Document, Judgment


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


def test_the_list_echo_is_an_argument_of_the_one_to_dict():
    doc = {"id": "a", "content": "x" * (ECHO_CHARS + 5)}
    r = _result(doc, 8, 0.5)
    row = r.to_dict(rank=3, max_content_chars=ECHO_CHARS)
    assert list(row)[:4] == ["rank", "id", "content", "content_truncated"]
    assert row["rank"] == 3 and len(row["content"]) == ECHO_CHARS and row["content_truncated"] is True
    assert {k: v for k, v in row.items() if k not in ("rank", "content", "content_truncated")} == {
        k: v for k, v in r.to_dict().items() if k != "content"}
    short = _result({"id": "b", "content": "short"}, 2, 0.9).to_dict(max_content_chars=ECHO_CHARS)
    assert short["content"] == "short" and "content_truncated" not in short and "rank" not in short


def test_a_document_reads_as_the_python_apis_dict():
    given = Document("a", "text", title="T", first_stage_score=2.5, first_stage_source="given")
    assert document_dict(given) == {"id": "a", "content": "text", "title": "T", "first_stage_score": 2.5}
    scored = Document("b", "text", first_stage_score=1.0, first_stage_source="bm25")
    assert document_dict(scored) == {"id": "b", "content": "text"}  # BM25's score is bm25_score
    judgment = Judgment(doc_id="b", index=0, raw_output="", status="ok", score=4, probability=0.5, rank_score=2.0,
                        hybrid_score=0.3)
    result = result_of(judgment, scored, scored, hybrid=True)
    assert (result["bm25_score"], result["hybrid_score"]) == (1.0, 0.3) and "first_stage_score" not in result


def test_the_cli_line_the_api_row_and_the_python_result_are_one_dict(tmp_path, capsys, monkeypatch):
    """The mirror: the same partly scored list (so BM25 scores it whole) through
    ``Reranker.rerank`` + ``hybrid_scores``, ``rerank --docs`` and ``/rerank_documents``'s
    function gives the same rows, key for key and value for value, in the same order."""
    from test_hybrid_rule import DOCS, QUERY, ContentEngine

    from erank_studio import Reranker
    from erank_studio.cli import main, rerank
    from erank_studio.store import Store
    from erank_studio.types import GenerationSettings
    from erank_studio.ui.api import api_rerank
    from erank_studio.ui.context import Context, Defaults
    from erank_studio.ui.engine_provider import EngineProvider

    docs = [{"id": i, "content": c, **({"first_stage_score": f} if f is not None else {})} for i, c, f, _ in DOCS]
    lines = "".join(json.dumps(d) + "\n" for d in docs)

    results = Reranker(engine=ContentEngine()).rerank(QUERY, docs, settings=GenerationSettings(max_new_tokens=16))
    python = {r["id"]: r for r in hybrid_scores(results, alpha=0.2)}

    path = tmp_path / "docs.jsonl"
    path.write_text(lines, encoding="utf-8")
    monkeypatch.setattr(rerank, "engine_from", lambda args: ContentEngine())
    assert main(["rerank", "--query", QUERY, "--docs", str(path), "--max-new-tokens", "16", "--alpha", "0.2"]) == 0
    cli = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    with Store(f"sqlite:///{tmp_path / 'web.sqlite'}") as store:
        ctx = Context(store=store, provider=EngineProvider(loader=lambda *a, **k: ContentEngine()),
                      defaults=Defaults(model="fake"))
        final = list(api_rerank(ctx)(QUERY, lines, max_new_tokens=16, alpha=0.2))[-1]
        assert ctx.jobs.wait_idle(10)
    api = final["judgments"]

    assert [r["id"] for r in cli] == [r["id"] for r in results] == [r["id"] for r in api]
    mirrored = [json.loads(json.dumps(python[row["id"]].to_dict(rank=row["rank"]))) for row in cli]
    for row, api_row, want in zip(cli, api, mirrored):
        assert list(row) == list(api_row) == list(want)  # the same keys in the same order
        # The hybrid's z-scores sum the list in another order (rank vs arrival): equal to rounding.
        hybrid = want.pop("hybrid_score")
        assert row.pop("hybrid_score") == pytest.approx(hybrid) and api_row.pop("hybrid_score") == pytest.approx(hybrid)
        assert row == api_row == want
    assert all(r["bm25_score"] is not None and r["first_stage_source"] == "bm25" for r in cli)
    assert {r["id"]: r.get("first_stage_score") for r in cli} == {i: f for i, _, f, _ in DOCS}  # as given
