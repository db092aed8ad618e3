"""Label store benchmark.

    .venv/bin/python bench/bench_store.py [--sizes 10000,100000,500000] [--labels 100000]
                                          [--judgments 10000] [--db URL]

1. The UI's store operations as the store grows (``--sizes``, judgments in the store): open a
   run (its judgments, settings and current labels), the run list (newest 50, and all), an alpha
   change on a 1,000-document run (``set_hybrid_scores``), the batch's per-query lookup
   (``judged_doc_ids``). They should cost the same at 10k and 500k judgments.
2. Judgment writes: one commit each (the old streaming path) vs the buffered JudgmentWriter.
3. With ``--labels N`` (0 skips it): export N labels to SFT JSONL [target <= 5 s at 100,000],
   and ``--judgments`` bulk inserts [target >= 5,000 rows/s].

The database is a fresh SQLite file in a temporary folder unless --db is given."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from erank_studio import prompt  # noqa: E402
from erank_studio.store import Store  # noqa: E402
from erank_studio.store.exports import ExportFilter, export  # noqa: E402
from erank_studio.types import Document, GenerationSettings, Judgment, Truncation  # noqa: E402

DOCS_PER_QUERY = 100
WORDS = ("photosynthesis chlorophyll light energy plant cell membrane protein enzyme reaction "
         "carbon oxygen water glucose molecule structure function process cycle system").split()


def text(seed: int, n_words: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n_words))


def judgment(doc: Document, index: int, query: str) -> Judgment:
    score = (index * 7) % 11
    return Judgment(
        doc_id=doc.doc_id, index=index, status="ok", score=score, probability=0.9,
        rank_score=score * 0.9, first_stage_score=doc.first_stage_score, first_stage_source="given",
        raw_output=f"<think>{text(index, 60)}</think><answer>{score}</answer>", trace=text(index, 60),
        prompt_tokens=400, output_tokens=90, latency_s=0.5,
        query_truncation=Truncation(12, 12), document_truncation=Truncation(200, 200),
        prompt_message=prompt.user_message(query, doc.text, prompt.DEFAULT_INSTRUCTION),
    )


def setup(store: Store, n_labels: int) -> None:
    """n_labels / 100 queries, 100 candidates each, all judged and all labelled once."""
    for qn in range(n_labels // DOCS_PER_QUERY):
        query = f"query {qn}: " + text(qn, 12)
        qid = store.upsert_query(query, "bench", str(qn))
        docs = [Document(f"q{qn}d{i}", text(qn + i, 150), first_stage_score=float(100 - i))
                for i in range(DOCS_PER_QUERY)]
        run = store.start_run(qid, docs, model="bench/model", engine="none", instruction=prompt.DEFAULT_INSTRUCTION,
                              truncate_length=2048, generation=GenerationSettings(), alpha=0.2)
        store.add_judgments(run, [judgment(d, i, query) for i, d in enumerate(docs)])
        store.add_labels([(qid, d.doc_id, "bench", (i * 3) % 11, "edited" if i % 5 == 0 else None, None)
                          for i, d in enumerate(docs)])


FILLER_RUN = 1000  # documents per run in the filler (and in the measured run)


def _filler(store: Store, start: int, stop: int) -> None:
    """Runs of FILLER_RUN judged and partly labelled documents until the store holds ``stop``
    judgments (narrow rows: the queries measured must not depend on the rows' width anyway)."""
    for base in range(start, stop, FILLER_RUN):
        qn = base // FILLER_RUN
        qid = store.upsert_query(f"filler query {qn}", "filler", str(qn))
        docs = [Document(f"f{qn}d{i}", text(qn + i, 20), first_stage_score=float(i)) for i in range(FILLER_RUN)]
        run = store.start_run(qid, docs, model="bench/model", engine="none", instruction="i",
                              truncate_length=2048, generation=GenerationSettings(), alpha=0.2)
        for i in range(0, FILLER_RUN, 500):
            store.add_judgments(run, [Judgment(doc_id=d.doc_id, index=i + k, status="ok", score=5, probability=0.9,
                                               rank_score=4.5, first_stage_score=d.first_stage_score,
                                               raw_output="<answer>5</answer>")
                                      for k, d in enumerate(docs[i:i + 500])])
        store.finish_run(run)
        store.add_labels([(qid, d.doc_id, "bench", 3, None, None) for d in docs[::10]])


def _timed(fn, repeats: int = 5) -> float:
    """Median milliseconds of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return sorted(times)[len(times) // 2]


def ui_operations(store: Store, sizes: list[int]) -> None:
    from erank_studio import scoring

    print(f"UI store operations (median of 5, ms) on a {FILLER_RUN}-document run, as the store grows:")
    print(f"{'judgments':>10} {'open run':>9} {'runs[:50]':>9} {'all runs':>9} {'alpha':>7} {'lookup':>7}")
    held = 0
    for size in sizes:
        _filler(store, held, size)
        held = max(held, size)
        last = store.runs(limit=1)[0]
        judged = store.run_judgments(last.id)
        first = [j.first_stage_score for j in judged]
        ranks = [j.rank_score for j in judged]
        alphas = iter([0.1, 0.3, 0.5, 0.7, 0.9] * 2)

        def open_run() -> None:
            store.run_info(last.id)
            store.run_judgments(last.id)
            store.current_labels(last.query_id)

        def alpha_change() -> None:
            a = next(alphas)
            hybrid = scoring.hybrid(first, ranks, a)
            store.set_hybrid_scores(last.id, {j.doc_id: h for j, h in zip(judged, hybrid)}, a)

        row = [_timed(open_run), _timed(lambda: store.runs(limit=50)), _timed(store.runs),
               _timed(alpha_change), _timed(lambda: store.judged_doc_ids(last.query_id, "bench/model"))]
        print(f"{size:>10,} " + " ".join(f"{v:>{w}.1f}" for v, w in zip(row, (9, 9, 9, 7, 7))))


def judgment_writes(store: Store, n: int = 500) -> None:
    qid = store.upsert_query("write benchmark query")
    docs = [Document(f"w{i}", text(i, 150), first_stage_score=float(i)) for i in range(n)]
    js = [judgment(d, i, "write benchmark query") for i, d in enumerate(docs)]
    for label, write in (("one commit each", None), ("JudgmentWriter (32 rows / 0.25 s)", True)):
        run = store.start_run(qid, docs, model="bench/model", engine="none", instruction=prompt.DEFAULT_INSTRUCTION,
                              truncate_length=2048, generation=GenerationSettings(), alpha=0.2)
        t = time.perf_counter()
        if write:
            with store.judgment_writer(run) as writer:
                for j in js:
                    writer.add(j)
        else:
            for j in js:
                store.add_judgment(run, j)
        seconds = time.perf_counter() - t
        print(f"judgment writes, {label}: {n} rows in {seconds:.2f} s = {n / seconds:,.0f} rows/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,500000",
                        help="store sizes (judgments) for the UI operations; '' skips them")
    parser.add_argument("--labels", type=int, default=0, help="SFT export benchmark size (0 skips it)")
    parser.add_argument("--judgments", type=int, default=10_000)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work on the machine inflates wall time)")
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.db or f"sqlite:///{Path(tmp) / 'ui.sqlite'}")
        t = time.perf_counter()
        if sizes:
            ui_operations(store, sizes)
        judgment_writes(store)
        store.close()
        print(f"(UI operations and writes: {time.perf_counter() - t:.0f} s including building the store)")
        if not args.labels:
            return 0
        store = Store(args.db or f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        t = time.perf_counter()
        setup(store, args.labels)
        print(f"setup: {args.labels} labels and judgments in {time.perf_counter() - t:.1f} s")

        t, cpu = time.perf_counter(), time.process_time()
        n = export(store, "sft-messages", Path(tmp) / "sft.jsonl", ExportFilter())
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        size = (Path(tmp) / "sft.jsonl").stat().st_size / 1e6
        print(f"export SFT JSONL: {n} labels in {seconds:.2f} s = {n / seconds:,.0f} rows/s ({size:.0f} MB; "
              f"{cpu:.2f} s CPU)  [target <= 5 s] {'OK' if seconds <= 5 else 'SLOW'}")

        qid = store.upsert_query("insert benchmark query")
        docs = [Document(f"ins{i}", text(i, 150), first_stage_score=float(i)) for i in range(args.judgments)]
        run = store.start_run(qid, docs, model="bench/model", engine="none", instruction=prompt.DEFAULT_INSTRUCTION,
                              truncate_length=2048, generation=GenerationSettings(), alpha=0.2)
        js = [judgment(d, i, "insert benchmark query") for i, d in enumerate(docs)]
        t, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(js), 1000):
            store.add_judgments(run, js[i:i + 1000])
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        rate = len(js) / seconds
        print(f"insert judgments (batches of 1000): {len(js)} rows in {seconds:.2f} s = {rate:,.0f} rows/s"
              f" ({cpu:.2f} s CPU)"
              f"  [target >= 5,000 rows/s] {'OK' if rate >= 5000 else 'SLOW'}")

        sample = js[:500]
        run2 = store.start_run(qid, docs[:500], model="bench/model", engine="none",
                               instruction=prompt.DEFAULT_INSTRUCTION, truncate_length=2048,
                               generation=GenerationSettings(), alpha=0.2)
        t = time.perf_counter()
        for j in sample:
            store.add_judgment(run2, j)
        seconds = time.perf_counter() - t
        print(f"insert judgments one commit each (streaming): {len(sample)} rows in {seconds:.2f} s = "
              f"{len(sample) / seconds:,.0f} rows/s")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
