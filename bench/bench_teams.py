"""Team benchmark: agreement, the adjudication queue, a resolved SFT export and the hf-dataset
export over a store where several annotators labelled every document.

    .venv/bin/python bench/bench_teams.py [--labels 30000] [--annotators 3]

The store (a fresh SQLite file in a temporary folder) holds labels / (annotators x 100) queries of
100 judged documents, each labelled by every annotator (scores drawn from the model's, so they
mostly agree). Prints seconds per operation; no targets yet."""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_store import DOCS_PER_QUERY, judgment, text  # noqa: E402
from erank_studio import agreement, prompt  # noqa: E402
from erank_studio.store import Store, hf_dataset, teams  # noqa: E402
from erank_studio.store.exports import ExportFilter, export  # noqa: E402
from erank_studio.store.resolve import parse_rule  # noqa: E402
from erank_studio.types import Document, GenerationSettings  # noqa: E402


def setup(store: Store, n_labels: int, n_annotators: int) -> None:
    rng = random.Random(0)
    for qn in range(max(1, n_labels // (n_annotators * DOCS_PER_QUERY))):
        query = f"query {qn}: " + text(qn, 12)
        qid = store.upsert_query(query, "bench", str(qn))
        docs = [Document(f"q{qn}d{i}", text(qn + i, 150)) for i in range(DOCS_PER_QUERY)]
        run = store.start_run(qid, docs, model="bench/model", engine="none", instruction=prompt.DEFAULT_INSTRUCTION,
                              truncate_length=2048, generation=GenerationSettings(), alpha=0.2)
        judged = [judgment(d, i, query) for i, d in enumerate(docs)]
        store.add_judgments(run, judged)
        store.add_labels((qid, j.doc_id, f"annotator-{a}", min(10, max(0, j.score + rng.choice((-2, -1, 0, 0, 1, 3)))),
                          None, None) for j in judged for a in range(n_annotators))


def timed(name: str, fn) -> object:
    start = time.perf_counter()
    result = fn()
    print(f"{name:<44} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=30000)
    parser.add_argument("--annotators", type=int, default=3)
    args = parser.parse_args()
    # The libraries load once per process (seconds on a busy machine): timed apart from the work.
    timed("import scikit-learn, krippendorff, datasets", lambda: (
        __import__("sklearn.metrics"), __import__("krippendorff"), __import__("datasets")))
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.sqlite")
        timed(f"setup ({args.labels} labels)", lambda: setup(store, args.labels, args.annotators))
        items = timed("teams.items (every labelled document)", lambda: teams.items(store))
        print(f"  {len(items)} documents, {store.count_labels()} label rows")
        timed("agreement.report", lambda: agreement.report(*teams.ratings(items)))
        queue = timed("adjudication queue (K = 3)", lambda: teams.queue(store, 3))
        print(f"  {len(queue)} documents in the queue")
        timed("SFT export --resolve mean", lambda: export(store, "sft-messages", f"{folder}/sft.jsonl",
                                                          ExportFilter(resolve=parse_rule("mean"))))
        timed("hf-dataset export (adjudicated)", lambda: hf_dataset.export_dataset(
            store, f"{folder}/ds", parse_rule("adjudicated")))
        store.close()


if __name__ == "__main__":
    main()
