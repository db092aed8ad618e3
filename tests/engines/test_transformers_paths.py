"""Every decode path of the transformers engine keeps the engine's promises: one generation per
document, streamed as each finishes, cancel, and logprobs equal to a teacher-forced pass."""
from __future__ import annotations

import pytest
import torch

from engine_fixtures import DOCUMENTS, make_prompts
from erank_studio.engines.base import FINISH_CANCELLED, FINISH_LENGTH, FINISH_STOP, CancelToken
from erank_studio.engines.transformers_engine import TransformersEngine, shared_prefix_length
from erank_studio.types import GenerationSettings

PATHS = {
    "loop": dict(prefix_reuse=False),
    "loop+prefix": dict(prefix_reuse=True),
    "continuous": dict(decode="continuous"),
}


@pytest.fixture(scope="module", params=list(PATHS))
def path_engine(request, varied_model_dir):
    engine = TransformersEngine(varied_model_dir, device="cpu", dtype="float32", batch_size=4, **PATHS[request.param])
    engine.path_name = request.param
    return engine


def _teacher_forced(engine, text, generated):
    ids = engine.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = engine.hf_model(input_ids=torch.tensor([ids + generated])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return [float(logp[len(ids) - 1 + k, t]) for k, t in enumerate(generated)]


def test_shared_prefix_leaves_every_prompt_a_token_of_its_own():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1, 2, 3]]) == 0
    assert shared_prefix_length([[7, 2], [1, 2]]) == 0


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_logprobs_equal_a_teacher_forced_pass(path_engine, temperature):
    prompts = make_prompts(path_engine.tokenizer)
    settings = GenerationSettings(max_new_tokens=8, temperature=temperature, seed=5)
    generations = list(path_engine.generate(prompts, settings))
    assert sorted(g.index for g in generations) == list(range(len(DOCUMENTS)))
    for g in generations:
        assert g.token_ids, "every document writes at least one token here"
        expected = _teacher_forced(path_engine, prompts[g.index].text, g.token_ids)
        assert g.logprobs == pytest.approx(expected, abs=1e-4)


@pytest.fixture(scope="module")
def plain_loop_output(varied_model_dir):
    """The plain loop's greedy output: one batch, no prefix reuse."""
    plain = TransformersEngine(varied_model_dir, device="cpu", dtype="float32", batch_size=6, prefix_reuse=False)
    return {g.index: g for g in plain.generate(make_prompts(plain.tokenizer), GenerationSettings(max_new_tokens=10))}


def test_every_path_writes_what_the_plain_loop_writes(path_engine, plain_loop_output):
    expected = plain_loop_output
    for g in path_engine.generate(make_prompts(path_engine.tokenizer), GenerationSettings(max_new_tokens=10)):
        assert g.token_ids == expected[g.index].token_ids
        assert g.finish_reason == expected[g.index].finish_reason
        assert g.logprobs == pytest.approx(expected[g.index].logprobs, abs=1e-4)


def test_documents_stream_back_as_each_finishes(path_engine):
    prompts = make_prompts(path_engine.tokenizer)
    settings = GenerationSettings(max_new_tokens=12)
    first = {g.index: g for g in path_engine.generate(prompts, settings)}
    # A token one document writes early and no other writes at all becomes an extra EOS.
    target = stop = None
    for index, g in sorted(first.items()):
        others = {t for j, o in first.items() if j != index for t in o.token_ids}
        for k, token in enumerate(g.token_ids[:8]):  # stops well before the 12-token budget
            if token not in others and token not in g.token_ids[:k]:
                target, stop = index, token
                break
        if target is not None:
            break
    assert target is not None
    saved = path_engine.eos_ids
    path_engine.eos_ids = saved | {stop}
    try:
        order = list(path_engine.generate(prompts, GenerationSettings(max_new_tokens=12)))
    finally:
        path_engine.eos_ids = saved
    assert order[0].index == target and order[0].finish_reason == FINISH_STOP
    assert order[0].output_tokens < 12
    assert sorted(g.index for g in order) == list(range(len(DOCUMENTS)))


def test_cancel_returns_every_document_and_stops_the_rest(path_engine):
    cancel = CancelToken()
    results = []
    for g in path_engine.generate(make_prompts(path_engine.tokenizer), GenerationSettings(max_new_tokens=60), cancel):
        results.append(g)
        cancel.cancel()
    assert sorted(g.index for g in results) == list(range(len(DOCUMENTS)))
    assert results[0].finish_reason != FINISH_CANCELLED
    assert sum(g.finish_reason == FINISH_CANCELLED for g in results) >= 3
    assert all(g.finish_reason in (FINISH_STOP, FINISH_LENGTH) for g in results if g.error is None)


def test_prefix_reuse_reads_the_shared_prefix_once(varied_model_dir):
    counts = {}
    for reuse in (False, True):
        engine = TransformersEngine(varied_model_dir, device="cpu", dtype="float32", batch_size=2, prefix_reuse=reuse)
        read = []
        hook = engine.hf_model.get_input_embeddings().register_forward_pre_hook(
            lambda _module, args: read.append(args[0].numel()) if args[0].shape[1] > 1 else None
        )
        try:
            prompts = make_prompts(engine.tokenizer)
            list(engine.generate(prompts, GenerationSettings(max_new_tokens=2)))
        finally:
            hook.remove()
        counts[reuse] = sum(read)
        ids = engine.tokenizer([p.text for p in prompts], add_special_tokens=False)["input_ids"]
    prefix = shared_prefix_length(ids)
    longest_per_batch = sorted((len(i) for i in ids), reverse=True)[::2]  # batches of 2, longest first
    assert prefix > 50  # template head, instruction and query
    assert counts[False] == 2 * sum(longest_per_batch)
    assert counts[True] == prefix + 2 * sum(n - prefix for n in longest_per_batch)


def test_unknown_decode_path_is_refused(varied_model_dir):
    with pytest.raises(ValueError, match="decode"):
        TransformersEngine(varied_model_dir, device="cpu", decode="fastest")
