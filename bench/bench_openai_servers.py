"""Documents per second through 1, 2 and 4 OpenAI-compatible servers (the openai engine's
several-servers routing), against local fake servers whose answers take a simulated time per
generated token, so that the servers, not this machine's CPU, are the limit.

Run (about 5 minutes; the defaults written out in the second line):

    .venv/bin/python bench/bench_openai_servers.py
    .venv/bin/python bench/bench_openai_servers.py --servers 1 2 4 --passes 3 --concurrency 16 \\
        --latency-per-token 0.004 --output-tokens 250

Seen here (2 CPU cores shared with other work, load 7-10): 14.5 / 28.5 / 53.5 documents a second
through 1 / 2 / 4 servers, 1.97x and 3.69x one server's (goal 1.8x and 3.6x), every server at 15-16
requests in flight from the first second to the last query. With answers half as long
(``--output-tokens 125 --passes 2``, load 11-12) 1.91x and 3.43x: the servers were as full, and
the client's own CPU per request (this process: HTTP, JSON, parsing) was the limit at 95 requests
a second.

What it does, plainly:
- Each fake server (tests/fake_openai_servers.py) runs in its own process, so the servers' HTTP
  work does not share this process's interpreter; an answer takes output_tokens x
  latency_per_token (a sleep: like a batching server, it "decodes" any number of requests at once).
  One server therefore delivers concurrency / (output_tokens x latency) documents a second.
- One OpenAIEngine with ``base_url`` = the N servers and ``concurrency`` per server judges the
  bundled sample's queries (``--dataset sample``: 40 queries x 20 documents) ``--passes`` times
  (a few passes, so that the last queries' tail is a small part of the run)
  through ``judge.judge``, the batch's own pipeline. One query's documents all go to one server,
  so several queries must be in flight: 2 x N driver threads take the next query from one queue
  until none is left (as ``rerank --dataset --queries-in-flight`` runs each query's judging in
  its own thread; written before that option, the bench keeps its own drivers). No store is written (bench_store.py measures that).
- Printed per N: documents per second, the ratio to one server's (goal >= 0.9 x N), each
  server's share, and the requests in flight per server over time (sampled every 0.25 s, one
  line a second, from the engine's own counts)."""
from __future__ import annotations

import argparse
import multiprocessing
import queue
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def _serve(port_out, latency: float, tokens: int) -> None:
    from fake_openai_servers import FakeServer

    server = FakeServer(latency_per_token_s=latency, output_tokens=tokens)
    port_out.put(server.url)
    server.httpd.serve_forever()


def start_servers(count: int, latency: float, tokens: int) -> tuple[list[str], list[multiprocessing.Process]]:
    urls, processes = [], []
    ctx = multiprocessing.get_context("spawn")
    for _ in range(count):
        port_out = ctx.Queue()
        process = ctx.Process(target=_serve, args=(port_out, latency, tokens), daemon=True)
        process.start()
        urls.append(port_out.get(timeout=60))
        processes.append(process)
    return urls, processes


def run(count: int, args, dataset) -> dict:
    from erank_studio import judge
    from erank_studio.engines.openai_engine import OpenAIEngine
    from erank_studio.types import GenerationSettings
    from fake_openai_servers import MODEL

    urls, processes = start_servers(count, args.latency_per_token, args.output_tokens)
    try:
        engine = OpenAIEngine(MODEL, base_url=",".join(urls), concurrency=args.concurrency)
        work: queue.Queue = queue.Queue()
        for _ in range(args.passes):
            for q in dataset.queries():
                work.put((q.text, judge.ensure_first_stage(q.text, dataset.candidates(q.query_id, args.top_k))))
        total = sum(len(docs) for _, docs in list(work.queue))
        settings = GenerationSettings(max_new_tokens=args.output_tokens + 10)
        judged = [0]
        lock = threading.Lock()

        def drive() -> None:
            while True:
                try:
                    text, docs = work.get_nowait()
                except queue.Empty:
                    return
                for j in judge.judge(engine, text, docs, dataset.instruction, settings=settings):
                    assert j.status == "ok", j.failure_detail
                    with lock:
                        judged[0] += 1

        samples: list[tuple[float, list[int]]] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                in_flight = [s["in_flight"] for s in engine.describe()["servers"]]
                samples.append((time.perf_counter() - started, in_flight))
                time.sleep(0.25)

        drivers = [threading.Thread(target=drive) for _ in range(2 * count)]
        started = time.perf_counter()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for thread in drivers:
            thread.start()
        for thread in drivers:
            thread.join()
        seconds = time.perf_counter() - started
        done.set()
        assert judged[0] == total, (judged[0], total)
        shares = [s["judged"] for s in engine.describe()["servers"]]
        return {"servers": count, "documents": total, "seconds": seconds, "docs_per_s": total / seconds,
                "shares": shares, "samples": samples}
    finally:
        for process in processes:
            process.terminate()
            process.join()


def timeline(samples: list[tuple[float, list[int]]]) -> list[str]:
    """One line a second: the mean requests in flight per server over that second."""
    lines = []
    for second in range(int(samples[-1][0]) + 1 if samples else 0):
        window = [v for t, v in samples if second <= t < second + 1]
        if window:
            means = [sum(v[i] for v in window) / len(window) for i in range(len(window[0]))]
            lines.append(f"    {second:4d}s  " + " ".join(f"{m:5.1f}" for m in means))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--passes", type=int, default=3, help="times the sample's queries are judged")
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight per server")
    parser.add_argument("--latency-per-token", type=float, default=0.004, help="seconds per generated token")
    parser.add_argument("--output-tokens", type=int, default=250)
    parser.add_argument("--quiet-timeline", action="store_true", help="no in-flight lines")
    args = parser.parse_args()

    from erank_studio.data import load_dataset

    dataset = load_dataset("sample")
    per_request = args.latency_per_token * args.output_tokens
    print(f"sample: {len(dataset.queries())} queries x top {args.top_k}, {args.passes} pass(es); "
          f"{per_request:.2f} s an answer, concurrency {args.concurrency} a server "
          f"(ceiling {args.concurrency / per_request:.1f} docs/s a server)")
    base = None
    for count in args.servers:
        result = run(count, args, dataset)
        base = base or (result["docs_per_s"] if count == args.servers[0] else None)
        ratio = result["docs_per_s"] / base if base else float("nan")
        goal = 0.9 * count / args.servers[0]
        print(f"{count} server(s): {result['documents']} documents in {result['seconds']:.1f} s = "
              f"{result['docs_per_s']:.1f} docs/s; {ratio:.2f}x {args.servers[0]} server(s) "
              f"(goal >= {goal:.1f}x: {'met' if ratio >= goal else 'NOT met'}); documents per server {result['shares']}")
        if not args.quiet_timeline:
            print("    in flight per server (mean over each second):")
            print("\n".join(timeline(result["samples"])))


if __name__ == "__main__":
    main()
