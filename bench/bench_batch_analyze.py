"""The Analyze view's benchmark page on a large batch.

    .venv/bin/python bench/bench_batch_analyze.py [--queries 10,100] [--docs 100] [--db URL]

For each size, a batch of Q queries x D documents (every one judged, with a distribution, a trace
of bench_store's length and qrels) is written to a fresh SQLite store, then timed:
``batch_eval.load_batch`` (the store read ``evaluate --dataset`` shares), the page's numbers and
figures (``benchmark_analyze.page_values``), and ``evaluate --dataset`` end to end (store opened
read-only, JSON out). Prints seconds; no target is asserted."""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_store import judgment, text  # noqa: E402

from erank_studio import batch_eval, scoring  # noqa: E402
from erank_studio.cli import main  # noqa: E402
from erank_studio.store import Store  # noqa: E402
from erank_studio.types import Document, GenerationSettings  # noqa: E402
from erank_studio.ui import benchmark_analyze  # noqa: E402

DATASET, MODEL = "bench-batch", "bench/model"


def build(url: str, n_queries: int, n_docs: int) -> None:
    with Store(url) as store:
        store.add_qrels([(str(q), f"q{q}d{i}", (i % 4 == 0) + (i % 8 == 0)) for q in range(n_queries)
                         for i in range(n_docs)], source=DATASET)
        for q in range(n_queries):
            query = f"query {q}: " + text(q, 12)
            query_id = store.upsert_query(query, DATASET, str(q))
            docs = [Document(f"q{q}d{i}", text(q + i, 150), first_stage_score=float(n_docs - i)) for i in range(n_docs)]
            run = store.start_run(query_id, docs, model=MODEL, engine="none", instruction="i", truncate_length=2048,
                                  generation=GenerationSettings(), alpha=0.2)
            judged = []
            for i, doc in enumerate(docs):
                j = judgment(doc, i, query)
                j.score_distribution = [0.5 if n == j.score else 0.05 for n in range(11)]
                j.expected_score, j.score_entropy = scoring.distribution_summary(j.score_distribution)
                judged.append(j)
            store.add_judgments(run, judged)
            store.finish_run(run)


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", default="10,100", help="comma-separated query counts")
    parser.add_argument("--docs", type=int, default=100, help="documents per query")
    args = parser.parse_args()
    print(f"{'judgments':>10}  {'load_batch s':>12}  {'page s':>8}  {'evaluate s':>10}")
    for n_queries in [int(n) for n in args.queries.split(",")]:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.sqlite"
            build(url, n_queries, args.docs)
            with Store(url, read_only=True) as store:
                load = timed(lambda: batch_eval.load_batch(store, DATASET, model=MODEL))
                choice = benchmark_analyze.batch_choices(store)[0][1]
                page = timed(lambda: benchmark_analyze.page_values(store, choice, "qrels", "skip", 0.2))
            with contextlib.redirect_stdout(io.StringIO()):
                cli = timed(lambda: main(["evaluate", "--dataset", DATASET, "--db", url, "--json", "-"]))
            print(f"{n_queries * args.docs:>10}  {load:>12.3f}  {page:>8.3f}  {cli:>10.3f}")


if __name__ == "__main__":
    main_bench()
