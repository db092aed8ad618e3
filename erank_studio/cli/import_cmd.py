"""``python -m erank_studio import --format F PATH``: TREC qrels and runs, documents, queries,
and bundles written by ``export --format bundle``."""
from __future__ import annotations

import argparse

from . import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..store.imports import FORMATS

    parser = subparsers.add_parser(
        "import", help="import TREC qrels / runs, JSONL / CSV documents and queries, or a bundle",
        description="Import into the label store. The whole file is checked first; a malformed "
        "file is refused (file and line named) and nothing is written.",
    )
    parser.add_argument("path", help="file to read")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--source", default=None,
                        help="benchmark / collection name the ids belong to (qrels, run, queries, documents)")
    parser.add_argument("--query-id", type=int, default=None,
                        help="documents: add them to this stored query's candidate list")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: $ERANK_DB_URL or db/erank_studio.sqlite)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..store import FileFormatError
    from ..store.imports import import_file
    from .common import open_store

    if args.format in ("qrels", "run", "queries") and not args.source:
        raise UserError(f"--source is required for --format {args.format} (e.g. --source beir/scifact)")
    store = open_store(args.db)
    try:
        result = import_file(store, args.format, args.path, source=args.source, query_id=args.query_id)
    except FileFormatError as error:
        raise UserError(f"{error} (nothing was imported)") from None
    except ValueError as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    if isinstance(result, dict):
        print("imported " + ", ".join(f"{n} {kind}" for kind, n in result.items()))
    else:
        print(f"imported {result} {args.format} rows from {args.path}")
    return 0
