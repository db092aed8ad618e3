"""Documents per second on a GPU: the transformers engine versus bare ``model.generate``.

    python bench/bench_gpu_throughput.py [--docs 100] [--new-tokens 410] [--batch-size 100]

A Qwen3-4B-shaped model with random weights (bfloat16, the real Qwen3 tokenizer) judges 100
documents; every document is made to write exactly 410 tokens (ERank-4B's average after RL) by
removing the end-of-sequence tokens, so both paths do the same work. Needs CUDA."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from erank_studio import prompt  # noqa: E402
from erank_studio.engines.transformers_engine import TransformersEngine  # noqa: E402
from erank_studio.tiny_model import build_tiny_qwen3  # noqa: E402
from erank_studio.types import GenerationSettings  # noqa: E402

QWEN3_4B = dict(
    hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
    num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--new-tokens", type=int, default=410)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("this benchmark needs a CUDA GPU")
    folder = build_tiny_qwen3(Path(tempfile.gettempdir()) / "erank-bench-qwen3-4b-shape", **QWEN3_4B)
    engine = TransformersEngine(str(folder), device="cuda", dtype="bfloat16", batch_size=args.batch_size)
    engine.eos_ids = {-1}  # never stop early: every document writes exactly --new-tokens tokens
    docs = [f"Document {i} about purring and feline larynx muscles. " * (20 + i % 30) for i in range(args.docs)]
    prompts = [prompt.build("Why do cats purr?", d, prompt.DEFAULT_INSTRUCTION, engine.tokenizer) for d in docs]
    settings = GenerationSettings(max_new_tokens=args.new_tokens)
    list(engine.generate(prompts[:2], GenerationSettings(max_new_tokens=8)))

    torch.cuda.synchronize()
    started = time.perf_counter()
    results = list(engine.generate(prompts, settings))
    torch.cuda.synchronize()
    engine_s = time.perf_counter() - started
    assert all(len(r.token_ids) == args.new_tokens for r in results)

    tokenizer, model = engine.tokenizer, engine.hf_model
    bare_s = 0.0
    for start in range(0, len(prompts), args.batch_size):
        batch = tokenizer([p.text for p in prompts[start : start + args.batch_size]], return_tensors="pt",
                          padding=True, add_special_tokens=False).to("cuda")
        torch.cuda.synchronize()
        started = time.perf_counter()
        model.generate(**batch, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                       do_sample=False, output_scores=True, return_dict_in_generate=True,
                       pad_token_id=engine.pad_id)
        torch.cuda.synchronize()
        bare_s += time.perf_counter() - started
    print(f"GPU: {torch.cuda.get_device_name()}; {args.docs} documents x {args.new_tokens} new tokens, batch {args.batch_size}")
    print(f"transformers engine: {engine_s:.1f} s, {args.docs / engine_s:.2f} docs/s")
    print(f"bare model.generate: {bare_s:.1f} s, {args.docs / bare_s:.2f} docs/s")


if __name__ == "__main__":
    main()
