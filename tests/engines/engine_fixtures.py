"""Helpers for the engine tests: a tiny Qwen3 whose greedy output varies.

``build_tiny_qwen3`` ties the output head to the embeddings, and with random weights a tied model
just repeats its last input token (a newline, for a chat prompt). For engine comparisons that is
too easy, so the fixture unties the head with its own random weights, and makes the EOS row and
the digit rows larger so that some outputs stop early (EOS handling is exercised) and digits
reach the top 20 (answer forcing is exercised)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from erank_studio.prompt import DEFAULT_INSTRUCTION, Prompt, build

EOS_SCALE = 2.0
DIGIT_SCALE = 2.0
DOCUMENTS = [
    "short",
    "a much longer document about cats " * 10,
    "dogs and more dogs",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "x",
    "Paris is the capital of France.",
]
QUERY = "what is a cat?"


def varied_tiny_qwen3(folder: Path) -> Path:
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    from erank_studio.tiny_model import build_tiny_qwen3

    stamp = folder / "varied_stamp.txt"
    signature = f"eos={EOS_SCALE} digits={DIGIT_SCALE}"
    if stamp.exists() and stamp.read_text() == signature:
        return folder
    base = build_tiny_qwen3(folder.parent / (folder.name + "-base"))
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(base, folder)
    weights = load_file(folder / "model.safetensors")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    head = torch.randn(weights["model.embed_tokens.weight"].shape, generator=torch.Generator().manual_seed(0))
    head[tokenizer.convert_tokens_to_ids("<|im_end|>")] *= EOS_SCALE
    for digit in "0123456789":
        head[tokenizer(digit, add_special_tokens=False)["input_ids"][0]] *= DIGIT_SCALE
    weights["lm_head.weight"] = head
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((folder / "config.json").read_text())
    config["tie_word_embeddings"] = False
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    stamp.write_text(signature)
    return folder


def make_prompts(tokenizer, documents: list[str] = DOCUMENTS) -> list[Prompt]:
    return [build(QUERY, d, DEFAULT_INSTRUCTION, tokenizer) for d in documents]


SCRIPTED_HEAD = "<think>ok</think><answer>"


def scripted_generation(tokenizer, score: str):
    """A finished output ``<think>ok</think><answer>`` + score as an engine would hand it back
    (the random models never write one), and the tokens before the score."""
    from erank_studio.engines.base import FINISH_STOP, Generation

    text = SCRIPTED_HEAD + score
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    generation = Generation(index=0, text=text, pieces=tokenizer.batch_decode([[i] for i in ids]),
                            token_ids=ids, finish_reason=FINISH_STOP)
    return generation, ids[: len(ids) - len(score)]


def distribution_of(digits) -> list[float]:
    from erank_studio.scoring import score_distribution

    assert digits is not None
    return score_distribution(digits.first, digits.zero_after_one)
