"""OpenAIEngine against a real vLLM OpenAI-compatible server on loopback (CPU, tiny model),
compared with the transformers engine.

Needs vLLM, which the main environment does not have: run ``scripts/test_vllm_cpu.sh``.
Elsewhere the module is skipped."""
from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vLLM is not installed here; run scripts/test_vllm_cpu.sh")

import httpx  # noqa: E402
from engine_fixtures import DOCUMENTS, make_prompts  # noqa: E402

from erank_studio.engines.base import FINISH_ERROR, Engine  # noqa: E402
from erank_studio.engines.openai_engine import OpenAIEngine, ServerUnavailable  # noqa: E402
from erank_studio.types import GenerationSettings  # noqa: E402

MAX_NEW = 24
LOGPROB_TOL = 1e-4
START_TIMEOUT_S = 300
KV_CACHE_BYTES = 256 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(varied_model_dir: str, tmp_path_factory: pytest.TempPathFactory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", varied_model_dir, "--dtype", "float32", "--enforce-eager",
        "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", "1024", "--kv-cache-memory-bytes", str(KV_CACHE_BYTES),
    ]
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "HF_HUB_OFFLINE": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the vLLM server exited ({process.returncode}):\n{_tail(log_path)}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the vLLM server did not answer in {START_TIMEOUT_S} s:\n{_tail(log_path)}")
            time.sleep(1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def reference(varied_model_dir: str):
    from erank_studio.engines.transformers_engine import TransformersEngine

    return TransformersEngine(varied_model_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def engine(server: str, varied_model_dir: str) -> OpenAIEngine:
    return OpenAIEngine(varied_model_dir, base_url=server, tokenizer=varied_model_dir, timeout_s=120)


def test_satisfies_the_engine_protocol(engine) -> None:
    assert isinstance(engine, Engine) and engine.name == "openai"
    assert engine.tokenizer is not None and engine.warning is None


def test_greedy_output_agrees_with_transformers(engine, reference) -> None:
    settings = GenerationSettings(max_new_tokens=MAX_NEW)
    want = {g.index: g for g in reference.generate(make_prompts(reference.tokenizer), settings)}
    got = {g.index: g for g in engine.generate(make_prompts(engine.tokenizer), settings)}
    assert sorted(got) == list(range(len(DOCUMENTS)))
    for index, generation in got.items():
        expected = want[index]
        assert generation.error is None, generation.error
        assert generation.text == expected.text, index
        assert generation.finish_reason == expected.finish_reason
        assert generation.prompt_tokens == expected.prompt_tokens  # same chat template, same tokens
        assert generation.output_tokens == expected.output_tokens
        assert len(generation.logprobs) == len(expected.logprobs)
        assert max(abs(a - b) for a, b in zip(generation.logprobs, expected.logprobs)) < LOGPROB_TOL
        # token texts: the server writes a byte-level fragment as "bytes:\\x..", we decode "\ufffd"
        for mine, theirs in zip(generation.pieces, expected.pieces):
            if "\ufffd" not in theirs:
                assert mine == theirs


def test_force_scores_agree_with_transformers(engine, reference) -> None:
    # vLLM's server takes logprob_token_ids, so the digit probabilities are exact
    for prompt in make_prompts(engine.tokenizer)[:3]:
        for partial in ("<think> unfinished", "<think> done </think>"):
            got = engine.force_scores(prompt, partial)
            want = reference.force_scores(prompt, partial)
            assert got is not None and want is not None
            assert max(abs(got[n] - want[n]) for n in want) < 1e-4
    assert engine._exact_forcing


def test_unreachable_server_fails_fast(varied_model_dir: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ServerUnavailable, match="no OpenAI-compatible server answers"):
        OpenAIEngine(varied_model_dir, base_url=f"http://127.0.0.1:{_free_port()}/v1")
    assert time.perf_counter() - started < 3


def test_a_request_the_server_refuses_becomes_a_failed_generation(engine) -> None:
    # More new tokens than the context holds: vLLM answers HTTP 400 for that document only.
    prompts = make_prompts(engine.tokenizer)[:2]
    results = {g.index: g for g in engine.generate(prompts, GenerationSettings(max_new_tokens=5000))}
    assert set(results) == {0, 1}
    assert all(g.finish_reason == FINISH_ERROR and "HTTP 400" in (g.error or "") for g in results.values())
    ok = list(engine.generate(prompts[:1], GenerationSettings(max_new_tokens=4)))
    assert ok[0].error is None and len(ok[0].logprobs) == ok[0].output_tokens - (ok[0].finish_reason == "stop")
    assert all(math.isfinite(lp) for lp in ok[0].logprobs)


@pytest.mark.parametrize("score", ["7", "10"])
def test_score_distribution_equals_a_teacher_forced_pass(engine, reference, score) -> None:
    # A chat response whose score token lists no alternatives: the digits and P("0" | "1") come
    # from the extra step through the server's completions endpoint.
    from types import SimpleNamespace

    from engine_fixtures import distribution_of, scripted_generation

    tokenizer = engine.tokenizer
    for prompt in make_prompts(tokenizer)[:3]:
        generation, before = scripted_generation(tokenizer, score)
        content = [SimpleNamespace(token=p, top_logprobs=[]) for p in generation.pieces]
        got = distribution_of(engine._score_digits(engine._pool.servers[0], generation, content, prompt))
        prompt_ids = tokenizer(prompt.text, add_special_tokens=False)["input_ids"]
        want = distribution_of(reference._digits_after(prompt_ids + before))
        assert abs(sum(got) - 1.0) < 1e-6
        assert max(abs(a - b) for a, b in zip(got, want)) < 1e-5
