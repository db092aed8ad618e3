"""``queue``: the order in which to label a run's (or a benchmark batch's) unlabelled documents.

    queue --run ID --strategy entropy [--annotator A] [--limit N] [--json]
    queue --dataset sample [--model M] --strategy first_stage      (every query of a batch)

Strategies: entropy (the model's uncertainty), first_stage (model vs first-stage rank), qrels
(model vs qrels), rank (the model's ranking). Unlabelled means no current score by --annotator
(by anyone without it). The same order as the app's Annotate queue and the /label_queue API."""
from __future__ import annotations

import argparse
import json

from . import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..queue import STRATEGIES

    parser = subparsers.add_parser(
        "queue", help="the order to label unlabelled documents in (uncertainty, disagreement, rank)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--run", type=int, help="one run's documents")
    where.add_argument("--dataset", "--source", dest="dataset",
                       help="every query of a benchmark batch (the latest judgment per document)")
    parser.add_argument("--model", help="with --dataset: whose judgments (needed when several models judged)")
    parser.add_argument("--strategy", required=True, choices=list(STRATEGIES),
                        help="; ".join(f"{k}: {v}" for k, v in STRATEGIES.items()))
    parser.add_argument("--annotator", help="unlabelled by this person (default: by anyone)")
    parser.add_argument("--limit", type=int, help="show only the first N")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the store (default: db/erank_studio.sqlite)")
    parser.set_defaults(func=run)


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def format_table(queue, limit: int | None = None) -> str:
    items = queue.items[:limit] if limit is not None else queue.items
    columns = ["#", "run", "query", "document", "model rank", "1st rank", "entropy", "N", "qrel", f"by {queue.strategy}"]
    rows = [[str(k), str(i.run_id), i.source_query_id or f"#{i.query_id}", i.doc_id, _cell(i.model_rank),
             _cell(i.first_stage_rank), _cell(i.entropy), _cell(i.score), _cell(i.qrel),
             _cell(i.value(queue.strategy))] for k, i in enumerate(items, start=1)]
    widths = [max(len(c), *(len(r[n]) for r in rows)) if rows else len(c) for n, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..queue import QueueUnavailable, batch_queue, run_queue
    from .common import open_store

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    if args.model and not args.dataset:
        raise UserError("--model goes with --dataset (a run has one model)")
    store = open_store(args.db, read_only=True)  # reading only: never creates the store
    try:
        if args.run is not None:
            queue = run_queue(store, args.run, args.strategy, args.annotator)
        else:
            queue = batch_queue(store, args.dataset, args.strategy, args.annotator, args.model)
    except ValueError as error:  # QueueUnavailable, or no such run
        raise UserError(str(error)) from None
    finally:
        store.close()
    if args.json:
        payload = queue.to_dict()
        if args.limit is not None:
            payload["items"] = payload["items"][: args.limit]
        print(json.dumps(payload, indent=2))
        return 0
    who = f"by {queue.annotator}" if queue.annotator else "by anyone"
    print(format_table(queue, args.limit))
    print(f"{len(queue.items)} in the queue ({args.strategy}); {queue.n_labelled} of {queue.n_candidates} "
          f"already labelled {who}")
    for note in queue.notes:
        print(note)
    return 0
