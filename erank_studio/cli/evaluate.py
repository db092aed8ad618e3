"""``evaluate``: nDCG@10 (ir_measures) of the first stage, the model and the hybrid, per query
and mean, as a table and as JSON.

From files:  evaluate --run model.run [--run other.run] --qrels qrels.txt
             [--first-stage bm25.run --alpha 0.2]     (adds first stage and the hybrid of the two)
From the store: evaluate --dataset sample [--model M] [--db URL] [--against qrels|labels]
             (the judgments the store holds; benchmark qrels, or people's labels as relevance)
             [--model-score expected]   (the model ranked by E[N] of its score distribution
             instead of ERank's rank_score: systems "model_E[N]" and "hybrid_E[N]")"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from .. import grading, metrics
from ..scoring import DEFAULT_ALPHA
from . import UserError


# --model-score: its scoring.MODEL_SCORES name and the suffix of the model's and hybrid's names.
MODEL_SCORE_NAMES = {"rank_score": ("rank_score", ""), "expected": ("E[N]", "_E[N]")}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="nDCG@10 of runs against qrels or human labels",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", action="append", default=[], metavar="FILE", help="TREC run file (repeatable)")
    parser.add_argument("--qrels", metavar="FILE", help="TREC qrels file")
    parser.add_argument("--first-stage", metavar="FILE", help="first-stage TREC run; with one --run, the hybrid is added")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="hybrid weight of the first stage (default 0.2)")
    parser.add_argument("--dataset", help="evaluate the store's judgments of this dataset's queries")
    parser.add_argument("--model", help="with --dataset: whose judgments (needed when several models judged)")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the store (default: db/erank_studio.sqlite)")
    parser.add_argument("--against", choices=["qrels", "labels"], default="qrels",
                        help="with --dataset: benchmark qrels (default) or human labels, graded "
                        f"{grading.RULE} (as the qrels export)")
    parser.add_argument("--missing", choices=list(metrics.MISSING), default="skip",
                        help="skip (default, trec_eval's): mean over queries both in the run and the qrels; "
                        "zero (trec_eval -c): every qrels query counts, 0 where the run has none")
    parser.add_argument("--model-score", choices=list(MODEL_SCORE_NAMES), default="rank_score",
                        help="with --dataset: what ranks the model's documents: ERank's rank_score (default) or "
                        "expected, E[N] of the score distribution (judgments without one are left out); "
                        "the systems are then named model_E[N] and hybrid_E[N]")
    parser.add_argument("--annotator", help="with --against labels: only this person's labels")
    parser.add_argument("--per-query", action=argparse.BooleanOptionalAction, default=True,
                        help="show one row per query (default on)")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON ('-' for stdout, then no table)")
    parser.set_defaults(func=run)


def _read_run(path: str) -> dict[str, dict[str, float]]:
    from ..data.base import DatasetFormatError
    from ..data.files import read_run

    try:
        ranked = read_run(path)
    except DatasetFormatError as error:
        raise UserError(str(error)) from None
    return {q: dict(items) for q, items in ranked.items()}


def _read_qrels(path: str) -> dict[str, dict[str, int]]:
    from ..data.base import DatasetFormatError
    from ..data.files import read_qrels

    try:
        return read_qrels(path)
    except DatasetFormatError as error:
        raise UserError(str(error)) from None


def _unique_names(paths: list[str]) -> list[str]:
    names = [Path(p).name for p in paths]
    return [n if names.count(n) == 1 else p for n, p in zip(names, paths)]


def from_files(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    if not args.qrels:
        raise UserError("--qrels FILE is required with --run")
    qrels = _read_qrels(args.qrels)
    runs: dict[str, Any] = {}
    if args.first_stage:
        runs["first_stage"] = _read_run(args.first_stage)
    model_runs = {name: _read_run(path) for name, path in zip(_unique_names(args.run), args.run)}
    runs.update(model_runs)
    if args.first_stage and len(model_runs) == 1:
        runs["hybrid"] = metrics.hybrid_run(runs["first_stage"], next(iter(model_runs.values())), args.alpha)
    return runs, qrels


def _check_overlap(runs: dict[str, Any], qrels: dict[str, Any]) -> None:
    ranked = {q for r in runs.values() for q, docs in r.items() if docs}
    if not ranked & {q for q, docs in qrels.items() if docs}:
        raise UserError("no query is both in the runs and in the qrels: check that the query ids match")


def from_store(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the result, the model-human agreement with --against labels) of the store's batch: the
    figures the Analyze page shows (batch_stats.evaluate: the same qrels counted, the same means)."""
    from ..batch_eval import BatchNotFound, load_batch
    from ..batch_stats import evaluate
    from ..data.files import user_dataset_name
    from .common import open_store

    if Path(args.dataset).is_dir():  # a BEIR folder, named as ``rerank --dataset FOLDER`` stored it
        args.dataset = user_dataset_name(args.dataset)
    store = open_store(args.db, read_only=True)  # never creates or writes the store
    file_qrels = _read_qrels(args.qrels) if args.qrels else None
    try:
        score_name, suffix = MODEL_SCORE_NAMES[args.model_score]
        batch = load_batch(store, args.dataset, model=args.model, alpha=args.alpha, against=args.against,
                           annotator=args.annotator, file_qrels=file_qrels, model_score=score_name)
    except BatchNotFound as error:
        raise UserError(str(error)) from None
    if not batch.has_qrels:
        what = "human labels" if args.against == "labels" else "qrels"
        raise UserError(f"no {what} for the judged queries of {args.dataset}")
    agreement = metrics.agreement(*batch.label_pairs) if args.against == "labels" else None
    # named apart, so that an E[N] figure is never read as ERank's rank_score one
    runs = {name if name == "first_stage" else name + suffix: run for name, run in batch.runs.items()}
    _check_overlap(runs, batch.qrels)
    result = evaluate(batch, args.missing, runs=runs, qrels_from_file=file_qrels is not None)
    if result.get("qrels_note"):
        print(f"note: {result['qrels_note']}", file=sys.stderr)
    return result, agreement


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.alpha <= 1.0:
        raise UserError("--alpha must lie between 0 and 1")
    if args.json and args.json != "-" and not Path(args.json).resolve().parent.is_dir():
        raise UserError(f"--json {args.json}: the folder {Path(args.json).parent} does not exist")
    agreement = None
    if args.dataset:
        if args.run:
            raise UserError("use either --run FILE ... or --dataset NAME (the store), not both")
        result, agreement = from_store(args)
    elif args.run:
        if args.model_score != "rank_score":
            raise UserError("--model-score applies to --dataset (the store's judgments); a run file is already ranked")
        runs, qrels = from_files(args)
        _check_overlap(runs, qrels)
        result = metrics.evaluate_runs(runs, qrels, args.missing)
    else:
        raise UserError("give --run FILE --qrels FILE, or --dataset NAME to evaluate the store's judgments")
    result["alpha"] = args.alpha
    result["model_score"] = MODEL_SCORE_NAMES[args.model_score][0]
    result["against"] = args.against if args.dataset else "qrels"
    if result["against"] == "labels":
        result["grading"] = grading.RULE
    if agreement is not None:
        result["agreement"] = agreement
    payload = json.dumps(_jsonable(result), indent=2)
    if args.json == "-":
        print(payload)
        return 0
    print(metrics.format_table(result, per_query=args.per_query))
    print(metrics.convention_note(result))
    if result["against"] == "labels":
        print(f"relevance: human 0..10 labels graded {grading.RULE} (the qrels export's rule)")
    if agreement is not None:
        k, s = agreement["kappa_quadratic"], agreement["spearman"]
        print(f"model vs labels: n={agreement['n']}, kappa (quadratic)="
              f"{'-' if k is None else f'{k:.3f}'}, spearman={'-' if s is None else f'{s:.3f}'}")
    if args.json:
        try:
            Path(args.json).write_text(payload + "\n", encoding="utf-8")
        except OSError as error:
            raise UserError(f"cannot write --json {args.json}: {error.strerror or error}") from None
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
