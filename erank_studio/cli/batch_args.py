"""The ``rerank --dataset NAME`` part of the command line: a whole benchmark, resumable, with
judgments in the store and TREC runs for the first stage, the model and the hybrid."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from . import UserError


def _add(parser: argparse.ArgumentParser, *names: str, **kwargs) -> None:
    # The rerank command's own parser may already define shared options (--db, ...).
    if not any(name in parser._option_string_actions for name in names):
        parser.add_argument(*names, **kwargs)


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("benchmarks (--dataset)")
    _add(group, "--dataset", help="'sample', bright/<task>, trec-dl-2019, trec-dl-2020, beir/<name>, or a BEIR folder")
    _add(group, "--top-k", type=int, default=100, help="first-stage candidates judged per query (default 100)")
    _add(group, "--queries", type=int, default=None, metavar="N", help="only the first N queries")
    _add(group, "--queries-in-flight", type=int, default=None, metavar="Q",
         help="queries judged at once on an OpenAI-compatible server or vLLM (default 4; the transformers "
         "engine judges one query at a time)")
    _add(group, "--shard", default=None, metavar="K/N",
         help="judge shard K of N: a fixed 1/N of the queries (by a hash of their ids), so N processes "
         "writing one store (--db) judge every query once between them; TREC runs go to DIR/shard-K-of-N")
    _add(group, "--out", default=None, metavar="DIR", help="where the TREC runs go (default runs/)")
    _add(group, "--no-progress", action="store_true", help="no progress bar")
    _add(parser, "--db", default=None, help="SQLAlchemy URL of the store (default: db/erank_studio.sqlite)")


def _shard_from(args: argparse.Namespace):
    from ..shards import Shard, ShardError

    if getattr(args, "shard", None) is None:
        return None
    try:
        return Shard.parse(args.shard)
    except ShardError as error:
        raise UserError(str(error)) from None


def _report_servers(engine) -> None:
    """Which server failed and where its documents went (the openai engine with several)."""
    report = getattr(engine, "server_report", None)
    for line in report() if callable(report) else []:
        print(f"note: {line}", file=sys.stderr)


def run_dataset_command(args: argparse.Namespace) -> int:
    from ..batch import queries_in_flight_for, rerank_dataset
    from ..data import DatasetFormatError, DatasetUnavailable, load_dataset
    from .common import engine_from, settings_from

    if args.top_k < 1:
        raise UserError("--top-k must be at least 1")
    if args.queries is not None and args.queries < 1:
        raise UserError("--queries must be at least 1")
    if args.queries_in_flight is not None and args.queries_in_flight < 1:
        raise UserError("--queries-in-flight must be at least 1")
    shard = _shard_from(args)
    try:
        dataset = load_dataset(args.dataset)
    except (DatasetUnavailable, DatasetFormatError) as error:
        raise UserError(str(error)) from None
    for warning in dataset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    from .common import open_store

    store = open_store(args.db)  # a bad store is refused before the model loads
    instruction = None
    if getattr(args, "task", None) or getattr(args, "instruction", None):
        from .common import instruction_from

        instruction = instruction_from(args)
    engine = engine_from(args)
    settings = settings_from(args, engine)
    in_flight, note = queries_in_flight_for(engine, args.queries_in_flight)
    if note:
        print(f"note: {note}", file=sys.stderr)
    out_dir = Path(args.out) if args.out else Path("runs")
    if shard is not None:  # each shard's runs hold its queries only: never over another's files
        out_dir = out_dir / shard.slug
    n = min(args.queries or len(dataset.queries()), len(dataset.queries()))
    share = f"shard {shard}: {len(shard.select(dataset.queries()[:n]))} of {n}" if shard else f"{n}"
    print(
        f"{dataset.name}: {share} queries x top {args.top_k}, model {engine.model} ({engine.name}), store {store.url}",
        file=sys.stderr,
    )
    from ..store import StoreError

    try:
        result = rerank_dataset(
            dataset, engine, store, top_k=args.top_k, limit=args.queries, instruction=instruction,
            truncate_length=args.truncate_length, settings=settings, alpha=args.alpha, out_dir=out_dir,
            progress=not args.no_progress, template=args.template, queries_in_flight=in_flight, shard=shard,
        )
    except StoreError as error:  # what was committed stays; a rerun resumes from there
        raise UserError(f"{error} (the judgments committed so far are kept; run again to resume)") from None
    finally:
        store.close()
        _report_servers(engine)
    summary = {
        "dataset": result.dataset, "model": result.model, "queries": result.queries,
        "judged": result.judged, "skipped": result.skipped, "failed": result.failed,
        "seconds": round(result.seconds, 2), "docs_per_s": round(result.docs_per_s, 2),
        "ndcg@10": {k: (None if math.isnan(v) else round(v, 4)) for k, v in result.ndcg.items()},
        "files": {k: str(v) for k, v in result.files.items()},
    }
    if shard is not None:
        summary["shard"] = str(shard)
    servers = engine.describe().get("servers")
    if servers is not None:
        summary["servers"] = servers
    print(json.dumps(summary, indent=2))
    return 0
