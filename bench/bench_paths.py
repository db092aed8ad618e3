"""Every user path against the bare reranker, the UI's store operations as the store grows, and
the start-up times: one command, one table each.

    .venv/bin/python bench/bench_paths.py [--sizes 100,1000] [--max-new-tokens 8] [--repeats 3]
        [--torch-threads 1] [--store-sizes 10000,100000,500000] [--skip paths,store,startup]
        [--startup-repeats 3] [--no-bytecode-cache]

1. Paths (same engine object, same documents, same settings, in this process; process start-up
   and model loading excluded): ``Reranker.rerank`` (the bare reranker), CLI ``rerank --docs``,
   CLI ``rerank --dataset`` (a BEIR folder of one query), the web app's Rerank handler (the
   generator a click runs, followed to the end) with the documents typed in its box or uploaded
   as a file (the upload handler's reading and listing timed too), and the ``/rerank_documents`` API function
   (iterated to its last message). The engine is the tiny random-weight Qwen3 on the CPU (real
   architecture and tokenizer), so the model costs something and the pipeline's own cost shows.
   Printed: wall seconds and their ratio to the bare reranker (target <= 1.10), and the
   process's CPU seconds and their ratio. On a shared machine the wall time is mostly other
   people's work; the CPU time counts only this process (all its threads), so its ratio is the
   figure that survives load. Torch runs ``--torch-threads`` threads (1 by default: two threads
   on two busy cores wait on each other at every operation and the timings scatter by 2x).
2. Store operations at --store-sizes judgments: bench/bench_store.py's ``ui_operations`` (open
   run, run list, alpha change, per-query lookup: reused, not copied), then the Analyze tab's
   work (labels + its four figures) on a 1,000-document run, timed here on a store filled by
   bench_store's own filler.
3. Start-up: ``--help``; ``prompt`` vs loading the tokenizer alone (target <= 1.2x); the page's
   first answer vs a minimal Gradio app's (target <= 1.2x), interleaved, each as wall seconds and
   as the child process's CPU seconds until that moment (read from /proc when it answers). One
   untimed round first (it creates the store and the bytecode caches); the children may write
   bytecode caches (--no-bytecode-cache: every start compiles the project's modules, as under
   PYTHONDONTWRITEBYTECODE, while gradio's come compiled).

A path that fails (an API changed under it) prints why and the others still run."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUERY = "Why do cats purr, and is it always a sign of contentment?"
TOPICS = ["purring", "the stock market", "laryngeal muscles", "feline behaviour", "rain"]


def documents(n: int) -> list[dict]:
    return [{"id": f"d{i}", "content": f"Document {i} talks about {TOPICS[i % 5]}. " * (3 + i % 7)} for i in range(n)]


# -- 1. paths --------------------------------------------------------------------------------

class Paths:
    """Each user path as ``prepare(documents)`` -> the call that runs it to the end. What a
    person has before acting (the documents' file, the open store) is prepared untimed."""

    def __init__(self, engine, max_new_tokens: int, work: Path) -> None:
        from erank_studio.types import GenerationSettings

        self.engine, self.max_new, self.work = engine, max_new_tokens, work
        self.settings = GenerationSettings(max_new_tokens=max_new_tokens)
        self._patch_cli_engine()

    def _patch_cli_engine(self) -> None:
        # The CLI loads its engine from --model; here it gets the already loaded one (loading is
        # start-up, reported separately).
        import erank_studio.cli.common as common
        import erank_studio.cli.rerank as rerank

        for module in (common, rerank):
            if hasattr(module, "engine_from"):
                module.engine_from = lambda _args: self.engine

    def bare(self, docs: list[dict]) -> Callable[[], None]:
        from erank_studio import Reranker

        reranker = Reranker(engine=self.engine)
        return lambda: self._check(len(reranker.rerank(QUERY, docs, settings=self.settings)), len(docs))

    @staticmethod
    def _check(got: int, wanted: int) -> None:
        if got != wanted:
            raise RuntimeError(f"{got} results for {wanted} documents")

    def _cli(self, argv: list[str]) -> None:
        from erank_studio.cli import main

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            code = main(argv)
        if code != 0:
            raise RuntimeError(f"exit {code}: {err.getvalue().strip()[-300:]}")

    def cli_docs(self, docs: list[dict]) -> Callable[[], None]:
        path = self.work / f"docs-{len(docs)}.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in docs))
        return lambda: self._cli(["rerank", "--query", QUERY, "--docs", str(path), "--max-new-tokens", str(self.max_new)])

    def cli_dataset(self, docs: list[dict]) -> Callable[[], None]:
        folder = self.work / f"beir-{len(docs)}-{time.monotonic_ns()}"  # fresh: nothing to resume
        folder.mkdir()
        (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d["id"], "text": d["content"]}) + "\n" for d in docs))
        (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": QUERY}) + "\n")
        (folder / "qrels").mkdir()
        (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\n")
        from erank_studio.store import Store

        Store(f"sqlite:///{folder}/store.sqlite")  # the store exists before the command runs
        return lambda: self._cli(["rerank", "--dataset", str(folder), "--top-k", str(len(docs)), "--max-new-tokens",
                                  str(self.max_new), "--db", f"sqlite:///{folder}/store.sqlite", "--out", str(folder / "runs")])

    def _context(self):
        from erank_studio.store import Store
        from erank_studio.ui.context import Context, Defaults
        from erank_studio.ui.engine_provider import EngineProvider

        store = Store(f"sqlite:///{self.work}/ui-{time.monotonic_ns()}.sqlite")
        provider = EngineProvider(loader=lambda *_a, **_k: self.engine)
        defaults = dataclasses.replace(Defaults(), model=self.engine.model, engine="transformers",
                                       max_new_tokens=self.max_new)
        return Context(store=store, provider=provider, defaults=defaults)

    @staticmethod
    def _text(docs: list[dict]) -> str:
        return "".join(json.dumps(d) + "\n" for d in docs)

    def ui_rerank(self, docs: list[dict]) -> Callable[[], None]:
        run_handler, text = self._run_handler(), self._text(docs)
        return lambda: run_handler(text, None)

    def ui_upload(self, docs: list[dict]) -> Callable[[], None]:
        """The web app's Rerank with the documents uploaded as a JSONL file: the upload handler's
        work (read the file, show the list), then the run over that list."""
        from erank_studio.ui import doc_input, rerank_tab

        run_handler = self._run_handler()
        path = self.work / f"upload-{len(docs)}-{time.monotonic_ns()}.jsonl"
        path.write_text(self._text(docs), encoding="utf-8")

        def run() -> None:
            loaded = rerank_tab.LoadedList(path.name, doc_input.parse_file(str(path)))
            rerank_tab.show_list(loaded)
            run_handler("", loaded)

        return run

    def _run_handler(self) -> Callable[[str, object], None]:
        """The Rerank click's generator on a fresh store, followed to the end of the run."""
        import gradio as gr

        from erank_studio.ui import rerank_tab, run_progress

        ctx = self._context()
        with gr.Blocks():  # the Rerank view's components: the handler's inputs and updates are keyed by them
            ui = rerank_tab.build(ctx)
        handler = run_progress.make_run_handler(ctx, ui)

        def run(text: str, loaded: object) -> None:
            values = run_progress.inputs_for(
                ui, query=QUERY, instruction="", documents_text=text, loaded=loaded, model=ctx.defaults.model,
                engine="transformers", base_url="", truncate_length=2048, alpha=0.2, max_new_tokens=self.max_new,
                force=False, sort_by="rank", annotator="", bench=None)
            for _ in handler(values):
                pass
            if not ctx.jobs.wait_idle(60):
                raise RuntimeError("the run did not finish")

        return run

    def api(self, docs: list[dict]) -> Callable[[], None]:
        from erank_studio.ui.api import api_rerank

        ctx = self._context()
        rerank_documents = api_rerank(ctx)
        text = self._text(docs)

        def run() -> None:
            last = None
            for last in rerank_documents(QUERY, text, max_new_tokens=self.max_new):
                pass
            if last is None or len(last.get("judgments") or []) != len(docs):
                raise RuntimeError("the API's last message lacks the ranked list")

        return run


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def bench_paths(sizes: list[int], max_new_tokens: int, repeats: int, batch_size: int, torch_threads: int) -> None:
    import torch

    from erank_studio import prompt
    from erank_studio.engines.transformers_engine import TransformersEngine
    from erank_studio.tiny_model import build_tiny_qwen3

    torch.set_num_threads(torch_threads)
    folder = build_tiny_qwen3(Path(tempfile.gettempdir()) / "erank-bench-tiny-qwen3")
    engine = TransformersEngine(str(folder), device="cpu", dtype="float32", batch_size=batch_size)
    list(engine.generate([prompt.build(QUERY, "warm up", prompt.DEFAULT_INSTRUCTION, engine.tokenizer)],
                         engine_settings(max_new_tokens)))
    with tempfile.TemporaryDirectory() as work:
        paths = Paths(engine, max_new_tokens, Path(work))
        runs: list[tuple[str, Callable[[list[dict]], Callable[[], None]]]] = [
            ("Reranker.rerank (bare)", paths.bare), ("CLI rerank --docs", paths.cli_docs),
            ("CLI rerank --dataset", paths.cli_dataset), ("UI Rerank", paths.ui_rerank),
            ("UI Rerank (uploaded file)", paths.ui_upload), ("API /rerank_documents", paths.api),
        ]
        print(f"\n1. user paths vs the bare reranker: tiny random Qwen3 (CPU, {torch.get_num_threads()} torch "
              f"thread{'s' if torch.get_num_threads() != 1 else ''}), {max_new_tokens} new tokens a document, engine "
              f"batch {engine.batch_size}, median of {repeats} (interleaved); target ratio <= 1.10")
        # name -> documents -> [(wall s, CPU s)], or why the path failed
        times: dict[str, dict[int, list[tuple[float, float]] | str]] = {name: {} for name, _ in runs}
        loads: dict[int, list[str]] = {}
        for n in sizes:
            docs = documents(n)
            loads[n] = [_load()]
            for repeat in range(repeats):
                # Rotate the order so no path always runs on the warmest caches.
                for name, prepare in runs[repeat % len(runs):] + runs[: repeat % len(runs)]:
                    if isinstance(times[name].get(n), str):
                        continue
                    try:
                        run = prepare(docs)
                        started, cpu = time.perf_counter(), time.process_time()
                        run()
                        sample = (time.perf_counter() - started, time.process_time() - cpu)
                        times[name].setdefault(n, []).append(sample)  # type: ignore[union-attr]
                    except Exception as error:  # report and go on: one broken path must not hide the rest
                        times[name][n] = f"failed: {type(error).__name__}: {str(error)[:120]}"
            loads[n].append(_load())
        print_path_table(times, runs[0][0], sizes)
        for n in sizes:
            print(f"{n} documents: {loads[n][0]} before, {loads[n][1]} after (2 CPUs' worth of others' work doubles "
                  "wall times)")


def print_path_table(times: dict[str, dict[int, list[tuple[float, float]] | str]], bare: str,
                     sizes: list[int]) -> None:
    """Wall and CPU seconds of each path with their ratios to ``bare`` (* above 1.10)."""
    print(f"{'path':<27}" + "".join(f"{f'{n} docs wall s':>17}{'ratio':>7}{'CPU s':>8}{'ratio':>7}" for n in sizes))
    failures = []
    for name, by_size in times.items():
        cells = ""
        for n in sizes:
            value = by_size.get(n)
            base = times[bare].get(n)
            if isinstance(value, str) or value is None:
                cells += f"{'failed':>17}{'':>22}"
                failures.append(f"  {name} at {n}: {value}")
                continue
            for column, width in ((0, 17), (1, 8)):
                seconds = statistics.median(v[column] for v in value)
                ratio = (seconds / statistics.median(v[column] for v in base)
                         if isinstance(base, list) else float("nan"))
                flag = "*" if ratio > 1.10 and name != bare else " "
                cells += f"{seconds:>{width}.2f}{ratio:>6.2f}{flag}"
        print(f"{name:<27}{cells}")
    print("(* above 1.10)")
    for line in failures:
        print(line)


def engine_settings(max_new_tokens: int):
    from erank_studio.types import GenerationSettings

    return GenerationSettings(max_new_tokens=max_new_tokens)


# -- 2. store operations -------------------------------------------------------------------

def bench_store_module():
    spec = importlib.util.spec_from_file_location("bench_store", ROOT / "bench" / "bench_store.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def bench_store_operations(sizes: list[int]) -> None:
    from erank_studio.store import Store
    from erank_studio.ui import plots, session

    module = bench_store_module()
    print(f"\n2. store operations as the store grows ({', '.join(f'{s:,}' for s in sizes)} judgments; {_load()})")
    if not hasattr(module, "ui_operations") or not hasattr(module, "_filler"):
        print("   bench/bench_store.py on this branch has no ui_operations/_filler: skipped")
        return
    with tempfile.TemporaryDirectory() as work:
        module.ui_operations(Store(f"sqlite:///{work}/ops.sqlite"), sizes)
        store = Store(f"sqlite:///{work}/analyze.sqlite")
        print(f"Analyze tab (labels + 4 figures, median of 5, ms) on the newest {module.FILLER_RUN}-document run:")
        held = 0
        for size in sizes:
            module._filler(store, held, size)
            held = max(held, size)
            view = session.open_run(store, store.runs(limit=1)[0].id)

            def analyze() -> None:
                human = session.label_scores(store, view, "bench")
                plots.score_histogram(view.judgments, human)
                plots.rank_vs_first_stage(view.judgments, human, "human label")
                plots.ndcg_curves(view.judgments, view.qrels, human)
                plots.agreement_figure(view.judgments, human)

            open_ms = module._timed(lambda: session.open_run(store, view.run_id))
            print(f"{size:>10,} judgments: Analyze {module._timed(analyze):.1f} ms; open run as the UI does "
                  f"(session.open_run) {open_ms:.1f} ms ({_load()})")


# -- 3. start-up ---------------------------------------------------------------------------

def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_seconds(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of running ``command`` to its end."""
    started, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(command, cwd=ROOT, capture_output=True, check=True, env=env)
    return time.perf_counter() - started, _children_cpu() - cpu


def _medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def _env(bytecode: bool = True) -> dict[str, str]:
    """The children's environment. ``bytecode``: they may write the project's bytecode caches
    (__pycache__, git-ignored), as any start from a checkout or an install does; with
    PYTHONDONTWRITEBYTECODE set (as on some build machines) every start compiles the project's
    modules again, while gradio's site-packages come compiled."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _process_cpu(pid: int) -> float:
    """CPU seconds a live process (all its threads) has used so far; NaN where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _page_seconds(command: list[str], port: int, env: dict[str, str], timeout: float = 180) -> tuple[float, float]:
    """(wall s, the process's CPU s) from starting ``command`` until http://127.0.0.1:port/
    answers 200."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"exited with {process.returncode} before answering")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as reply:
                    if reply.status == 200:
                        return time.perf_counter() - started, _process_cpu(process.pid)
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"no answer within {timeout:.0f} s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def bench_startup(repeats: int, bytecode: bool = True) -> None:
    from erank_studio.models import qwen3_tokenizer_folder

    py = sys.executable
    env = _env(bytecode)
    print(f"\n3. start-up (median of {repeats} after one untimed round, interleaved; wall s / CPU s of the "
          f"process; bytecode caches {'kept' if bytecode else 'off'}; {_load()})")
    commands = {
        "help": [py, "-m", "erank_studio", "--help"],
        "prompt": [py, "-m", "erank_studio", "prompt", "--query", QUERY, "--document", "Cats purr."],
        "tokenizer": [py, "-c", "from transformers import AutoTokenizer; "
                      f"AutoTokenizer.from_pretrained({qwen3_tokenizer_folder()!r})"],
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in (*commands, "page", "minimal")}
    with tempfile.TemporaryDirectory() as work:
        # Round 0 is not counted: it creates the store (a first start migrates it) and the bytecode
        # caches, which every later start of either side finds.
        page_failed = False
        for round_ in range(repeats + 1):
            kept = samples if round_ else {name: [] for name in samples}
            for name, command in commands.items():
                kept[name].append(_run_seconds(command, env))
            if page_failed:
                continue
            try:
                port = _free_port()
                kept["page"].append(_page_seconds([py, "-m", "erank_studio", "serve", "--port", str(port),
                                                   "--db", f"sqlite:///{work}/serve.sqlite"], port, env))
                port = _free_port()
                kept["minimal"].append(_page_seconds(
                    [py, "-c", "import gradio as gr\nwith gr.Blocks() as demo:\n    gr.Markdown('hi')\n"
                     f"demo.launch(server_port={port}, server_name='127.0.0.1')"], port, env))
            except Exception as error:
                print(f"page start-up: failed ({error})")
                samples["page"], samples["minimal"], page_failed = [], [], True
    (help_s, help_cpu) = _medians(samples["help"])
    print(f"python -m erank_studio --help: {help_s:.2f} s / {help_cpu:.2f} s CPU (target < 0.3)")
    for name, base, target in (("prompt", "tokenizer", "the tokenizer alone"), ("page", "minimal", "a minimal Gradio app")):
        if not samples[name]:
            continue
        (wall, cpu), (base_wall, base_cpu) = _medians(samples[name]), _medians(samples[base])
        print(f"{name}: {wall:.2f} s / {cpu:.2f} s CPU; {target}: {base_wall:.2f} s / {base_cpu:.2f} s CPU; "
              f"ratio {wall / base_wall:.2f} wall, {cpu / base_cpu:.2f} CPU (target <= 1.2)")
    print(f"({_load()} after)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="documents per path run")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=100, help="the engine's batch for every path")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each path run")
    parser.add_argument("--store-sizes", default="10000,100000,500000")
    parser.add_argument("--startup-repeats", type=int, default=3)
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="start-up children keep PYTHONDONTWRITEBYTECODE (each start compiles the project)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch's threads for the paths (1: steadier timings on a busy machine)")
    parser.add_argument("--skip", default="", help="comma-separated: paths, store, startup")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    skip = set(args.skip.split(","))
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work inflates wall times)")
    if "paths" not in skip:
        bench_paths([int(s) for s in args.sizes.split(",")], args.max_new_tokens, args.repeats, args.batch_size,
                    args.torch_threads)
    if "store" not in skip:
        bench_store_operations([int(s) for s in args.store_sizes.split(",") if s])
    if "startup" not in skip:
        bench_startup(args.startup_repeats, bytecode=not args.no_bytecode_cache)


if __name__ == "__main__":
    main()
