"""Where the tool may write a file it produces (exports, the hf-dataset folder), and writing it
whole or not at all.

An export names its destination on the command line, so a slip (``--out store.sqlite-wal``,
``--out /dev/null``, a named pipe) must never destroy anything, with or without ``--force``.
Refused whatever ``overwrite`` says:

- anything that exists and is not a regular file (a device, FIFO, socket; a folder where a
  file is expected). ``os.stat`` tells the kind without opening the path, so a FIFO never
  blocks the export;
- any SQLite database (its first 16 bytes), and any ``-wal``, ``-shm``, ``-journal`` or
  ``.lock`` beside one, existing or not: replacing a live store's WAL loses its committed
  labels, whichever store it belongs to;
- symlinks are resolved first, so a link to one of those is refused as the file itself.

An existing regular file is replaced only with ``overwrite``. The content is written to a new
temporary file in the same folder and renamed over the destination after the checks ran again,
so the destination is either untouched or the whole new file."""
from __future__ import annotations

import os
import stat
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

SQLITE_MAGIC = b"SQLite format 3\x00"
# The files SQLite (and the store's writer lock) keep beside a database file.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal", ".lock")

T = TypeVar("T")


class OutputRefused(ValueError):
    """A destination the tool will not write: it would destroy something. One line."""


def is_sqlite_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a regular file that starts with SQLite's header (never opens a FIFO
    or a device)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as handle:
            return handle.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def sqlite_database_beside(path: str | os.PathLike[str]) -> Path | None:
    """The SQLite database whose side file (-wal, -shm, -journal, .lock) ``path`` is named as,
    if that database exists; else None."""
    name = str(path)
    for suffix in SQLITE_SIDE_FILES:
        if name.endswith(suffix) and len(name) > len(suffix):
            base = Path(name[: -len(suffix)])
            if is_sqlite_file(base):
                return base
    return None


def _same_file(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _refuse_database_files(given: Path, resolved: Path, protected: Iterable[Path], what: str) -> None:
    for own in protected:
        if _same_file(resolved, own):
            raise OutputRefused(f"refusing to write the {what} over the store's own file {given}")
    for candidate in dict.fromkeys((given, resolved)):
        base = sqlite_database_beside(candidate)
        if base is not None:
            raise OutputRefused(f"refusing to write over {given}: it belongs to the SQLite database {base}")


def check_output_file(path: str | os.PathLike[str], *, overwrite: bool = False,
                      protected: Iterable[Path] = (), what: str = "export") -> Path:
    """``path`` if a file may be written there (see the module's rules), else ``OutputRefused``.
    ``protected``: files that belong to the open store, named as such in the refusal."""
    given = Path(path)
    resolved = Path(os.path.realpath(given))
    protected = list(protected)
    _refuse_database_files(given, resolved, protected, what)
    try:
        info = os.stat(resolved)  # follows links; tells the kind without opening the file
    except FileNotFoundError:
        return given
    except OSError as error:
        raise OutputRefused(f"cannot write {given}: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        raise OutputRefused(f"{given} is a folder; give a file name")
    if not stat.S_ISREG(info.st_mode):
        raise OutputRefused(f"refusing to write over {given}: it is not a regular file (a device, pipe or socket)")
    if is_sqlite_file(resolved):
        raise OutputRefused(f"refusing to write over {given}: it is an SQLite database")
    if not overwrite:
        raise OutputRefused(f"{given} exists; pass --force to replace it")
    return given


def check_output_folder(path: str | os.PathLike[str], protected: Iterable[Path] = (),
                        what: str = "export") -> Path:
    """``path`` if a folder may be written there: a new path or an existing folder, never a
    database's side file nor a folder holding the store's files (the caller decides whether an
    existing folder's contents may be replaced)."""
    given = Path(path)
    resolved = Path(os.path.realpath(given))
    _refuse_database_files(given, resolved, (), what)
    for own in protected:
        real = Path(os.path.realpath(own))
        if real == resolved or resolved in real.parents:
            raise OutputRefused(f"refusing to write the {what} over the store's folder {given}")
    try:
        info = os.stat(resolved)
    except FileNotFoundError:
        return given
    except OSError as error:
        raise OutputRefused(f"cannot write {given}: {error.strerror or error}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise OutputRefused(f"{given} is not a folder; {what} writes a folder")
    return given


@contextmanager
def _temporary_beside(path: Path) -> Iterator[Path]:
    # O_EXCL: never an existing file; mode 0666 less the umask, as a plain open() would give.
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
    finally:
        if tmp.exists():
            tmp.unlink()


def write_file(path: str | os.PathLike[str], write: Callable[[Path], T], *, overwrite: bool = False,
               protected: Iterable[Path] = (), what: str = "export") -> T:
    """Check ``path``, let ``write(tmp)`` write a temporary file beside it, check again (the
    destination may have changed meanwhile) and rename it into place. Returns what ``write``
    returned. A replaced file keeps its permissions (a private 0600 download stays private)."""
    protected = list(protected)
    target = check_output_file(path, overwrite=overwrite, protected=protected, what=what)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _temporary_beside(target) as tmp:
        result = write(tmp)
        check_output_file(target, overwrite=overwrite, protected=protected, what=what)
        if target.exists():
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    return result
