"""What reading the score distribution costs the transformers engine's decode loop (CPU).

    python bench/bench_score_digits.py [--docs 16] [--new-tokens 64] [--hidden 256 --layers 4]
                                       [--repeats 3]

A random-weight Qwen3 (real architecture and tokenizer) decodes --docs documents, every one
exactly --new-tokens tokens (EOS removed), with the per-step record of the ten digit tokens'
log-probabilities on (the engine as it ships) and off (``_digit_columns = None``, the loop as it
was before). Prints the median seconds of each and their ratio (target: <= 1.02). The extra step
for P("0" | "1") is a row that stays in a batched step one step longer, for the documents whose
score needs it; random outputs never parse, so it does not run here."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from erank_studio import prompt  # noqa: E402
from erank_studio.engines.transformers_engine import TransformersEngine  # noqa: E402
from erank_studio.tiny_model import build_tiny_qwen3, scaled_shape  # noqa: E402
from erank_studio.types import GenerationSettings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag, default in (("--docs", 16), ("--new-tokens", 64), ("--hidden", 256), ("--layers", 4), ("--repeats", 3)):
        parser.add_argument(flag, type=int, default=default)
    args = parser.parse_args()
    shape = scaled_shape(args.hidden, args.layers)
    folder = build_tiny_qwen3(Path(tempfile.gettempdir()) / f"erank-bench-digits-{args.hidden}x{args.layers}", **shape)
    engine = TransformersEngine(str(folder), device="cpu", dtype="float32", batch_size=args.docs)
    engine.eos_ids = {-1}  # never stop early: both do the same work
    digit_columns = engine._digit_columns
    docs = [f"Document {i}: cats purr at {20 + i} Hz using their laryngeal muscles." for i in range(args.docs)]
    prompts = [prompt.build("why do cats purr?", d, prompt.DEFAULT_INSTRUCTION, engine.tokenizer) for d in docs]
    settings = GenerationSettings(max_new_tokens=args.new_tokens)
    list(engine.generate(prompts[:2], GenerationSettings(max_new_tokens=2)))  # warm up
    seconds: dict[str, list[float]] = {"off": [], "on": []}
    for repeat in range(args.repeats):
        for mode in (("off", "on") if repeat % 2 == 0 else ("on", "off")):
            engine._digit_columns = digit_columns if mode == "on" else None
            started = time.perf_counter()
            list(engine.generate(prompts, settings))
            seconds[mode].append(time.perf_counter() - started)
    off, on = statistics.median(seconds["off"]), statistics.median(seconds["on"])
    print(f"model: hidden {args.hidden} x {args.layers} layers (random weights, float32, CPU); "
          f"{args.docs} documents in one batch, {args.new_tokens} new tokens each")
    print(f"digit record off: {off:.2f} s (median of {args.repeats}; {', '.join(f'{s:.2f}' for s in seconds['off'])})")
    print(f"digit record on:  {on:.2f} s (median of {args.repeats}; {', '.join(f'{s:.2f}' for s in seconds['on'])})")
    print(f"ratio on / off: {on / off:.3f} (target <= 1.02)")


if __name__ == "__main__":
    main()
