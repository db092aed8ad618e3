"""The one run path (issue 20, 1-2): how a run ends decides its stored status the same way for
every caller; the input rule and the partial first stage's note; the status enum is the store's."""
from __future__ import annotations

import math

import pytest

from erank_studio import runs, text_rules
from erank_studio.engines.base import FINISH_CANCELLED, FINISH_STOP, CancelToken, Generation
from erank_studio.store import Store
from erank_studio.store.validation import RUN_STATUSES
from erank_studio.types import Document, GenerationSettings


class ScriptedEngine:
    """Document i answers (i * 3) % 11 at P 0.5; raises at ``crash_at``; honours the cancel token."""

    name, model, tokenizer, is_reranker, warning, chat_template_source = "fake", "fake-model", None, True, None, "t"

    def __init__(self, crash_at: int | None = None) -> None:
        self.crash_at = crash_at
        self.messages: list[str] = []

    def generate(self, prompts, settings, cancel=None):
        for index, prompt in enumerate(prompts):
            if index == self.crash_at:
                raise RuntimeError("the engine crashed")
            self.messages.append(prompt.message)
            if cancel is not None and cancel.cancelled:
                yield Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
                continue
            pieces = ["<answer>", str((index * 3) % 11), "</answer>"]
            yield Generation(index=index, text="".join(pieces), pieces=pieces,
                             logprobs=[0.0, math.log(0.5), 0.0], finish_reason=FINISH_STOP)


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path}/runs.sqlite") as s:
        yield s


def _spec(n: int = 4, **kwargs) -> runs.RunSpec:
    docs = [Document(f"d{i}", f"text {i}", first_stage_score=float(i)) for i in range(n)]
    return runs.RunSpec(query="q", documents=docs, instruction="i", truncate_length=64,
                        settings=GenerationSettings(max_new_tokens=8), **kwargs)


def _stored(store: Store, run: runs.Run):
    (row,) = [r for r in store.runs() if r.id == run.run_id]
    return row.status, store.run_judgments(run.run_id)


def test_the_status_enum_is_the_stores_list():
    assert tuple(s.value for s in runs.RunStatus) == RUN_STATUSES
    assert str(runs.RunStatus.DONE) == "done" and runs.RunStatus("failed") is runs.RunStatus.FAILED


def test_a_finished_run_is_done_with_its_hybrid_saved(store):
    engine = ScriptedEngine()
    run = runs.start(store, engine, _spec())
    judged = list(runs.execute(run, engine, store))
    status, stored = _stored(store, run)
    assert status == "done" and run.status is runs.RunStatus.DONE and len(stored) == len(judged) == 4
    assert [j.hybrid_score for j in stored] == pytest.approx([j.hybrid_score for j in judged])
    assert all(j.hybrid_score is not None for j in stored)


def test_a_cancel_and_a_closed_stream_are_cancelled(store):
    engine, token = ScriptedEngine(), CancelToken()
    run = runs.start(store, engine, _spec())
    for n, _ in enumerate(runs.execute(run, engine, store, token), start=1):
        if n == 2:
            token.cancel()
    status, stored = _stored(store, run)
    assert status == "cancelled" and len(stored) == 2, "documents the cancel stopped are not judgments"

    run = runs.start(store, engine, _spec())
    judging = runs.execute(run, engine, store)
    next(judging)
    judging.close()  # the page or API client went away
    status, stored = _stored(store, run)
    assert status == "cancelled" and len(stored) == 1


def test_an_engine_that_raises_fails_the_run_and_keeps_what_was_judged(store):
    engine = ScriptedEngine(crash_at=2)
    run = runs.start(store, engine, _spec())
    seen = []
    with pytest.raises(RuntimeError, match="crashed"):
        for judgment in runs.execute(run, engine, store):
            seen.append(judgment)
    status, stored = _stored(store, run)
    assert status == "failed" and len(stored) == len(seen) == 2


def test_one_input_rule_for_query_instruction_and_documents(store):
    engine = ScriptedEngine()
    spec = runs.RunSpec(query="\ufeff  why?\r\n", instruction=" judge\r\nit ",
                        documents=[Document("a", "\ufeffone\r\ntwo\rthree  ")], truncate_length=64)
    run = runs.start(store, engine, spec)
    list(runs.execute(run, engine, store))
    assert (run.spec.query, run.spec.instruction) == ("why?", "judge\nit")
    assert run.spec.documents[0].text == "one\ntwo\nthree  "
    assert spec.documents[0].text.startswith("\ufeff"), "the caller's documents are not changed"
    assert store.query_text(run.query_id) == "why?"
    assert "\r" not in engine.messages[0] and "\ufeff" not in engine.messages[0]


def test_a_partly_scored_list_gets_bm25_for_all_and_a_note():
    docs = [Document("a", "cats purr", first_stage_score=3.0), Document("b", "dogs bark")]
    run = runs.prepare(runs.RunSpec(query="cats", documents=docs), ScriptedEngine())
    assert run.note == ("1 of 2 documents had no first-stage score, so BM25 scored the whole list and the "
                        "given scores were not used")
    assert {d.first_stage_source for d in run.spec.documents} == {"bm25"}
    assert runs.prepare(runs.RunSpec(query="cats", documents=docs[1:]), ScriptedEngine()).note is None


def test_text_ids_follow_the_text():
    ids = text_rules.text_doc_ids(["same", "other", "same", "same\r\n".rstrip("\r\n")])
    assert ids[0] == text_rules.text_doc_id("same") and ids[2] == ids[0] + "-2" and ids[3] == ids[0] + "-3"
    assert ids[1] != ids[0] and ids[0].startswith("d-") and len(ids[0]) == 10
    assert text_rules.text_doc_id("a\r\nb") == text_rules.text_doc_id("\ufeffa\nb"), "ids of the normalised text"
