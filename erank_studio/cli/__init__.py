"""The command line: ``python -m erank_studio COMMAND``. One module a command, each with
``register(subparsers)`` that adds its parser and sets ``func(args) -> int``.

Only the chosen command's module is imported (they pull in torch, SQLAlchemy, BM25...): the
top-level ``--help`` and the other commands' entries come from ``COMMANDS``, so the help prints
in a fraction of a second. tests/test_cli_startup.py checks that these one-line helps are the
ones the modules register."""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

# command -> (module under erank_studio.cli, one-line help), in the order --help lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "prompt": ("prompt_cmd", "print the exact prompt text and its token count"),
    "rerank": ("rerank", "rerank documents for a query, or a whole benchmark"),
    "evaluate": ("evaluate", "nDCG@10 of runs against qrels or human labels"),
    "export": ("export", "export labels and judgments (SFT JSONL, alpaca, sharegpt, TREC, CSV, Parquet, bundle, HF dataset)"),
    "queue": ("queue_cmd", "the order to label unlabelled documents in (uncertainty, disagreement, rank)"),
    "runs": ("runs_cmd", "list the store's runs (ids for compare and queue)"),
    "compare": ("compare_cmd", "compare two runs of the same query (ranks, Kendall tau, Spearman, nDCG@10)"),
    "rejudge": ("rejudge", "judge a stored run's query and documents again with another model (--base-model: ERank's base)"),
    "import": ("import_cmd", "import TREC qrels / runs, JSONL / CSV documents and queries, or a bundle"),
    "serve": ("serve", "start the web app (Gradio) and print its local URL"),
    "agreement": ("agreement", "agreement between annotators (kappa, Spearman, Krippendorff's alpha) and with the model"),
    "adjudicate": ("adjudicate", "the queue of documents annotators disagree on, and setting their final label"),
    "roles": ("roles", "grant, revoke or list the adjudicator role"),
    "campaign": ("campaign_cmd", "labelling campaigns: create, hand out items (next), label, skip, status, anchoring"),
}


class UserError(Exception):
    """Bad input from the user: printed as a one-line message, exit status 2, no traceback."""


def _chosen_command(argv: list[str]) -> str | None:
    """The command named on the line (argparse's own rule: the first word that is no option)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: the chosen command in full, the others as their help line
    (None: every command in full, e.g. for documentation)."""
    parser = argparse.ArgumentParser(
        prog="python -m erank_studio",
        description="ERank Studio: see how the ERank reranker judges documents, correct it, and "
        "export what you said. Each command has its own --help.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    chosen = _chosen_command(argv) if argv is not None else None
    for command, (module_name, summary) in COMMANDS.items():
        if argv is not None and command != chosen:
            subparsers.add_parser(command, help=summary, add_help=False)
            continue
        importlib.import_module(f"{__name__}.{module_name}").register(subparsers)
    return parser


# What a Unix tool killed by SIGPIPE reports (128 + 13).
EXIT_BROKEN_PIPE = 141


def _silence_stdout() -> None:
    """Point stdout at the null device, so the interpreter's last flush of what could not be
    written does not fail again (with a traceback) at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (a test's capture)
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a full disk or a closed pipe is seen here, not at the interpreter's exit
        return code
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head -1`: the reader has what it wanted; stop quietly
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise
        _silence_stdout()
        print(f"error: cannot write the output ({error.strerror or error})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
