"""Build the bundled offline sample (assets/sample/) from BRIGHT's topics.

For each StackExchange task of BRIGHT, a pool of 20 queries is drawn with a fixed seed; the
first QUERIES_PER_TASK of the pool become sample queries. A query's candidates are the pool's 20
gold answers: its own (relevant, 1) and those of the 19 other queries (not relevant, 0). Their
first-stage scores are the studio's BM25 (erank_studio.retrieval: bm25s's Lucene variant, stop
words, Porter stemmer) over those 20 candidates. Same input, same bytes out.

    .venv/bin/python scripts/build_sample.py [--source ../shared/data/bright] [--out assets/sample]
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from erank_studio.retrieval import DESCRIPTION as BM25_DESCRIPTION  # noqa: E402
from erank_studio.retrieval import bm25_scores  # noqa: E402
from erank_studio.store.trec import format_qrels, format_run  # noqa: E402

TASKS = ["biology", "earth-science", "psychology", "robotics", "stackoverflow"]
POOL_SIZE = 20
QUERIES_PER_TASK = 8
MAX_ANSWER_CHARS = 6000  # keeps the sample small and every answer within ERank's 2048 tokens
SEED = "erank-studio-sample-v1"
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "bright"

ATTRIBUTION = """# The bundled BRIGHT sample

Built by `scripts/build_sample.py` (deterministic: same input, same bytes) from the BRIGHT
topics in `../shared/data/bright` (castorini anserini-tools distribution).

**Source and licence.** BRIGHT: A Realistic and Challenging Benchmark for Reasoning-Intensive
Retrieval (Su, Yen, Xia, Shi, Muennighoff et al., xlang-ai, 2024; https://brightbenchmark.github.io,
dataset `xlangai/BRIGHT`), released under the Creative Commons Attribution 4.0 licence
(CC BY 4.0, https://creativecommons.org/licenses/by/4.0/). The query and answer texts come from
StackExchange posts (CC BY-SA) as collected by BRIGHT. Changes made here: a subset of queries
was selected, and each query's candidate list is made of gold answers (see below); the texts are
unchanged.

**What it is.** {n_queries} queries from the StackExchange tasks ({tasks}), {per_task} per task.
For each task, a pool of {pool} queries whose gold answer is at most {max_chars} characters is
drawn with a fixed seed; the first {per_task} of the pool are the sample's queries. A query's
{pool} candidates are the pool's gold answers: its own (relevance 1) and those of the {others}
other queries of the pool (relevance 0). First-stage scores: the studio's BM25 ({bm25})
over those {pool} candidates.

This is not BRIGHT's retrieval task (whose documents are web pages, on the dataset hub only):
it is a small, offline stand-in for trying ERank Studio and checking its plumbing. Its nDCG
figures are not comparable with the paper's.

Files: `queries.jsonl` (`_id`, `text`, `task`, `bright_query_id`), `corpus.jsonl` (`_id`,
`text`, `task`, `answer_of`), `qrels.txt` (TREC qrels), `run.bm25.txt` (TREC run).
"""


def read_topics(source: Path, task: str) -> list[dict]:
    with gzip.open(source / f"topics.bright-{task}.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def build(source: Path, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    queries, corpus, qrels, run = [], [], [], []
    for task in TASKS:
        topics = [t for t in read_topics(source, task) if 0 < len(t["gold_answer"].strip()) <= MAX_ANSWER_CHARS]
        topics.sort(key=lambda t: int(t["id"]))
        pool = random.Random(f"{SEED}/{task}").sample(topics, POOL_SIZE)
        doc_ids = [f"{task}-answer-{t['id']}" for t in pool]
        texts = [t["gold_answer"] for t in pool]
        for t, doc_id, text in zip(pool, doc_ids, texts):
            corpus.append({"_id": doc_id, "text": text, "task": task, "answer_of": f"{task}-{t['id']}"})
        for t in pool[:QUERIES_PER_TASK]:
            qid = f"{task}-{t['id']}"
            queries.append({"_id": qid, "text": t["query"], "task": task, "bright_query_id": t["id"]})
            own = f"{task}-answer-{t['id']}"
            scores = bm25_scores(t["query"], texts)
            ranked = sorted(zip(doc_ids, scores), key=lambda x: (-round(x[1], 6), x[0]))
            for rank, (doc_id, score) in enumerate(ranked, start=1):
                run.append((qid, doc_id, rank, round(score, 6), "bm25"))
            for doc_id in doc_ids:
                qrels.append((qid, doc_id, int(doc_id == own)))

    def jsonl(rows: list[dict]) -> str:
        return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)

    (out / "queries.jsonl").write_text(jsonl(queries), encoding="utf-8")
    (out / "corpus.jsonl").write_text(jsonl(corpus), encoding="utf-8")
    (out / "qrels.txt").write_text(format_qrels(qrels), encoding="utf-8")
    (out / "run.bm25.txt").write_text(format_run(run), encoding="utf-8")
    (out / "ATTRIBUTION.md").write_text(
        ATTRIBUTION.format(
            n_queries=len(queries), tasks=", ".join(TASKS), per_task=QUERIES_PER_TASK,
            pool=POOL_SIZE, others=POOL_SIZE - 1, max_chars=MAX_ANSWER_CHARS, bm25=BM25_DESCRIPTION,
        ),
        encoding="utf-8",
    )
    return {"queries": len(queries), "documents": len(corpus), "qrels": len(qrels), "run": len(run)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder with BRIGHT topics.*.jsonl.gz")
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "sample")
    args = parser.parse_args(argv)
    counts = build(args.source, args.out)
    print(", ".join(f"{v} {k}" for k, v in counts.items()), "->", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
