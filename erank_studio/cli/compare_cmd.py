"""``compare RUN_A RUN_B``: two runs of the same query side by side (scores, ranks and the change
per document), Kendall tau and Spearman between the rankings (scipy), nDCG@10 of each against
qrels and against people's labels. ``--json`` prints everything as JSON."""
from __future__ import annotations

import argparse
import json

from . import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare two runs of the same query (ranks, Kendall tau, Spearman, nDCG@10)",
        description=__doc__,
    )
    parser.add_argument("run_a", type=int, metavar="RUN_A")
    parser.add_argument("run_b", type=int, metavar="RUN_B")
    parser.add_argument("--annotator", help="whose labels grade nDCG vs labels (default: anyone's latest)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the store (default: db/erank_studio.sqlite)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..compare import CompareError, compare_runs, format_table, summary_lines
    from .common import open_store

    store = open_store(args.db, read_only=True)
    try:
        comparison = compare_runs(store, args.run_a, args.run_b, args.annotator)
    except CompareError as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2, default=str))
        return 0
    print(format_table(comparison))
    for line in summary_lines(comparison):
        print(line)
    return 0
