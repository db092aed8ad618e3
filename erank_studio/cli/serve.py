"""``python -m erank_studio serve``: the web app (the same as ``python app.py``)."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..ui.server import add_arguments

    parser = subparsers.add_parser("serve", help="start the web app (Gradio) and print its local URL",
                                   description="Start ERank Studio in the browser.")
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..ui.server import serve

    return serve(args)
