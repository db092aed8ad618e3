"""``python -m erank_studio export --format F --out PATH``: SFT data, TREC files, tables, bundle."""
from __future__ import annotations

import argparse
import sys

from . import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..store.exports import FORMATS, GRADE_RULE

    parser = subparsers.add_parser(
        "export",
        help="export labels and judgments (SFT JSONL, alpaca, sharegpt, TREC, CSV, Parquet, bundle)",
        description=f"Export from the label store. qrels grade rule: {GRADE_RULE}.",
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    parser.add_argument("--out", required=True, help="file to write")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: $ERANK_DB_URL or db/erank_studio.sqlite)")
    parser.add_argument("--annotator", default=None, help="only this person's labels")
    parser.add_argument("--run", type=int, default=None, dest="run_id", help="only this run")
    parser.add_argument("--only-labelled", action="store_true", help="only documents a person labelled")
    parser.add_argument("--min-disagreement", type=int, default=None, metavar="K",
                        help="only pairs where |human - model| >= K")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..store import Store
    from ..store.exports import ExportFilter, export

    if args.min_disagreement is not None and not 0 <= args.min_disagreement <= 10:
        raise UserError("--min-disagreement must be between 0 and 10")
    flt = ExportFilter(annotator=args.annotator, run_id=args.run_id, only_labelled=args.only_labelled,
                       min_disagreement=args.min_disagreement)
    try:
        store = Store(args.db)
    except Exception as error:  # a bad URL or an unreadable database is the user's to fix
        raise UserError(f"cannot open the store {args.db or ''}: {error}".replace("  ", " ")) from None
    try:
        n = export(store, args.format, args.out, flt)
    except (ValueError, OSError) as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    print(f"wrote {n} {args.format} rows to {args.out}")
    if n == 0:
        print("warning: nothing matched: check --run, --annotator and the other filters, "
              "or whether the store holds labels and judgments yet", file=sys.stderr)
    return 0
