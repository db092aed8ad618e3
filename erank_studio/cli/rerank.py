"""``rerank``: judge a file of documents for one query (JSON line per document, best first), or
a whole benchmark with ``--dataset`` (resumable, judgments in the store, TREC runs written)."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

from .. import runs
from ..docfiles import DocumentFileError, read_documents
from ..engines.base import CancelToken, batch_note
from ..engines.writing import WritingProgress, progress_line, ticking
from ..results import ECHO_CHARS, ranked, result_of
from . import UserError

WRITING_EVERY_S = 10.0  # how often stderr says what is being written while no document finishes
from .common import (
    add_engine_arguments,
    add_instruction_arguments,
    check_engine_arguments,
    checked_text,
    engine_from,
    instruction_from,
    open_store,
    settings_from,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rerank", help="rerank documents for a query, or a whole benchmark")
    parser.add_argument("--query", help="the query (with --docs)")
    parser.add_argument("--docs", help="JSONL (content, optional id, first_stage_score), CSV, TSV or TXT")
    parser.add_argument("--sort-by", choices=["rank", "hybrid"], default="rank")
    parser.add_argument("--save", action="store_true", help="also record the run in the store (--db)")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the store (default: db/erank_studio.sqlite)")
    add_instruction_arguments(parser)
    add_engine_arguments(parser)
    try:
        from .batch_args import add_dataset_arguments
    except ModuleNotFoundError:
        add_dataset_arguments = None
    if add_dataset_arguments is not None:
        add_dataset_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_engine_arguments(args)
    if getattr(args, "dataset", None):
        if args.docs or args.query:
            raise UserError("use either --dataset or --query with --docs, not both")
        from .batch_args import run_dataset_command

        return run_dataset_command(args)
    if not args.query or not checked_text(args.query, "--query").strip():
        raise UserError("--query is required and must not be empty (or use --dataset)")
    if not args.docs:
        raise UserError("--docs FILE is required (or use --dataset)")
    try:
        documents = read_documents(args.docs)
    except DocumentFileError as error:
        raise UserError(str(error)) from None
    instruction = instruction_from(args)
    store = open_store(args.db) if args.save else None  # a bad store is refused before the model loads
    engine = engine_from(args)
    spec = runs.RunSpec(
        query=args.query, documents=documents, instruction=instruction, template=args.template,
        truncate_length=args.truncate_length, settings=settings_from(args, engine), alpha=args.alpha,
    )
    run = runs.start(store, engine, spec)
    if run.note:
        print(f"note: {run.note}", file=sys.stderr)
    judged = run.spec.documents  # the run's copies (the input rule applied, BM25 where it scored)
    started = time.perf_counter()
    writing = WritingProgress()

    def report_writing() -> None:  # between judgments, which come only as documents finish
        line = progress_line(writing.snapshot(), len(run.judgments), len(judged), time.perf_counter() - started,
                             spec.settings.max_new_tokens)
        if line:
            print(f"[{len(run.judgments)}/{len(judged)}] {line}", file=sys.stderr)

    judging = runs.execute(run, engine, store, CancelToken(writing=writing.scope()))
    with ticking(WRITING_EVERY_S, report_writing), contextlib.closing(judging):  # Ctrl-C: cancelled
        for judgment in judging:
            shown = f"{judgment.score}" if judgment.score is not None else judgment.failure
            print(
                f"[{len(run.judgments)}/{len(judged)}] {judgment.doc_id}: {shown} "
                f"({time.perf_counter() - started:.1f} s{batch_note(engine)})",
                file=sys.stderr,
            )
    if store is not None:
        print(f"saved run {run.run_id} to {store.url}", file=sys.stderr)
    # Each line is the Python API's result (results.RerankResult.to_dict) with its place in the
    # list, the document as the file gave it, and the hybrid score the run path set.
    found = [result_of(j, documents[j.index], judged[j.index], hybrid=True) for j in run.judgments]
    for position, result in enumerate(ranked(found, by=f"{args.sort_by}_score"), start=1):
        print(json.dumps(result.to_dict(rank=position, max_content_chars=ECHO_CHARS), ensure_ascii=False))
    return 0
