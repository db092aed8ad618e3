"""The command line starts without importing what the chosen command does not need."""
from __future__ import annotations

import argparse
import subprocess
import sys

from erank_studio.cli import COMMANDS, build_parser

HEAVY = ("torch", "transformers", "sqlalchemy", "bm25s", "numpy", "gradio", "pandas")


def _imported_after(args: list[str]) -> set[str]:
    code = (
        "import sys\nfrom erank_studio.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print('imported:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("imported:"))
    return set(line.removeprefix("imported:").split(",")) - {""}


def test_top_level_help_imports_no_heavy_library():
    assert _imported_after(["--help"]) == set()


def test_a_command_imports_only_what_it_needs():
    # `export --help` needs the store (SQLAlchemy), never the model stack.
    imported = _imported_after(["export", "--help"])
    assert "torch" not in imported and "transformers" not in imported and "gradio" not in imported


def test_the_listed_help_is_what_each_command_registers():
    parser = build_parser()  # every command in full
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    registered = {action.dest: action.help for action in subparsers._choices_actions}
    assert registered == {command: summary for command, (_module, summary) in COMMANDS.items()}


def test_an_unknown_command_is_refused_with_the_list(capsys):
    try:
        build_parser(["bogus"]).parse_args(["bogus"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err
