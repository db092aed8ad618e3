"""The transformers engine on a tiny random-weight Qwen3 loaded through from_pretrained."""
import pytest
import torch

from erank_studio import prompt
from erank_studio.engines.base import FINISH_CANCELLED, FINISH_LENGTH, FINISH_STOP, CancelToken
from erank_studio.engines.transformers_engine import TransformersEngine
from erank_studio.types import GenerationSettings

DOCUMENTS = [
    "Cats purr using their laryngeal muscles.",
    "The stock market fell on Tuesday.",
    "Purring " * 40,
    "A",
    "Felines vocalise in many ways, and purring is one of them; " * 5,
]


def _prompts(engine, documents=DOCUMENTS):
    return [prompt.build("why do cats purr", d, prompt.DEFAULT_INSTRUCTION, engine.tokenizer) for d in documents]


def _teacher_forced_logprobs(engine, text, pieces_ids):
    ids = engine.tokenizer(text, add_special_tokens=False)["input_ids"]
    full = torch.tensor([ids + pieces_ids])
    with torch.no_grad():
        logits = engine.hf_model(input_ids=full).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return [float(logp[len(ids) - 1 + k, t]) for k, t in enumerate(pieces_ids)]


@pytest.mark.parametrize("batch_size", [1, 2, 5, 8])
def test_one_generation_per_document_for_any_batch_size(tiny_model_dir, batch_size):
    engine = TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=batch_size)
    results = list(engine.generate(_prompts(engine), GenerationSettings(max_new_tokens=6)))
    assert sorted(g.index for g in results) == list(range(len(DOCUMENTS)))
    for g in results:
        assert g.finish_reason in (FINISH_STOP, FINISH_LENGTH)
        assert len(g.pieces) == len(g.logprobs) <= 6
        assert g.prompt_tokens > 100


def test_left_padded_batches_give_the_same_greedy_output_as_one_by_one(tiny_model_dir):
    single = TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=1)
    batched = TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=5)
    settings = GenerationSettings(max_new_tokens=8)
    one = {g.index: g for g in single.generate(_prompts(single), settings)}
    many = {g.index: g for g in batched.generate(_prompts(batched), settings)}
    for index in one:
        assert one[index].text == many[index].text
        assert one[index].logprobs == pytest.approx(many[index].logprobs, abs=1e-4)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_probabilities_agree_with_an_independent_teacher_forced_pass(tiny_engine, temperature):
    prompts = _prompts(tiny_engine)
    settings = GenerationSettings(max_new_tokens=10, temperature=temperature, seed=3)
    generations = list(tiny_engine.generate(prompts, settings))
    assert len(generations) == len(prompts)
    for g in generations:
        assert g.token_ids and tiny_engine.tokenizer.batch_decode([[i] for i in g.token_ids]) == g.pieces
        expected = _teacher_forced_logprobs(tiny_engine, prompts[g.index].text, g.token_ids)
        assert g.logprobs == pytest.approx(expected, abs=1e-4)


def test_documents_stream_back_as_each_finishes(tiny_model_dir):
    engine = TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=5)
    prompts = _prompts(engine)
    settings = GenerationSettings(max_new_tokens=12, temperature=1.0, seed=7)
    first = {g.index: g for g in engine.generate(prompts, settings)}
    # Make a token that one document emits early (and no other emits) an end-of-sequence token.
    target, stop_token = None, None
    for index, g in first.items():
        others = {p for j, o in first.items() if j != index for p in o.pieces}
        for k, piece in enumerate(g.pieces[:4]):
            if piece not in others and piece not in g.pieces[:k]:
                target, stop_token = index, g.token_ids[k]
                break
        if target is not None:
            break
    assert target is not None
    engine.eos_ids = engine.eos_ids | {stop_token}
    order = [g for g in engine.generate(prompts, settings)]
    assert order[0].index == target and order[0].finish_reason == FINISH_STOP
    assert order[0].output_tokens < 12
    assert all(g.finish_reason == FINISH_LENGTH for g in order[1:])


def test_cancel_stops_the_request_and_returns_every_document(tiny_model_dir):
    engine = TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=2)
    cancel = CancelToken()
    results = []
    for g in engine.generate(_prompts(engine), GenerationSettings(max_new_tokens=5), cancel):
        results.append(g)
        cancel.cancel()
    assert sorted(g.index for g in results) == list(range(len(DOCUMENTS)))
    assert results[0].finish_reason != FINISH_CANCELLED
    assert sum(g.finish_reason == FINISH_CANCELLED for g in results) >= 3


def test_forced_scores_are_a_distribution_over_zero_to_ten(tiny_engine):
    built = _prompts(tiny_engine)[0]
    distribution = tiny_engine.force_scores(built, "<think>unfinished")
    assert sorted(distribution) == list(range(11))
    assert sum(distribution.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in distribution.values())
