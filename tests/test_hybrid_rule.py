"""One hybrid rule: the same partial first-stage list gives the same hybrid scores through the
Python API, the judging pipeline, the UI session and the store, the CLI and the batch."""
from __future__ import annotations

import json
import math

import pytest

from erank_studio import judge, reranker, retrieval, scoring
from erank_studio.data import Query, make_dataset
from erank_studio.engines.base import FINISH_STOP, Generation
from erank_studio.store import Store
from erank_studio.types import Document, GenerationSettings

QUERY = "why do cats purr"
# (id, content, given first-stage score or None, the fake model's score)
DOCS = [
    ("a", "Cats purr when content; purring cats vibrate.", 46.7, 9),
    ("b", "Dogs bark at strangers.", None, 2),
    ("c", "Cats sleep most of the day.", 1.5, 6),
    ("d", "Purring is made by the larynx of cats.", None, 8),
]
SCORES = {content: score for _, content, _, score in DOCS}
SETTINGS = GenerationSettings(max_new_tokens=16)


class ContentEngine:
    """Scores each document by its content, at probability 0.5."""

    name = "fake"
    model = "fake/hybrid"
    tokenizer = None
    is_reranker = True
    warning = None
    chat_template_source = "fake chat template"

    def generate(self, prompts, settings, cancel=None):
        for index, built in enumerate(prompts):
            score = next(s for content, s in SCORES.items() if content in built.message)
            pieces = ["<think>t</think><answer>", str(score), "</answer>"]
            yield Generation(index=index, text="".join(pieces), pieces=pieces,
                             logprobs=[0.0, math.log(0.5), 0.0], finish_reason=FINISH_STOP)

    def force_scores(self, prompt, partial_output):
        return None

    def describe(self):
        return {"engine": self.name, "model": self.model}


def documents() -> list[Document]:
    return [Document(i, c, first_stage_score=f, first_stage_source="given" if f is not None else None)
            for i, c, f, _ in DOCS]


def expected() -> dict[str, float]:
    """The rule written out: BM25 over the whole list (some scores are missing), then the hybrid."""
    bm25 = retrieval.bm25_scores(QUERY, [c for _, c, _, _ in DOCS])
    values = scoring.hybrid(bm25, [s * 0.5 for *_, s in DOCS], 0.2)
    return {i: v for (i, *_), v in zip(DOCS, values)}


def test_api_rerank_then_hybrid_scores():
    results = reranker.Reranker(engine=ContentEngine()).rerank(
        QUERY, [{"id": i, "content": c, "first_stage_score": f} for i, c, f, _ in DOCS], settings=SETTINGS)
    hybrid = reranker.hybrid_scores(results, alpha=0.2)
    assert {r["id"]: r["hybrid_score"] for r in hybrid} == pytest.approx(expected())
    assert all(r["bm25_score"] is not None for r in results)  # every result says which score counted


def test_api_hybrid_scores_of_a_hand_made_partial_list():
    rows = [{"id": i, "content": c, "first_stage_score": f, "rank_score": s * 0.5} for i, c, f, s in DOCS]
    with pytest.raises(ValueError, match="pass query="):
        reranker.hybrid_scores(rows)
    hybrid = reranker.hybrid_scores(rows, alpha=0.2, query=QUERY)
    assert {r["id"]: r["hybrid_score"] for r in hybrid} == pytest.approx(expected())


def test_pipeline():
    docs = judge.ensure_first_stage(QUERY, documents())
    judgments = list(judge.judge(ContentEngine(), QUERY, docs, "inst", 64, SETTINGS))
    judge.apply_hybrid(judgments)
    assert {j.doc_id: j.hybrid_score for j in judgments} == pytest.approx(expected())
    assert {j.first_stage_source for j in judgments} == {"bm25"}


def test_ui_session_and_store(tmp_path):
    from erank_studio.engines.base import CancelToken
    from erank_studio.runs import RunSpec
    from erank_studio.ui import session

    with Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        engine = ContentEngine()
        spec = RunSpec(QUERY, documents(), instruction="inst", truncate_length=64, settings=SETTINGS, alpha=0.2)
        view = session.start_run(store, engine, spec)
        for view in session.stream_judgments(store, engine, view, cancel=CancelToken()):
            pass
        assert {j.doc_id: j.hybrid_score for j in view.judgments} == pytest.approx(expected())
        stored = store.run_judgments(view.run_id)
        assert {j.doc_id: j.hybrid_score for j in stored} == pytest.approx(expected())
        reopened = session.open_run(store, view.run_id)
        assert {j.doc_id: j.hybrid_score for j in reopened.judgments} == pytest.approx(expected())


def test_cli_rerank_docs(tmp_path, capsys, monkeypatch):
    from erank_studio.cli import main, rerank

    monkeypatch.setattr(rerank, "engine_from", lambda args: ContentEngine())
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(
        json.dumps({"id": i, "content": c, **({"first_stage_score": f} if f is not None else {})}) + "\n"
        for i, c, f, _ in DOCS))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["rerank", "--query", QUERY, "--docs", str(path), "--save", "--db", url]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["id"]: r["hybrid_score"] for r in rows} == pytest.approx(expected())
    with Store(url) as store:
        run = store.runs()[0]
        assert {j.doc_id: j.hybrid_score for j in store.run_judgments(run.id)} == pytest.approx(expected())


def test_batch(tmp_path):
    from erank_studio.batch import rerank_dataset

    corpus = {i: (None, c) for i, c, _, _ in DOCS}
    dataset = make_dataset("partial", [Query("q1", QUERY)], corpus, {"q1": {"a": 1}})

    class PartialScores(type(dataset)):
        def candidates(self, query_id, top_k=100):  # a first stage that scored only some documents
            return documents()[:top_k]

    dataset.__class__ = PartialScores
    with Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        result = rerank_dataset(dataset, ContentEngine(), store, top_k=4, settings=SETTINGS, alpha=0.2,
                                progress=False)
        assert result.runs["hybrid"]["q1"] == pytest.approx(expected())
        run = store.runs()[0]
        assert {j.doc_id: j.hybrid_score for j in store.run_judgments(run.id)} == pytest.approx(expected())
