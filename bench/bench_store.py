"""Label store benchmark: export 100,000 labels to SFT JSONL; insert 10,000 judgments.

    .venv/bin/python bench/bench_store.py [--labels 100000] [--judgments 10000] [--db URL]

Targets on the development machine: export <= 5 s, judgment inserts >= 5,000 rows/s.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--judgments", type=int, default=10_000)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work on the machine inflates wall time)")
    with tempfile.TemporaryDirectory() as tmp:
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
