"""``python -m erank_studio adjudicate queue --min-gap K`` and ``adjudicate set``."""
from __future__ import annotations

import argparse
import json

from .team_args import add_query_selection

DEFAULT_GAP = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adjudicate", help="the queue of documents annotators disagree on, and setting their final label",
        description="'queue' lists the documents whose annotators' current labels differ by at least K "
        "points (largest gap first); 'set' records the final label of one, as its own label row with "
        "who and why (adjudicators only: see the roles command).",
    )
    steps = parser.add_subparsers(dest="step", required=True)
    queue = steps.add_parser("queue", help="documents whose labels differ by at least K points")
    add_query_selection(queue)
    queue.add_argument("--min-gap", type=int, default=DEFAULT_GAP, metavar="K",
                       help=f"the smallest difference between two annotators' labels (default {DEFAULT_GAP})")
    queue.add_argument("--all", action="store_true", help="include documents already adjudicated")
    queue.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    queue.set_defaults(func=run_queue)
    put = steps.add_parser("set", help="set the final label of a document")
    put.add_argument("--db", default=None, help="SQLAlchemy URL (default: $ERANK_DB_URL or db/erank_studio.sqlite)")
    put.add_argument("--query-id", required=True, help="the query's TREC id, as the queue prints it")
    put.add_argument("--doc-id", required=True)
    put.add_argument("--as", dest="adjudicator", required=True, metavar="NAME", help="who adjudicates")
    put.add_argument("--score", type=int, required=True, help="the final label, 0..10")
    put.add_argument("--reason", required=True, help="why (kept with the final label)")
    put.add_argument("--rationale", default=None, help="an edited rationale for the SFT target")
    put.set_defaults(func=run_set)


def run_queue(args: argparse.Namespace) -> int:
    from ..store import teams
    from . import UserError
    from .common import open_store

    store = open_store(args.db, read_only=True)
    try:
        chosen = teams.disputed_items(store, args.min_gap, source=args.source, qids=args.query_id,
                             include_adjudicated=args.all)
    except ValueError as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    for item in chosen:
        record = {"query_id": item.qid, "doc_id": item.doc_id, "gap": item.gap, "labels": item.scores,
                  "model": item.model_score,
                  "adjudicated": item.adjudication.score if item.adjudication else None}
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            labels = ", ".join(f"{name} {score}" for name, score in sorted(item.scores.items()))
            done = f"  adjudicated {item.adjudication.score}" if item.adjudication else ""
            print(f"{item.qid}\t{item.doc_id}\tgap {item.gap}\t{labels}\tmodel "
                  f"{'-' if item.model_score is None else item.model_score}{done}")
    if not args.json:
        print(f"{len(chosen)} document(s) with labels {args.min_gap} or more points apart"
              + ("" if args.all else ", not yet adjudicated"))
    return 0


def run_set(args: argparse.Namespace) -> int:
    from ..store import teams
    from . import UserError
    from .common import open_store

    store = open_store(args.db, must_exist=True)
    try:
        found = [it for it in teams.items(store, qids=[args.query_id]) if it.doc_id == args.doc_id]
        if not found:
            raise UserError(f"no labelled document {args.doc_id!r} for query {args.query_id!r}")
        if len({it.query_id for it in found}) > 1:
            raise UserError(f"several queries have the id {args.query_id!r}; give the store's query id")
        row = teams.adjudicate(store, found[0].query_id, args.doc_id, args.adjudicator, args.score,
                               args.reason, args.rationale)
    except ValueError as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    print(f"final label of {args.doc_id} for query {args.query_id}: {row.score} (by {row.annotator})")
    return 0
