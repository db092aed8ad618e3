"""The arguments that choose which queries a team command reads (agreement, the adjudication
queue): ``--source`` and ``--query-id``."""
from __future__ import annotations

import argparse


def add_query_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: $ERANK_DB_URL or db/erank_studio.sqlite)")
    parser.add_argument("--source", default=None, help="only the queries of this benchmark source (e.g. sample)")
    parser.add_argument("--query-id", nargs="+", default=None, metavar="QID",
                        help="only these queries: TREC ids as exports print them (the benchmark's id, "
                        "else the store's query id)")
