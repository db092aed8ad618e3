"""The shared prompt prefix read once per query versus once per document (CPU).

    python bench/bench_prefix_reuse.py [--query-tokens 1000] [--docs 32] [--new-tokens 16]
                                       [--hidden 512 --layers 8] [--repeats 2]

A random-weight Qwen3 (real architecture and tokenizer; the shape is set by --hidden/--layers,
heads of 64 dimensions) judges --docs short documents for one query of --query-tokens tokens,
with the engine's prefix reuse off and on; every document writes exactly --new-tokens tokens
(EOS removed) so both do the same work. Prints the median seconds of each, the speed-up
(target: >= 2x on the default case) and the largest logprob difference (target: <= 1e-4)."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from erank_studio import prompt  # noqa: E402
from erank_studio.engines.transformers_engine import TransformersEngine, shared_prefix_length  # noqa: E402
from erank_studio.tiny_model import build_tiny_qwen3, scaled_shape  # noqa: E402
from erank_studio.types import GenerationSettings  # noqa: E402

WORDS = "why do cats purr when they are content and also when they are hurt or frightened ".split()


def long_query(tokenizer, tokens: int) -> str:
    text, words = "", 0
    while len(tokenizer(text, add_special_tokens=False)["input_ids"]) < tokens:
        text += WORDS[words % len(WORDS)] + " "
        words += 1
    return text.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--query-tokens", type=int, default=1000)
    parser.add_argument("--docs", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    shape = scaled_shape(args.hidden, args.layers)
    folder = build_tiny_qwen3(Path(tempfile.gettempdir()) / f"erank-bench-prefix-{args.hidden}x{args.layers}", **shape)
    engines = {
        reuse: TransformersEngine(str(folder), device="cpu", dtype="float32", batch_size=args.batch_size, prefix_reuse=reuse)
        for reuse in (False, True)
    }
    for engine in engines.values():
        engine.eos_ids = {-1}  # never stop early: both do the same work
    tokenizer = engines[True].tokenizer
    query = long_query(tokenizer, args.query_tokens)
    docs = [f"Document {i}: cats purr at {20 + i} Hz using their laryngeal muscles." for i in range(args.docs)]
    prompts = [prompt.build(query, d, prompt.DEFAULT_INSTRUCTION, tokenizer) for d in docs]
    ids = tokenizer([p.text for p in prompts], add_special_tokens=False)["input_ids"]
    settings = GenerationSettings(max_new_tokens=args.new_tokens)
    list(engines[True].generate(prompts[:2], GenerationSettings(max_new_tokens=2)))  # warm up

    seconds: dict[bool, list[float]] = {False: [], True: []}
    outputs: dict[bool, dict[int, list[float]]] = {}
    for repeat in range(args.repeats):
        for reuse in ((False, True) if repeat % 2 == 0 else (True, False)):
            started = time.perf_counter()
            results = list(engines[reuse].generate(prompts, settings))
            seconds[reuse].append(time.perf_counter() - started)
            outputs[reuse] = {g.index: g for g in results}
    same_tokens = all(outputs[True][i].token_ids == outputs[False][i].token_ids for i in outputs[True])
    diff = max(abs(a - b) for i in outputs[True] for a, b in zip(outputs[True][i].logprobs, outputs[False][i].logprobs))
    off, on = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"model: hidden {args.hidden} x {args.layers} layers (random weights, float32, CPU); "
          f"{args.docs} documents, batch {args.batch_size}, {args.new_tokens} new tokens each")
    print(f"prompt tokens: {min(map(len, ids))}-{max(map(len, ids))}, shared prefix {shared_prefix_length(ids)}")
    print(f"without prefix reuse: {off:.2f} s (median of {args.repeats}; {', '.join(f'{s:.2f}' for s in seconds[False])})")
    print(f"with prefix reuse:    {on:.2f} s (median of {args.repeats}; {', '.join(f'{s:.2f}' for s in seconds[True])})")
    print(f"speed-up: {off / on:.2f}x (target >= 2x); same tokens: {same_tokens}; "
          f"largest logprob difference: {diff:.2e} (target <= 1e-4)")


if __name__ == "__main__":
    main()
