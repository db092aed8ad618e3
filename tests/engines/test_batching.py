"""The batch size the transformers engine takes: from memory on a GPU, the default on a CPU."""
from __future__ import annotations

from transformers import Qwen3Config

from erank_studio.engines.batching import (
    CPU_BATCH_SIZE,
    kv_bytes_per_token,
    length_batches,
    memory_batch_size,
    prefill_bytes_per_token,
)
from erank_studio.engines.transformers_engine import TransformersEngine

QWEN3_4B = Qwen3Config(
    vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
    num_attention_heads=32, num_key_value_heads=8, head_dim=128,
)
GIB = 2**30
BF16 = 2


def test_kv_cache_bytes_come_from_the_model_config():
    # 2 (keys, values) x 36 layers x 8 KV heads x 128 dims x 2 bytes
    assert kv_bytes_per_token(QWEN3_4B, BF16) == 147_456
    assert prefill_bytes_per_token(QWEN3_4B, BF16) == (4 * 2560 + 2 * 9728) * 2


def test_a_100_document_query_is_one_batch_on_an_80_gb_card():
    # 80 GB less ERank-4B's 8 GB of bfloat16 weights; prompts of 1,200 tokens, 2,048 new tokens.
    per_document = 147_456 * (1200 + 2048) + 59_392 * 1200 + 3 * 4 * 151936  # 552,030,720 bytes
    plan = memory_batch_size(QWEN3_4B, BF16, [1200] * 100, 2048, free_bytes=70 * GIB)
    assert int(0.85 * 70 * GIB) // per_document == 115
    assert plan.size == 100 and plan.rule == "memory"
    assert "70.0 GiB free" in plan.describe() and "1200 + 2048 tokens" in plan.describe()


def test_less_memory_gives_a_smaller_batch_sized_by_the_longest_prompt():
    assert memory_batch_size(QWEN3_4B, BF16, [1200] * 100, 2048, free_bytes=20 * GIB).size == 33
    # One long prompt sizes the batch for all (they are batched longest first).
    assert memory_batch_size(QWEN3_4B, BF16, [300] * 99 + [4300], 2048, free_bytes=20 * GIB).size == 15
    # Nothing fits: still one document at a time, never zero.
    assert memory_batch_size(QWEN3_4B, BF16, [1200] * 10, 2048, free_bytes=GIB // 4).size == 1


def test_a_much_shorter_document_starts_a_new_batch():
    # One prompt at the truncation limit and four short ones: the long one alone (its 2,048
    # tokens of padding would otherwise be prefilled for every short one).
    assert length_batches([0, 1, 2, 3, 4], [2100, 160, 150, 150, 140], 16) == [[0], [1, 2, 3, 4]]
    # Within 2x of the batch's longest (exactly half included), batches fill up to the size.
    assert length_batches([0, 1, 2, 3], [200, 150, 100, 99], 16) == [[0, 1, 2], [3]]
    assert length_batches([4, 3, 2, 1, 0], [10, 10, 10, 10, 10], 2) == [[4, 3], [2, 1], [0]]
    assert length_batches([], [], 4) == []


def test_the_engine_prefills_a_long_prompt_apart_from_short_ones(varied_model_dir):
    from engine_fixtures import make_prompts
    from erank_studio.types import GenerationSettings

    engine = TransformersEngine(varied_model_dir, device="cpu", dtype="float32", batch_size=8,
                                prefix_reuse=False)
    shapes: list[tuple[int, int]] = []
    hook = engine.hf_model.register_forward_pre_hook(
        lambda _m, _a, kwargs: shapes.append(tuple(kwargs["input_ids"].shape))
        if kwargs["input_ids"].shape[1] > 1 else None, with_kwargs=True)
    try:
        prompts = make_prompts(engine.tokenizer, ["Cats purr.", "word " * 1500, "Dogs bark."])
        got = list(engine.generate(prompts, GenerationSettings(max_new_tokens=2, temperature=0.0)))
    finally:
        hook.remove()
    assert sorted(g.index for g in got) == [0, 1, 2]
    assert [rows for rows, _width in shapes] == [1, 2]  # the long prompt alone, then the two short
    assert shapes[0][1] > 2 * shapes[1][1]


def test_cpu_keeps_the_default_and_a_set_size_is_kept(varied_model_dir):
    default = TransformersEngine(varied_model_dir, device="cpu", dtype="float32")
    assert default.batch_size == CPU_BATCH_SIZE
    assert "CPU default" in default.describe()["batch"]
    fixed = TransformersEngine(varied_model_dir, device="cpu", dtype="float32", batch_size=3)
    assert fixed.batch_size == 3 and fixed.describe()["batch_size"] == 3


def test_the_chosen_size_reaches_the_ui_status_and_the_cli_progress_line(varied_model_dir):
    from erank_studio.engines.base import batch_note
    from erank_studio.ui.engine_provider import describe
    from erank_studio.ui.render import md_escape

    engine = TransformersEngine(varied_model_dir, device="cpu", dtype="float32", batch_size=5)
    assert md_escape("5 documents a batch (set by the caller)") in describe(engine)
    assert batch_note(engine) == ", batch 5"
    assert batch_note(object()) == ""  # engines whose server schedules the batch say nothing
