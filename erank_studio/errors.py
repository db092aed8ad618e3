"""The one error for malformed input files: which file, which line, what is wrong."""
from __future__ import annotations


class FileFormatError(ValueError):
    """A malformed input file. ``str(error)`` reads like ``runs.txt line 7: expected 6 columns
    'qid Q0 docid rank score tag', got 4``; whoever raised it has written nothing."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path} line {line}" if line else self.path
        super().__init__(f"{where}: {message}")
