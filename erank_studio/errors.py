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


class ValidationError(ValueError):
    """A value a person or a file supplied that the store refuses (a label score of 99, an id
    with whitespace, a rationale holding ``</think>``). ``field`` names what was wrong; the
    message is one sentence that says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class StoreError(ValueError):
    """The store cannot do what was asked: missing, unreadable, corrupted, read-only, of a newer
    schema, or busy. A ValueError so that every caller that shows a ValueError's message to the
    person (the CLI's one line, the UI's toast) shows this one too; nothing was written."""


class StoreMissing(StoreError):
    """A read command named a store file that does not exist (it is not created)."""


class StoreNewer(StoreError):
    """The store was written by a newer ERank Studio (its schema revision is unknown here)."""


class StoreReadOnly(StoreError):
    """A write to a store the process may only read."""


class StoreCorrupt(StoreError):
    """The file is not a readable SQLite database (truncated, overwritten, damaged)."""


class StoreBusy(StoreError):
    """Another writer held the store longer than the bounded wait; nothing was written."""
