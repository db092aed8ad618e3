"""The command line: ``python -m erank_studio COMMAND``. One module a command, each with
``register(subparsers)`` that adds its parser and sets ``func(args) -> int``."""
from __future__ import annotations

import argparse
import importlib
import sys

# Modules under erank_studio.cli, in the order their commands are listed in --help.
COMMANDS = ["prompt_cmd", "rerank", "evaluate", "export", "import_cmd", "serve"]


class UserError(Exception):
    """Bad input from the user: printed as a one-line message, exit status 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m erank_studio",
        description="ERank Studio: see how the ERank reranker judges documents, correct it, and "
        "export what you said. Each command has its own --help.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"{__name__}.{name}":
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
