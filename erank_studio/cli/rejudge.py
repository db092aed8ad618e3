"""``rejudge RUN --base-model``: a stored run's query and documents judged again by another model,
saved as a new run, so ``compare RUN NEW_RUN`` shows what changed document by document and in
nDCG. ``--base-model`` picks the untrained Qwen3 an ERank model was trained from (ERank-4B ->
Qwen/Qwen3-4B, 14B -> Qwen3-14B, 32B -> Qwen3-32B): what ERank's SFT and RL changed.

The new run keeps the old one's instruction, prompt template, truncation, budget, alpha and
first-stage scores, so the model is the only difference."""
from __future__ import annotations

import argparse
import contextlib
import sys

from .. import runs
from ..models import base_model_of, display_name
from ..types import Document
from . import UserError
from .common import add_engine_arguments, check_engine_arguments, engine_from, open_store, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rejudge", help="judge a stored run's query and documents again with another model (--base-model: ERank's base)",
        description=__doc__,
    )
    parser.add_argument("run", type=int, metavar="RUN")
    parser.add_argument("--base-model", action="store_true",
                        help="judge with the untrained Qwen3 the run's ERank model was trained from")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the store (default: db/erank_studio.sqlite)")
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def _run_documents(store, run_id: int, query_id: int) -> list[Document]:
    """The run's documents in the query's order, with the first-stage scores it was judged with."""
    judged = {j.doc_id: j for j in store.run_judgments(run_id)}
    documents = [d for d in store.documents_for_query(query_id) if d.doc_id in judged]
    for document in documents:
        j = judged[document.doc_id]
        document.first_stage_score, document.first_stage_source = j.first_stage_score, j.first_stage_source
    return documents


def run(args: argparse.Namespace) -> int:
    if args.base_model == bool(args.model):
        raise UserError("name the model to judge with: --base-model (the run's ERank base) or --model M")
    check_engine_arguments(args)
    store = open_store(args.db)
    try:
        info = store.run_info(args.run)
    except ValueError as error:
        raise UserError(str(error)) from None
    if args.base_model:
        args.model = base_model_of(info["model"])
        if args.model is None:
            raise UserError(f"run {args.run} was judged by {display_name(info['model'])}, which is no ERank "
                            "model: name the model with --model")
    documents = _run_documents(store, args.run, info["query_id"])
    if not documents:
        raise UserError(f"run {args.run} has no judged documents to judge again")
    if args.max_new_tokens is None:
        args.max_new_tokens = int((info.get("generation") or {}).get("max_new_tokens") or 0) or None
    # The old run's settings, so the model is the only difference.
    query = next(q for q in store.queries() if q["id"] == info["query_id"])
    args.alpha, args.truncate_length, args.template = float(info["alpha"]), int(info["truncate_length"]), info["template"]
    engine = engine_from(args)
    spec = runs.RunSpec(
        query=query["text"], documents=documents, instruction=info["instruction"], template=args.template,
        truncate_length=args.truncate_length, settings=settings_from(args, engine), alpha=args.alpha,
        source=query["source"] or None, source_query_id=query["source_query_id"] or None,
    )
    run = runs.start(store, engine, spec)
    with contextlib.closing(runs.execute(run, engine, store)) as judging:  # Ctrl-C: cancelled
        for judgment in judging:
            print(f"[{len(run.judgments)}/{len(documents)}] {judgment.doc_id}: "
                  f"{judgment.score if judgment.score is not None else judgment.failure}", file=sys.stderr)
    print(f"compare them: python -m erank_studio compare {args.run} {run.run_id}"
          + (f" --db {args.db}" if args.db else ""))
    return 0
