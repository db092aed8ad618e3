"""``runs``: the store's runs, newest first (the ids ``compare`` and ``queue --run`` take)."""
from __future__ import annotations

import argparse
import json

from . import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("runs", help="list the store's runs (ids for compare and queue)",
                                   description=__doc__)
    parser.add_argument("--limit", type=int, default=20, help="show the newest N (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the store (default: db/erank_studio.sqlite)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..run_list import format_table, list_runs
    from .common import open_store

    if args.limit < 1:
        raise UserError("--limit must be at least 1")
    store = open_store(args.db, read_only=True, must_exist=True)
    try:
        runs = list_runs(store, args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps([r.to_dict() for r in runs], indent=2, ensure_ascii=False))
        return 0
    print(format_table(runs) if runs else "no runs in this store yet")
    return 0
