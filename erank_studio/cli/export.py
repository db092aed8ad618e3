"""``python -m erank_studio export --format F --out PATH``: SFT data, TREC files, tables, bundle."""
from __future__ import annotations

import argparse
import os
import shutil
import sys

from . import UserError




def register(subparsers: argparse._SubParsersAction) -> None:
    from ..store.exports import FORMATS, GRADE_RULE
    from ..store.hf_dataset import DEFAULT_LICENSE, DEFAULT_TEST_FRACTION
    from ..store.hf_dataset import FORMAT as HF_DATASET
    from ..store.resolve import RESOLVABLE, RULE_HELP

    parser = subparsers.add_parser(
        "export",
        help="export labels and judgments (SFT JSONL, alpaca, sharegpt, TREC, CSV, Parquet, bundle, HF dataset)",
        description=f"Export from the label store. qrels grade rule: {GRADE_RULE}.",
    )
    parser.add_argument("--format", required=True, choices=(*FORMATS, HF_DATASET),
                        help=f"what to write ({HF_DATASET}: a folder datasets.load_dataset reads)")
    parser.add_argument("--out", required=True,
                        help="file to write ('-' for stdout; a folder for hf-dataset); an existing file is "
                        "refused unless --force, the store's own files and any SQLite database always")
    parser.add_argument("--force", action="store_true", help="replace an existing export file")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: $ERANK_DB_URL or db/erank_studio.sqlite)")
    parser.add_argument("--annotator", default=None, help="only this person's labels")
    parser.add_argument("--run", type=int, default=None, dest="run_id", help="only this run")
    parser.add_argument("--only-labelled", action="store_true", help="only documents a person labelled")
    parser.add_argument("--skip-empty-rationale", action="store_true",
                        help="SFT formats: leave out examples with an empty rationale (<think></think>)")
    parser.add_argument("--min-disagreement", type=int, default=None, metavar="K",
                        help="only pairs where |human - model| >= K")
    parser.add_argument("--resolve", default=None, metavar="RULE",
                        help=f"one label per document from all annotators: {RULE_HELP} "
                        f"({', '.join(RESOLVABLE)}, {HF_DATASET}; {HF_DATASET} defaults to adjudicated)")
    parser.add_argument("--license", default=DEFAULT_LICENSE, help=f"{HF_DATASET}: the card's licence")
    parser.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION,
                        help=f"{HF_DATASET}: share of the queries in the test split")
    parser.add_argument("--push-to-hub", default=None, metavar="REPO",
                        help=f"{HF_DATASET}: also upload the folder as a private dataset repository "
                        "(needs a token and network; offline says so at once)")
    parser.set_defaults(func=run)


def _rule(args: argparse.Namespace):
    from ..store.hf_dataset import FORMAT as HF_DATASET
    from ..store.resolve import RESOLVABLE, parse_rule

    if args.resolve is None:
        return parse_rule("adjudicated") if args.format == HF_DATASET else None
    if args.format not in (*RESOLVABLE, HF_DATASET):
        raise UserError(f"--resolve applies to {', '.join(RESOLVABLE)} and {HF_DATASET}, not {args.format}")
    if args.annotator is not None:
        raise UserError("--resolve and --annotator do not go together: use --resolve annotator:NAME")
    try:
        return parse_rule(args.resolve)
    except ValueError as error:
        raise UserError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    from ..store.exports import ExportFilter, export_summary, export_summary_to_tempfile
    from ..store.hf_dataset import FORMAT as HF_DATASET
    from .common import open_store

    if args.min_disagreement is not None and not 0 <= args.min_disagreement <= 10:
        raise UserError("--min-disagreement must be between 0 and 10")
    rule = _rule(args)
    if args.format == HF_DATASET:
        return _run_dataset(args, rule)
    if args.push_to_hub is not None:
        raise UserError(f"--push-to-hub goes with --format {HF_DATASET}")
    try:
        flt = ExportFilter(annotator=args.annotator, run_id=args.run_id, only_labelled=args.only_labelled,
                           min_disagreement=args.min_disagreement, resolve=rule,
                           skip_empty_rationale=args.skip_empty_rationale)
    except ValueError:
        raise UserError("--annotator is empty: name the person whose labels to export "
                        "(leave --annotator out for everyone's)") from None
    store = open_store(args.db, read_only=True)  # a missing store is not created
    to_stdout = args.out == "-"
    try:
        if to_stdout:
            name, summary = export_summary_to_tempfile(store, args.format, flt)
            try:
                with open(name, "rb") as handle:
                    shutil.copyfileobj(handle, sys.stdout.buffer)
                sys.stdout.flush()
            finally:
                os.unlink(name)
        else:
            summary = export_summary(store, args.format, args.out, flt, overwrite=args.force)
    except (ValueError, OSError) as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    n = summary.rows
    print(f"wrote {n} {args.format} rows to {'stdout' if to_stdout else args.out}",
          file=sys.stderr if to_stdout else sys.stdout)
    if summary.skipped_empty_rationale:
        print(f"left out {summary.skipped_empty_rationale} example(s) with an empty rationale "
              "(--skip-empty-rationale)", file=sys.stderr)
    elif summary.empty_rationale:
        print(f"note: {summary.empty_rationale} of {n} example(s) have an empty rationale (<think></think>); "
              "--skip-empty-rationale leaves them out", file=sys.stderr)
    if n == 0:
        print("warning: nothing matched: check --run, --annotator and the other filters, "
              "or whether the store holds labels and judgments yet", file=sys.stderr)
    return 0


def _run_dataset(args: argparse.Namespace, rule) -> int:
    from ..store import hf_dataset
    from .common import open_store

    if args.out == "-":
        raise UserError(f"{hf_dataset.FORMAT} writes a folder: give --out DIR")
    if args.annotator is not None or args.run_id is not None or args.only_labelled or args.min_disagreement is not None:
        raise UserError(f"{hf_dataset.FORMAT} holds every labelled document; choose its labels with --resolve "
                        "(--annotator, --run, --only-labelled and --min-disagreement do not apply)")
    token = None
    if args.push_to_hub is not None:
        try:  # before anything is written: offline is said at once
            token = hf_dataset.hub_token()
        except hf_dataset.HubUnavailable as error:
            raise UserError(str(error)) from None
    store = open_store(args.db, read_only=True)
    try:
        summary = hf_dataset.export_dataset(store, args.out, rule, overwrite=args.force,
                                            test_fraction=args.test_fraction, license=args.license)
    except (ValueError, OSError) as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    counts = ", ".join(f"{config} {'/'.join(f'{split} {n}' for split, n in splits.items())}"
                       for config, splits in summary.rows.items())
    print(f"wrote {hf_dataset.FORMAT} to {args.out} ({counts}; labels: {summary.rule})")
    if token is not None:
        try:
            url = hf_dataset.push_to_hub(args.out, args.push_to_hub, token)
        except Exception as error:  # the Hub's own errors (permissions, names, network) as one line
            raise UserError(f"the folder is written, but the upload failed: {str(error).splitlines()[0]}") from None
        print(f"uploaded to {url}")
    return 0
