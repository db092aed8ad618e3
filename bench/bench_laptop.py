"""Documents per minute on a CPU, for the README's "What to expect on a laptop".

    python bench/bench_laptop.py [--docs 8] [--max-new-tokens 48] [--models tiny,demo,qwen3-0.6b-shape]

Each model judges the same documents (about 400 tokens each) through ``Reranker.rerank`` with a
forced answer, its batch as the app would use it, torch on every core of this machine:

- ``tiny``: the stand-in the tests serve as Alibaba-NLP/ERank-4B (random Qwen3, hidden 64);
- ``demo``: the bundled SmolLM2-135M (GGUF dequantized to float32), the offline fallback;
- ``qwen3-0.6b-shape``: a random-weight model of Qwen3-0.6B's exact shape (float32, batch 4,
  what the CPU default runs), built here since the weights are not on this machine. Random weights
  never stop early, so every document decodes the whole budget: its per-token cost is the real
  model's (the same matrices), only its trace lengths are not.

Printed per model: wall seconds, documents per minute at this budget, and the seconds per
generated token per document. A real trace's length decides the rest: the README multiplies that
per-token cost by a trace length (Qwen3 thinking on a relevance question: a few hundred tokens, up
to the 1,024-token CPU budget)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from erank_studio import Reranker  # noqa: E402
from erank_studio.models import CPU_BATCH_SIZE  # noqa: E402
from erank_studio.types import GenerationSettings  # noqa: E402

# Qwen3-0.6B's config.json (hidden 1024, 28 layers, 16 query / 8 KV heads of 128, MLP 3072).
QWEN3_06B_SHAPE = dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, max_position_embeddings=40960)
QUERY = "Why do cats purr, and is it always a sign of contentment?"


def documents(n: int) -> list[dict]:
    sentence = ("Purring is produced by the laryngeal muscles, which open and close the glottis about "
                "25 to 150 times a second while the cat breathes in and out. ")
    return [{"id": f"d{i}", "content": f"Document {i}. " + sentence * 12} for i in range(n)]


def engine_for(name: str, folder: Path):
    from erank_studio.engines import load_demo_engine
    from erank_studio.engines.transformers_engine import TransformersEngine
    from erank_studio.tiny_model import build_tiny_qwen3

    if name == "demo":
        return load_demo_engine()
    if name == "tiny":
        return TransformersEngine(str(build_tiny_qwen3(folder / "tiny")), device="cpu", dtype="float32",
                                  batch_size=CPU_BATCH_SIZE)
    if name == "qwen3-0.6b-shape":
        model = build_tiny_qwen3(folder / "qwen3-0.6b-shape", **QWEN3_06B_SHAPE)
        return TransformersEngine(str(model), device="cpu", dtype="float32", batch_size=CPU_BATCH_SIZE,
                                  is_reranker=False)
    raise SystemExit(f"unknown model {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--models", default="tiny,demo,qwen3-0.6b-shape")
    args = parser.parse_args()
    docs = documents(args.docs)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, force_answer=True)
    print(f"{args.docs} documents, budget {args.max_new_tokens}, load average {os.getloadavg()[0]:.1f}, "
          f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            engine = engine_for(name, Path(tmp))
            reranker = Reranker(engine=engine)
            reranker.rerank(QUERY, docs[:1], settings=GenerationSettings(max_new_tokens=2, force_answer=True))
            started = time.perf_counter()
            results = reranker.rerank(QUERY, docs, settings=settings)
            elapsed = time.perf_counter() - started
            tokens = sum(r["output_tokens"] or 0 for r in results) / len(results)
            prompt_tokens = sum(r["prompt_tokens"] or 0 for r in results) / len(results)
            per_token = elapsed / len(results) / max(tokens, 1)
            print(f"{name}: {elapsed:.1f} s, {60 * len(results) / elapsed:.1f} documents/min, "
                  f"{prompt_tokens:.0f} prompt + {tokens:.0f} generated tokens a document, "
                  f"{per_token * 1000:.1f} ms per generated token per document (prefill included), "
                  f"batch {engine.batch_size}")


if __name__ == "__main__":
    main()
