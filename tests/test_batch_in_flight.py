"""rerank --dataset with several queries in flight: the same stored judgments as one query at a
time, several runs really judging at once, resume after a stop, and the engine that keeps to one
(transformers; vLLM's side by side: tests/engines/test_vllm_cpu.py)."""
from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter

import pytest

from erank_studio.batch import DEFAULT_QUERIES_IN_FLIGHT, queries_in_flight_for, rerank_dataset
from erank_studio.engines.base import FINISH_CANCELLED, FINISH_STOP, CancelToken, Generation
from erank_studio.engines.writing import writing_of
from erank_studio.store import Store
from erank_studio.types import GenerationSettings
from tests.test_batch import all_judgments, tiny_dataset

SETTINGS = GenerationSettings(max_new_tokens=8)
WAIT_S = 30  # a bound on waiting for the other queries' calls, not a speed requirement


class ServerLikeEngine:
    """Stands for an OpenAI-compatible server: its generate calls may run side by side. A score
    and probability derived from each prompt's text (so any order gives the same judgments);
    with ``meet`` set, each of the first ``meet`` calls waits until that many are running."""

    name = "server-like"
    model = "server-like-model"
    tokenizer = None
    is_reranker = True
    warning = None
    chat_template_source = "test"
    concurrent_requests = True

    def __init__(self, meet: int = 0, permits: int | None = None) -> None:
        self._barrier = threading.Barrier(meet, timeout=WAIT_S) if meet else None
        # With permits: only that many documents are written; the others wait for a cancel.
        self._permits = threading.Semaphore(permits) if permits is not None else None
        self._lock = threading.Lock()
        self.calls = 0

    def _may_write(self, cancel) -> bool:
        if self._permits is None:
            return True
        while not self._permits.acquire(timeout=0.02):
            if cancel is not None and cancel.cancelled:
                return False
        return True

    def generate(self, prompts, settings, cancel=None):
        with self._lock:
            self.calls += 1
            first_calls = self.calls <= (self._barrier.parties if self._barrier else 0)
        if first_calls:
            self._barrier.wait()  # raises BrokenBarrierError unless the calls run at once
        for index, prompt in enumerate(prompts):
            if not self._may_write(cancel) or (cancel is not None and cancel.cancelled):
                yield Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
                continue
            writing_of(cancel).begin(index)
            digest = hashlib.sha256(prompt.text.encode() if prompt.text else repr(prompt.messages()).encode()).digest()
            score, p = digest[0] % 11, 0.5 + digest[1] / 512
            pieces = ["<think>x</think><answer>", str(score), "</answer>"]
            yield Generation(index=index, text="".join(pieces), pieces=pieces,
                             logprobs=[0.0, math.log(p), 0.0], finish_reason=FINISH_STOP,
                             prompt_tokens=10, output_tokens=3)

    def force_scores(self, prompt, partial_output):
        return None

    def describe(self):
        return {"model": self.model, "engine": self.name}


def stored(url):
    with Store(url) as store:
        return {(q, j.doc_id): (j.score, j.probability, j.prompt_message, j.status)
                for q, j in all_judgments(store, ServerLikeEngine.model)}


def test_queries_in_flight_store_the_same_judgments_as_one_at_a_time(new_url, tmp_path):
    one, three = new_url("one"), new_url("three")
    with Store(one) as store:
        alone = rerank_dataset(tiny_dataset(), ServerLikeEngine(), store, top_k=4, settings=SETTINGS,
                               progress=False, out_dir=tmp_path / "one")
    # All three queries' runs must be judging at once, or the engine's barrier breaks the run.
    with Store(three) as store:
        together = rerank_dataset(tiny_dataset(), ServerLikeEngine(meet=3), store, top_k=4, settings=SETTINGS,
                                  progress=False, out_dir=tmp_path / "three", queries_in_flight=3)
    assert together.judged == alone.judged == 12 and together.failed == alone.failed
    assert stored(three) == stored(one) and len(stored(one)) == 12
    assert together.runs == alone.runs and list(together.runs["model"]) == ["q1", "q2", "q3"]
    for name in alone.files:
        assert (tmp_path / "three" / alone.files[name].name).read_text() == alone.files[name].read_text()
    with Store(three) as store:  # one run per query, each done
        assert sorted((r.status, r.query_id) for r in store.runs()) == sorted(
            ("done", q["id"]) for q in store.queries())


def test_a_stopped_batch_in_flight_resumes_judging_nothing_twice(new_url):
    url = new_url("store")
    cancel = CancelToken()
    seen = []

    def stop_after_four(judgment):
        seen.append(judgment)
        if len(seen) == 4:
            cancel.cancel()

    with Store(url) as store:
        # Four documents written, then the Cancel (the other documents wait for it).
        first = rerank_dataset(tiny_dataset(), ServerLikeEngine(permits=4), store, top_k=4, settings=SETTINGS,
                               progress=False, cancel=cancel, on_judgment=stop_after_four, queries_in_flight=3)
        statuses = Counter(r.status for r in store.runs())
    assert first.judged == 4 and statuses["cancelled"] >= 1 and "running" not in statuses
    with Store(url) as store:
        second = rerank_dataset(tiny_dataset(), ServerLikeEngine(), store, top_k=4, settings=SETTINGS,
                                progress=False, queries_in_flight=3)
        pairs = Counter((q, j.doc_id) for q, j in all_judgments(store, ServerLikeEngine.model))
    assert second.skipped == first.judged and second.judged == 12 - first.judged
    assert len(pairs) == 12 and set(pairs.values()) == {1}


def test_an_engine_failure_in_one_query_ends_the_batch_with_it_and_the_others_are_finished(new_url):
    class Failing(ServerLikeEngine):
        def generate(self, prompts, settings, cancel=None):
            if "sun" in (prompts[0].text or repr(prompts[0].messages())):
                raise RuntimeError("the server went away")
            yield from super().generate(prompts, settings, cancel)

    url = new_url("store")
    with Store(url) as store, pytest.raises(RuntimeError, match="went away"):
        rerank_dataset(tiny_dataset(), Failing(), store, top_k=4, settings=SETTINGS, progress=False,
                       queries_in_flight=3)
    with Store(url) as store:
        statuses = [r.status for r in store.runs()]
    assert "failed" in statuses and "running" not in statuses


def test_only_engines_whose_calls_run_side_by_side_take_several_queries():
    class Local:
        name = "transformers"

    assert queries_in_flight_for(ServerLikeEngine(), None) == (DEFAULT_QUERIES_IN_FLIGHT, None)
    assert queries_in_flight_for(ServerLikeEngine(), 7) == (7, None)
    assert queries_in_flight_for(Local(), None) == (1, None)
    count, note = queries_in_flight_for(Local(), 4)
    assert count == 1 and "one query at a time" in note


def test_the_cli_on_openai_servers_with_queries_in_flight_stores_what_one_at_a_time_does(new_url, tmp_path, capsys):
    import json

    from erank_studio.cli import main
    from fake_openai_servers import MODEL, fake_servers

    def rerank(url, in_flight):
        capsys.readouterr()
        assert main(["rerank", "--dataset", "sample", "--top-k", "2", "--engine", "openai", "--model", MODEL,
                     "--base-url", base_url, "--db", url, "--out", str(tmp_path / in_flight), "--no-progress",
                     "--max-new-tokens", "64", "--queries-in-flight", in_flight]) == 0
        return json.loads(capsys.readouterr().out)

    def judgments(url):
        with Store(url) as store:
            return {(q, j.doc_id): (j.status, j.score, j.probability, j.prompt_message)
                    for q, j in all_judgments(store, MODEL)}

    one, four = new_url("one"), new_url("four")
    with fake_servers(2) as servers:
        base_url = ",".join(server.url for server in servers)
        alone, together = rerank(one, "1"), rerank(four, "4")
    assert together["judged"] == alone["judged"] > 0 and together["ndcg@10"] == alone["ndcg@10"]
    assert judgments(four) == judgments(one)


def test_queries_in_flight_below_one_is_refused_in_one_line(capsys):
    from erank_studio.cli import main

    assert main(["rerank", "--dataset", "sample", "--queries-in-flight", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: --queries-in-flight must be at least 1"]
