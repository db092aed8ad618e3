"""``python -m erank_studio export --format F --out PATH``: SFT data, TREC files, tables, bundle."""
from __future__ import annotations

import argparse
import os
import shutil
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
    parser.add_argument("--out", required=True,
                        help="file to write ('-' for stdout); an existing file is refused unless --force, "
                        "the store's own files and any SQLite database always")
    parser.add_argument("--force", action="store_true", help="replace an existing export file")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: $ERANK_DB_URL or db/erank_studio.sqlite)")
    parser.add_argument("--annotator", default=None, help="only this person's labels")
    parser.add_argument("--run", type=int, default=None, dest="run_id", help="only this run")
    parser.add_argument("--only-labelled", action="store_true", help="only documents a person labelled")
    parser.add_argument("--min-disagreement", type=int, default=None, metavar="K",
                        help="only pairs where |human - model| >= K")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..store.exports import ExportFilter, export, export_to_tempfile
    from .common import open_store

    if args.min_disagreement is not None and not 0 <= args.min_disagreement <= 10:
        raise UserError("--min-disagreement must be between 0 and 10")
    flt = ExportFilter(annotator=args.annotator, run_id=args.run_id, only_labelled=args.only_labelled,
                       min_disagreement=args.min_disagreement)
    store = open_store(args.db, read_only=True)  # a missing store is not created
    to_stdout = args.out == "-"
    try:
        if to_stdout:
            name, n = export_to_tempfile(store, args.format, flt)
            try:
                with open(name, "rb") as handle:
                    shutil.copyfileobj(handle, sys.stdout.buffer)
                sys.stdout.flush()
            finally:
                os.unlink(name)
        else:
            n = export(store, args.format, args.out, flt, overwrite=args.force)
    except (ValueError, OSError) as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    print(f"wrote {n} {args.format} rows to {'stdout' if to_stdout else args.out}",
          file=sys.stderr if to_stdout else sys.stdout)
    if n == 0:
        print("warning: nothing matched: check --run, --annotator and the other filters, "
              "or whether the store holds labels and judgments yet", file=sys.stderr)
    return 0
