"""Pipeline overhead: Reranker.rerank versus the bare engine call on the same prompts.

    python bench/bench_pipeline.py [--docs 100] [--max-new-tokens 32] [--repeats 3]

Tiny random-weight Qwen3 (real architecture and tokenizer) on the CPU. rerank() does everything
a user gets (BM25 first stage, prompt building with truncation, generation, parsing, P(N),
rank_score); the bare call is TransformersEngine.generate on prebuilt prompts. Target: <= 1.05."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from erank_studio import Reranker, prompt  # noqa: E402
from erank_studio.engines.transformers_engine import TransformersEngine  # noqa: E402
from erank_studio.tiny_model import build_tiny_qwen3  # noqa: E402
from erank_studio.types import GenerationSettings  # noqa: E402

QUERY = "Why do cats purr, and is it always a sign of contentment?"


def documents(n: int) -> list[dict]:
    topics = ["purring", "the stock market", "laryngeal muscles", "feline behaviour", "rain"]
    return [
        {"id": f"d{i}", "content": f"Document {i} talks about {topics[i % 5]}. " * (3 + i % 7)}
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    folder = build_tiny_qwen3(Path(tempfile.gettempdir()) / "erank-bench-tiny-qwen3")
    engine = TransformersEngine(str(folder), device="cpu", dtype="float32", batch_size=args.batch_size)
    reranker = Reranker(engine=engine)
    docs = documents(args.docs)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    prompts = [prompt.build(QUERY, d["content"], prompt.DEFAULT_INSTRUCTION, engine.tokenizer) for d in docs]
    list(engine.generate(prompts[:4], settings))  # warm up

    bare, full = [], []
    for repeat in range(args.repeats):
        # Alternate which goes first so neither always runs on a warmer cache.
        for which in ((0, 1) if repeat % 2 == 0 else (1, 0)):
            started = time.perf_counter()
            if which == 0:
                assert len(list(engine.generate(prompts, settings))) == args.docs
                bare.append(time.perf_counter() - started)
            else:
                assert len(reranker.rerank(QUERY, docs, settings=settings)) == args.docs
                full.append(time.perf_counter() - started)
    bare_s, full_s = statistics.median(bare), statistics.median(full)
    print(f"documents: {args.docs}, new tokens per document: {args.max_new_tokens}, repeats: {args.repeats}")
    print(f"bare engine.generate: {bare_s:.3f} s (median), {args.docs / bare_s:.1f} docs/s")
    print(f"Reranker.rerank:      {full_s:.3f} s (median), {args.docs / full_s:.1f} docs/s")
    print(f"pipeline overhead ratio: {full_s / bare_s:.3f} (target <= 1.05)")
    print("per repeat (bare, rerank): " + ", ".join(f"({b:.2f}, {f:.2f})" for b, f in zip(bare, full)))


if __name__ == "__main__":
    main()
