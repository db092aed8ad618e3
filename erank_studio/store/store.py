"""The label store facade: runs, judgments and human labels in SQLite (the zero-setup default) or
PostgreSQL (a team's shared server).

Never lose a label, never hang: every write is its own short transaction committed before the
method returns, and writers take turns: on SQLite a ``BEGIN IMMEDIATE`` transaction (the
database in WAL mode) behind an advisory lock file, on PostgreSQL a transaction-level advisory
lock taken first. A write waits at most ``WRITE_WAIT_S`` seconds for another writer (SQLite's
busy timeout, PostgreSQL's ``lock_timeout``), then ``StoreBusy``, nothing written. Labels are
append-only (a correction or an undo is a new row; the latest row per annotator is the current
label). Opening a store to read (``read_only=True``: exports, evaluate, the app's views) takes no
write transaction (on SQLite the file is opened ``mode=ro``, on PostgreSQL every transaction is
read-only); a store that is missing (``must_exist``), corrupted, unreachable, read-only or of a
newer schema is refused at open with a one-line ``StoreError`` that never shows a password."""
from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, column, create_engine, event, func, inspect, select, table
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

try:
    import fcntl
except ImportError:  # Windows: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]

from .. import prompt, text_rules
from ..safe_output import SQLITE_MAGIC, SQLITE_SIDE_FILES
from ..errors import StoreBusy, StoreCorrupt, StoreError, StoreMissing, StoreNewer, StoreReadOnly
from ..types import STATUS_FAILED, Document, GenerationSettings, Judgment, Truncation
from . import annotators, candidates, schema, validation
from .candidates import DocumentIdTaken, text_sha1  # noqa: F401 - re-exported
from .validation import RUN_STATUSES  # noqa: F401 - re-exported: callers import it from here

if TYPE_CHECKING:
    from .writer import JudgmentWriter

REPO_ROOT = Path(__file__).resolve().parents[2]
DB_DIR = REPO_ROOT / "db"
MIGRATIONS_DIR = DB_DIR / "migrations"
DEFAULT_URL = f"sqlite:///{DB_DIR / 'erank_studio.sqlite'}"
# The longest a write waits for another writer before giving up with StoreBusy. Writers hold
# the store for one short transaction (imports and batches commit in chunks), so 10 s of waiting
# means something is wrong, and a person clicking a label is told so instead of hanging.
WRITE_WAIT_S = 10.0
BUSY_TIMEOUT_S = WRITE_WAIT_S  # kept for callers of the old name
# After each chunk a bulk writer (import, batch) steps aside this long, so that a label click
# polling for the lock gets in between chunks instead of waiting for the whole import.
BULK_PAUSE_S = 0.03
_LOCK_POLL_S = 0.005
# Alembic's version table (its default name, which db/migrations/env.py keeps).
VERSIONS = table("alembic_version", column("version_num"))
# How long opening a PostgreSQL store waits for the server to answer (an unreachable host would
# otherwise hang until the operating system gives up, minutes later).
CONNECT_TIMEOUT_S = 10
# The PostgreSQL advisory lock every write transaction takes first (any constant: advisory locks
# belong to one database, so stores in other databases of the same server do not share it).
PG_WRITE_LOCK = 0x45_52_61_6E_6B_53  # "ERankS"

Q = schema.Query.__table__
D = schema.DocumentRow.__table__
QD = schema.QueryDocument.__table__
R = schema.Run.__table__
J = schema.JudgmentRow.__table__
A = schema.Annotator.__table__
L = schema.Label.__table__
QR = schema.Qrel.__table__


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class LabelRow:
    id: int
    query_id: int
    doc_id: str
    annotator: str
    score: int | None
    rationale: str | None
    note: str | None
    created_at: datetime
    retracted: bool = False
    action: str = "set"  # "set", "undo", or "adjudicate" (an adjudicator's final label)


@dataclass
class RunRow:
    id: int
    query_id: int
    query_text: str
    model: str
    engine: str
    instruction: str
    truncate_length: int
    alpha: float
    status: str
    created_at: datetime
    n_judgments: int
    template: str = prompt.DEFAULT_TEMPLATE  # the prompt template's name (prompt.TEMPLATES)
    chat_template_source: str | None = None  # None for runs that predate its recording


def default_url() -> str:
    return os.environ.get("ERANK_DB_URL") or DEFAULT_URL


def without_password(text: str, url: str | None) -> str:
    """``text`` with the URL's password (if any) replaced by ***: driver errors may repeat it."""
    try:
        password = make_url(url).password if url else None
    except Exception:  # not a URL: there is no password to find in it
        password = None
    return text.replace(str(password), "***") if password else text


def checked_url(url: str) -> str:
    """``url`` if it can name a store, else a one-line ``StoreError`` that never shows the URL's
    password: an empty URL (``--db ""``) is refused rather than meaning the default store."""
    if not isinstance(url, str) or not url.strip():
        raise StoreError("the store URL is empty: give a database URL (e.g. sqlite:///labels.sqlite) "
                         "or leave it out for the default store")
    try:
        make_url(url)
    except sa_exc.ArgumentError:
        raise StoreError("not a database URL: expected e.g. sqlite:///labels.sqlite or "
                         "postgresql+psycopg://user@host/db") from None
    except ValueError as error:  # SQLAlchemy reads the port with int()
        found = re.search(r"int\(\) with base 10: (.*)$", str(error))
        why = f"its port {found.group(1)} is not a number" if found else without_password(str(error), url)
        raise StoreError(f"not a database URL: {why}") from None
    return url


def check_sqlite_health(path: Path) -> None:
    """Refuse (``StoreCorrupt``) a database file that fails SQLite's ``PRAGMA quick_check``, read
    through a read-only connection so that the damaged file is left exactly as it was. A damaged
    store would otherwise take new labels into pages that are already lost. The check reads every
    page once (see the README's store section for its cost)."""
    import sqlite3
    from urllib.parse import quote

    if path.stat().st_size == 0:
        return  # a new, empty file: nothing to check
    try:
        con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=WRITE_WAIT_S)
    except sqlite3.Error as error:
        raise StoreError(f"cannot open the store {path}: {error}") from None
    try:
        found = [row[0] for row in con.execute("PRAGMA quick_check(3)").fetchall()]
        if found == ["ok"]:
            tables = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            versions = (con.execute(f"SELECT count(*) FROM {VERSIONS.name}").fetchone()[0]
                        if VERSIONS.name in tables else 0)
    except sqlite3.DatabaseError as error:
        if "locked" in str(error) or "busy" in str(error):
            return  # another process holds it: its own checks apply; reads will tell
        found = [str(error)]
    finally:
        con.close()
    if found == ["ok"]:
        # Told here, through the read-only connection: a writing connection would first turn
        # the file to WAL mode, changing another program's database before refusing it.
        _check_tables(str(path), tables, versions)
    else:
        raise StoreCorrupt(
            f"the store {path} is damaged (SQLite's quick_check: "
            f"{'; '.join(' '.join(f.replace('*** in database main ***', '').split()) for f in found)[:300]}); "
            f"it was not changed. Copy out what is readable with: sqlite3 {path} .recover | sqlite3 recovered.sqlite")


def _check_tables(where: str, tables: list[str], versions: int) -> None:
    """Refuse a database that holds tables but is no ERank Studio store (adding our tables to
    another program's database would be a surprise), and one whose schema version table holds
    several rows (its schema cannot be told)."""
    if versions > 1:
        raise StoreCorrupt(f"the store {where} has {versions} schema version rows (alembic_version "
                           "holds one); it was not changed")
    if tables and VERSIONS.name not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(f"{where} is not an ERank Studio store (it holds other tables: {shown}); "
                         "nothing was changed")


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory ones)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def store_files(url: str) -> list[Path]:
    """The files a SQLite store consists of: the database, its -wal, -shm, -journal and lock
    files, both as named and beside the file a symlinked name leads to (where SQLite keeps them)."""
    path = sqlite_path(url)
    if path is None:
        return []
    names = dict.fromkeys((path, Path(os.path.realpath(path))))
    return [Path(str(p) + suffix) for p in names for suffix in ("", *SQLITE_SIDE_FILES)]


def _model_text(text: str | None) -> str | None:
    """Model output as stored: a NUL character (which PostgreSQL text cannot hold) and a lone
    surrogate (which no store can encode; a server's JSON escape can make one) become U+FFFD on
    every store, so a judgment is never lost over them and both stores keep the same."""
    if not text:
        return text
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text_rules.LONE_SURROGATE.sub("\ufffd", text)


def _owner() -> str:
    """This process, as written on the runs it starts: host, pid and the process's start time
    (so that a pid reused by another process is not taken for the run's owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def _process_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _owner_alive(owner: str) -> bool | None:
    """Whether the process that wrote ``owner`` still runs; None when that cannot be told (another
    host, an unknown form)."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return None
    pid = int(parts[1])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return not parts[2] or _process_start(pid) in ("", parts[2])


# PostgreSQL's SQLSTATE codes (psycopg's ``error.sqlstate``) for what a person is told.
_PG_BUSY = {"55P03", "57014", "40001", "40P01"}  # lock timeout, statement timeout, serialization, deadlock
_PG_READ_ONLY = {"25006", "42501"}  # a read-only transaction, a role without the right to write
_PG_LOGIN = {"28P01", "28000"}  # wrong password, no such role / not allowed to connect
_PG_NO_DATABASE = "3D000"


def _translate(error: Exception, where: str, wait_s: float = WRITE_WAIT_S,
               url: str | None = None) -> StoreError:
    """The database's errors as one sentence for a person (one line, no password of ``url``)."""
    orig = getattr(error, "orig", error)
    text = without_password(" ".join(str(orig or error).split()), url)
    low = text.lower()
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in _PG_BUSY or "locked" in low or "busy" in low:
        return StoreBusy(f"the store {where} is busy: another write held it for more than "
                         f"{wait_s:g} s; nothing was saved, try again")
    if sqlstate in _PG_READ_ONLY or "readonly" in low or "read-only" in low:
        return StoreReadOnly(f"the store {where} is read-only; nothing was saved")
    # libpq reports a refused connection without an SQLSTATE: its words tell which.
    if sqlstate in _PG_LOGIN or "authentication failed" in low or "no password supplied" in low \
            or ('role "' in low and "does not exist" in low):
        return StoreError(f"the database server refused the login to {where} ({text})")
    if sqlstate == _PG_NO_DATABASE or ('database "' in low and "does not exist" in low):
        return StoreMissing(f"no store at {where}: the server has no such database (create it "
                            "first, e.g. createdb)")
    if sqlstate is None and isinstance(error, sa_exc.OperationalError) and "connection" in low:
        return StoreError(f"cannot reach the database server of {where} ({text})")
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return StoreCorrupt(f"the store {where} is damaged ({text}); it was not changed")
    if "unable to open" in low:
        return StoreError(f"cannot open the store {where} ({text})")
    return StoreError(f"the store {where} failed: {text}")


def _make_engine(url: str, read_only: bool = False, wait_s: float = WRITE_WAIT_S) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    is_sqlite = backend == "sqlite"
    kwargs: dict[str, Any] = {}
    if is_sqlite:
        kwargs["connect_args"] = {"timeout": wait_s}
        path = sqlite_path(url)
        if read_only and path is not None:
            # mode=ro: this connection cannot write, whatever the code above it does.
            kwargs["creator"] = _read_only_creator(path, wait_s)
    elif backend == "postgresql":
        if parsed.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in parsed.query:
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        # A server may restart under a long-running app: test a pooled connection before use.
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if backend == "postgresql":
        _postgresql_events(engine, read_only, wait_s)
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):  # noqa: ANN001
            # Driver-level autocommit: we emit BEGIN ourselves (below) so that writers can take
            # the write lock up front; a deferred BEGIN that upgrades to a write lock can fail
            # with "database is locked" regardless of the busy timeout.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
            if not read_only:
                cursor.execute("PRAGMA journal_mode = WAL")
                # FULL: a committed label survives a power cut too, not just a crash of the app.
                cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("erank_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgresql_events(engine: Engine, read_only: bool, wait_s: float) -> None:
    """PostgreSQL's counterparts of the SQLite settings: every wait for a lock bounded by
    ``lock_timeout`` (then SQLSTATE 55P03, told as StoreBusy); a read-only store's transactions
    read-only on the server; writers one at a time through an advisory lock, as SQLite's
    BEGIN IMMEDIATE does, so that the store's look-then-insert steps (annotators, queries,
    documents, migrations) never race another process."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {int(wait_s * 1000)}")
        # psycopg prepares a statement run 5 times, and PostgreSQL then may switch it to a
        # generic plan, which tests a long IN list row by row instead of by hash: importing
        # 10,000 documents took 7-9 s instead of 1.9 s here. Plan with the actual values.
        cursor.execute("SET plan_cache_mode = force_custom_plan")
        if read_only:
            cursor.execute("SET default_transaction_read_only = on")
        cursor.close()
        dbapi_connection.commit()  # SET outlives the transaction it ran in

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("erank_write", False):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")


def _read_only_creator(path: Path, wait_s: float):
    import sqlite3
    from urllib.parse import quote

    uri = f"file:{quote(str(path.resolve()))}?mode=ro"

    def connect():
        return sqlite3.connect(uri, uri=True, timeout=wait_s, check_same_thread=False)

    return connect


_HEAD: str | None = None


def _alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _scripts():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def _head_revision() -> str:
    global _HEAD
    if _HEAD is None:
        _HEAD = _scripts().get_current_head()
    return _HEAD


def _at_head(conn: Connection) -> bool:
    """Whether the store is at this code's schema (``schema.HEAD_REVISION``), read with plain SQL:
    every start of the app and of the CLI opens a current store, and importing alembic to learn
    that costs a quarter of a second. Anything else (no version table, an older, newer or
    unknown revision, several rows) answers False and goes through alembic as before."""
    if not inspect(conn).has_table(VERSIONS.name):
        return False
    return conn.execute(select(VERSIONS.c.version_num)).scalars().all() == [schema.HEAD_REVISION]


def _current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _known_revision(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:  # alembic raises its own "Can't locate revision" kinds
        return False


def migrate(engine: Engine, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` inside one write transaction (concurrent openers wait).
    A store at the head already is only read (no write transaction)."""
    if revision == "head":
        with engine.connect() as conn:
            with conn.begin():
                if _at_head(conn):
                    return
                current = _current_revision(conn)
        if current == _head_revision():
            return
        if current is not None and not _known_revision(current):
            raise StoreNewer(f"this store was written by a newer ERank Studio (schema revision "
                             f"{current}); upgrade ERank Studio to open it")
    write = engine.execution_options(erank_write=True)
    with write.connect() as conn:
        with conn.begin():
            current = _current_revision(conn)
            if revision == "head" and current == _head_revision():
                return
            from alembic import command

            command.upgrade(_alembic_config(conn), revision)


class Store:
    """Everything a run produces and everything a person says, kept and never overwritten.

    ``read_only``: open for reading only (no write transaction; a SQLite file opened
    ``mode=ro``, PostgreSQL transactions read-only); implies ``must_exist``. ``must_exist``:
    refuse a missing database file or server database (``StoreMissing``) instead of creating an
    empty store. ``write_wait_s``: how long a write waits for another writer before
    ``StoreBusy``. Opening a store for writing marks its runs whose process has
    died as ``interrupted`` (``mark_interrupted``)."""

    def __init__(self, url: str | None = None, *, migrate_on_open: bool = True,
                 read_only: bool = False, must_exist: bool = False,
                 write_wait_s: float = WRITE_WAIT_S) -> None:
        self.url: str = default_url() if url is None else checked_url(url)
        self.read_only = read_only
        self.write_wait_s = write_wait_s
        path = sqlite_path(self.url)
        self._path = path
        self._where = str(path) if path is not None else make_url(self.url).render_as_string(hide_password=True)
        self.backend: str = make_url(self.url).get_backend_name()  # "sqlite", "postgresql", ...
        if path is not None:
            self._check_file(path, must_exist or read_only, read_only)
            if path.exists():
                check_sqlite_health(path)
        try:
            self.engine: Engine = _make_engine(self.url, read_only, write_wait_s)
        except (ImportError, sa_exc.ArgumentError) as error:  # no such dialect, its driver missing
            hint = " (pip install 'psycopg[binary]')" if isinstance(error, ImportError) else ""
            raise StoreError(f"cannot open the store {self._where}: "
                             f"{without_password(str(error), self.url)}{hint}") from None
        self._lock_path: str | None = str(path) + ".lock" if path is not None and not read_only else None
        self._lock_fd: int | None = None
        self._lock_pid: int | None = None
        self._thread_lock = threading.Lock()
        self._write_engine = self.engine.execution_options(erank_write=True)
        self.owner = _owner()
        try:
            if migrate_on_open:
                self._check_schema(path)
            if not read_only and migrate_on_open:
                self.mark_interrupted()
        except sa_exc.DBAPIError as error:
            self.engine.dispose()
            raise _translate(error, self._where, self.write_wait_s, self.url) from None
        except StoreError:
            self.engine.dispose()
            raise

    def _check_file(self, path: Path, must_exist: bool, read_only: bool) -> None:
        where = str(path)
        if path.is_dir():
            raise StoreError(f"the store {where} is a folder, not a database file")
        if not path.exists():
            if must_exist:
                raise StoreMissing(f"no store at {where} (check --db; a read command does not create one)")
            parent = path.parent
            if parent.exists() and not parent.is_dir():
                raise StoreError(f"cannot create the store {where}: {parent} is not a folder")
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot create the store {where}: {error.strerror or error}") from None
            if not os.access(parent, os.W_OK):
                raise StoreReadOnly(f"cannot create the store {where}: the folder is read-only")
            return
        try:
            with open(path, "rb") as handle:
                head = handle.read(16)
        except OSError as error:
            raise StoreError(f"cannot read the store {where}: {error.strerror or error}") from None
        if head and head != SQLITE_MAGIC:
            raise StoreCorrupt(f"{where} is not an ERank Studio store (not an SQLite database)")
        if not head and must_exist:
            raise StoreCorrupt(f"{where} is empty: not an ERank Studio store")
        if not read_only and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            raise StoreReadOnly(f"the store {where} is read-only (open it for reading, e.g. export)")

    def _check_schema(self, path: Path | None) -> None:
        with self.engine.connect() as conn:
            with conn.begin():
                if _at_head(conn):
                    return
                tables = inspect(conn).get_table_names()
                versions = (conn.execute(select(func.count()).select_from(VERSIONS)).scalar()
                            if VERSIONS.name in tables else 0)
                _check_tables(self._where, tables, versions)
                current = _current_revision(conn)
                if current is None and self.read_only:
                    raise StoreError(f"{self._where} is not an ERank Studio store"
                                     + (" (it holds no tables)" if not tables else ""))
        if current == _head_revision():
            return
        if current is not None and not _known_revision(current):
            raise StoreNewer(f"this store ({self._where}) was written by a newer ERank Studio "
                             f"(schema revision {current}); upgrade ERank Studio to open it")
        if self.read_only:
            # A server decides itself who may upgrade (a read-only role is refused, and told so).
            file_read_only = path is not None and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
            if file_read_only or (path is None and self.backend == "sqlite"):
                raise StoreError(f"the store {self._where} has an older schema ({current}) and cannot "
                                 "be upgraded here (read-only): open it once with a writing command")
            writer = _make_engine(self.url, wait_s=self.write_wait_s)  # one-time upgrade of an older store
            try:
                self._run_with_lock(lambda: migrate(writer))
            finally:
                writer.dispose()
            return
        self._run_with_lock(lambda: migrate(self.engine))

    def _run_with_lock(self, action) -> None:
        with self._writer_lock():
            action()

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        self.engine.dispose()
        if self._lock_fd is not None and self._lock_pid == os.getpid():
            os.close(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self, *, bulk: bool = False) -> Iterator[Connection]:
        """One write transaction, committed on exit (rolled back on error).

        Waits at most ``write_wait_s`` for other writers, then raises ``StoreBusy``. SQLite
        serialises writers itself (BEGIN IMMEDIATE + busy timeout); for a database file writers
        also queue on an advisory lock file first, because SQLite's busy handler waits by
        sleeping with back-off and many concurrent writers then spend most time asleep.
        PostgreSQL writers queue on a transaction-level advisory lock (``lock_timeout``).
        ``bulk``: one chunk of a long import; afterwards the writer steps aside briefly so that
        others waiting get their turn between chunks."""
        if self.read_only:
            raise StoreReadOnly(f"the store {self._where} was opened read-only; nothing was saved")
        try:
            with self._writer_lock():
                with self._write_engine.connect() as conn:
                    with conn.begin():
                        yield conn
        except sa_exc.DBAPIError as error:
            raise _translate(error, self._where, self.write_wait_s, self.url) from None
        if bulk and self._lock_path is not None:
            time.sleep(BULK_PAUSE_S)

    def _busy(self) -> StoreBusy:
        return StoreBusy(f"the store {self._where} is busy: another write held it for more than "
                         f"{self.write_wait_s:g} s; nothing was saved, try again")

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        deadline = time.monotonic() + self.write_wait_s
        if not self._thread_lock.acquire(timeout=self.write_wait_s):
            raise self._busy()
        try:
            if self._lock_path is None or fcntl is None:
                yield
                return
            if self._lock_fd is None or self._lock_pid != os.getpid():
                try:
                    self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
                except OSError as error:
                    raise StoreError(f"cannot open the store's lock file {self._lock_path}: "
                                     f"{error.strerror or error}") from None
                self._lock_pid = os.getpid()
            while True:
                try:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise self._busy() from None
                    time.sleep(_LOCK_POLL_S)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                with conn.begin():
                    yield conn
        except sa_exc.DBAPIError as error:
            raise _translate(error, self._where, self.write_wait_s, self.url) from None

    # -- queries and documents ----------------------------------------------------------------

    def upsert_query(
        self, text: str, source: str | None = None, source_query_id: str | None = None
    ) -> int:
        with self.write() as conn:
            return self._upsert_query(conn, text, source, source_query_id)

    @staticmethod
    def _upsert_query(
        conn: Connection, text: str, source: str | None, source_query_id: str | None
    ) -> int:
        return Store._upsert_query_counted(conn, text, source, source_query_id)[0]

    @staticmethod
    def _upsert_query_counted(
        conn: Connection, text: str, source: str | None, source_query_id: str | None,
        created_at: datetime | None = None,
    ) -> tuple[int, bool]:
        """(query id, whether it was inserted). A benchmark query is found by (source, id),
        a typed one by its text."""
        validation.text(text, "query text")
        src, sqid = source or "", source_query_id or ""
        if sqid:
            validation.identifier(sqid, "query id")
        stmt = select(Q.c.id).where(Q.c.source == src, Q.c.source_query_id == sqid)
        if not sqid:
            stmt = stmt.where(Q.c.text == text)
        found = conn.execute(stmt.order_by(Q.c.id).limit(1)).scalar()
        if found is not None:
            return int(found), False
        return int(
            conn.execute(
                Q.insert().values(text=text, source=src, source_query_id=sqid,
                                  created_at=created_at or utcnow())
            ).inserted_primary_key[0]
        ), True

    # The candidate list's rules live in candidates.py; these names stay for older callers.
    @staticmethod
    def _document_rows(conn: Connection, docs: list[Document], source: str,
                       shas: list[str] | None = None) -> tuple[dict[tuple[str, str], int], int]:
        return candidates.document_rows(conn, docs, source, shas)

    def _link_many(self, conn: Connection, query_id: int, docs: list[Document], source: str = "") -> dict[str, int]:
        return candidates.link_documents(conn, query_id, docs, source)

    def _ensure_query(self, conn: Connection, query_id: int) -> Any:
        row = conn.execute(select(Q).where(Q.c.id == query_id)).first()
        if row is None:
            raise ValueError(f"no query with id {query_id}")
        return row

    def add_documents(
        self, query_id: int, documents: Iterable[Document], source: str | None = None
    ) -> int:
        """Add documents to a query's candidate list (without judging them)."""
        with self.write() as conn:
            self._ensure_query(conn, query_id)
            docs = list(documents)
            self._link_many(conn, query_id, docs, source or "")
            return len(docs)

    @staticmethod
    def _next_position(conn: Connection, query_id: int) -> int:
        return candidates.next_position(conn, query_id)

    def documents_for_query(self, query_id: int) -> list[Document]:
        with self.read() as conn:
            rows = conn.execute(
                select(QD.c.doc_id, D.c.text, D.c.title, QD.c.first_stage_score, QD.c.first_stage_source)
                .join(D, D.c.id == QD.c.document_id)
                .where(QD.c.query_id == query_id)
                .order_by(QD.c.position, QD.c.id)
            ).all()
        return [
            Document(doc_id=r.doc_id, text=r.text, title=r.title, first_stage_score=r.first_stage_score,
                     first_stage_source=r.first_stage_source)
            for r in rows
        ]

    def query_text(self, query_id: int) -> str:
        with self.read() as conn:
            return self._ensure_query(conn, query_id).text

    def queries(self) -> list[dict[str, Any]]:
        """Every query: id, text, source, source_query_id (oldest first)."""
        with self.read() as conn:
            rows = conn.execute(select(Q).order_by(Q.c.id)).all()
        return [
            {"id": r.id, "text": r.text, "source": r.source or None,
             "source_query_id": r.source_query_id or None}
            for r in rows
        ]

    # -- runs and judgments -------------------------------------------------------------------

    def start_run(
        self,
        query_id: int,
        documents: list[Document],
        *,
        model: str,
        engine: str,
        instruction: str,
        truncate_length: int,
        generation: GenerationSettings,
        alpha: float,
        created_at: datetime | None = None,
        template: str = prompt.DEFAULT_TEMPLATE,
        chat_template_source: str | None = None,
    ) -> int:
        """A new run, "running". ``template`` names the prompt wording it is judged with
        (``prompt.TEMPLATES``) and ``chat_template_source`` where the chat template came from
        (``engine.chat_template_source``)."""
        if template not in prompt.TEMPLATES:
            raise ValueError(f"unknown template {template!r}; choose one of {', '.join(prompt.TEMPLATES)}")
        with self.write() as conn:
            self._ensure_query(conn, query_id)
            self._link_many(conn, query_id, list(documents))
            gen = generation.to_dict() if isinstance(generation, GenerationSettings) else dict(generation)
            return int(
                conn.execute(
                    R.insert().values(
                        query_id=query_id, model=model, engine=engine, instruction=instruction,
                        truncate_length=int(truncate_length), generation=gen, alpha=float(alpha),
                        status="running", created_at=created_at or utcnow(), template=template,
                        chat_template_source=chat_template_source, owner=self.owner,
                    )
                ).inserted_primary_key[0]
            )

    @staticmethod
    def _judgment_values(judgment: Judgment, run_id: int, document_id: int,
                         now: datetime | None = None) -> dict[str, Any]:
        qt, dt = judgment.query_truncation, judgment.document_truncation
        return {
            "run_id": run_id,
            "document_id": document_id,
            "doc_id": judgment.doc_id,
            "idx": judgment.index,
            "raw_output": _model_text(judgment.raw_output),
            "trace": _model_text(judgment.trace),
            "score": judgment.score,
            "probability": judgment.probability,
            "rank_score": judgment.rank_score,
            "first_stage_score": judgment.first_stage_score,
            "first_stage_source": judgment.first_stage_source,
            "hybrid_score": judgment.hybrid_score,
            "status": judgment.status,
            "failure": judgment.failure,
            "failure_detail": _model_text(judgment.failure_detail),
            "prompt_tokens": judgment.prompt_tokens,
            "output_tokens": judgment.output_tokens,
            "latency_s": judgment.latency_s,
            "query_tokens": qt.original_tokens if qt else None,
            "query_tokens_kept": qt.kept_tokens if qt else None,
            "document_tokens": dt.original_tokens if dt else None,
            "document_tokens_kept": dt.kept_tokens if dt else None,
            "prompt_message": _model_text(judgment.prompt_message),
            "score_distribution": judgment.score_distribution,
            "expected_score": judgment.expected_score,
            "score_entropy": judgment.score_entropy,
            "extra": judgment.extra or {},
            "created_at": now or utcnow(),
        }

    @staticmethod
    def judgment_from_row(r: Any) -> Judgment:
        m = r._mapping
        return Judgment(
            doc_id=m["doc_id"], index=m["idx"], raw_output=m["raw_output"], status=m["status"],
            trace=m["trace"], score=m["score"], probability=m["probability"],
            rank_score=m["rank_score"], failure=m["failure"], failure_detail=m["failure_detail"],
            first_stage_score=m["first_stage_score"], first_stage_source=m["first_stage_source"],
            hybrid_score=m["hybrid_score"], prompt_tokens=m["prompt_tokens"],
            output_tokens=m["output_tokens"], latency_s=m["latency_s"],
            query_truncation=None if m["query_tokens"] is None
            else Truncation(m["query_tokens"], m["query_tokens_kept"]),
            document_truncation=None if m["document_tokens"] is None
            else Truncation(m["document_tokens"], m["document_tokens_kept"]),
            prompt_message=m["prompt_message"],
            score_distribution=list(m["score_distribution"]) if m["score_distribution"] else None,
            expected_score=m["expected_score"], score_entropy=m["score_entropy"],
            extra=dict(m["extra"] or {}),
        )

    def _run_doc_map(self, conn: Connection, run_id: int, doc_ids: set[str]) -> dict[str, int]:
        query_id = conn.execute(select(R.c.query_id).where(R.c.id == run_id)).scalar()
        if query_id is None:
            raise ValueError(f"no run with id {run_id}")
        found: dict[str, int] = {}
        ids = sorted(doc_ids)
        for i in range(0, len(ids), 500):
            found.update(conn.execute(select(QD.c.doc_id, QD.c.document_id).where(
                QD.c.query_id == query_id, QD.c.doc_id.in_(ids[i:i + 500]))).all())
        return found

    def add_judgment(self, run_id: int, judgment: Judgment) -> None:
        """Store one judgment, committed before returning (for streaming)."""
        self.add_judgments(run_id, [judgment])

    def add_judgments(self, run_id: int, judgments: Iterable[Judgment]) -> int:
        """Store many judgments of one run in one transaction (bulk import, benchmarks)."""
        judgments = list(judgments)
        with self.write() as conn:
            docs = self._run_doc_map(conn, run_id, {j.doc_id for j in judgments})
            rows = []
            now = utcnow()
            for j in judgments:
                if j.doc_id not in docs:
                    raise ValueError(f"document {j.doc_id!r} is not among run {run_id}'s documents")
                rows.append(self._judgment_values(j, run_id, docs[j.doc_id], now))
            if rows:
                conn.execute(J.insert(), rows)
            return len(rows)

    _SET_HYBRID = J.update().where(
        J.c.run_id == bindparam("r_id"), J.c.doc_id == bindparam("d_id")
    ).values(hybrid_score=bindparam("h"))

    def set_hybrid_scores(self, run_id: int, hybrid: dict[str, float | None], alpha: float) -> None:
        """Save the run's alpha and the given documents' hybrid scores in one transaction: one
        executemany keyed by (run_id, doc_id), which the index ix_judgments_run_doc_id serves,
        so the cost is linear in the run and independent of the store's size."""
        alpha = validation.alpha(alpha)
        params = [{"r_id": run_id, "d_id": doc_id, "h": validation.finite_number(value, "hybrid score")}
                  for doc_id, value in hybrid.items()]
        with self.write() as conn:
            if conn.execute(R.update().where(R.c.id == run_id).values(alpha=alpha)).rowcount == 0:
                raise ValueError(f"no run with id {run_id}")
            if params:
                conn.execute(self._SET_HYBRID, params)

    def mark_interrupted(self, run_ids: Iterable[int] | None = None) -> list[int]:
        """Mark runs that stopped without finishing as ``interrupted``; returns their ids.

        With ``run_ids``: those runs, if still ``running`` (a resumed batch, a run its owner
        knows is dead). Without: every ``running`` run started on this host by a process that
        no longer exists (runs of other hosts, or of older versions that did not record their
        process, are left alone). Called by every opening for writing."""
        with self.read() as conn:
            stmt = select(R.c.id, R.c.owner).where(R.c.status == "running")
            if run_ids is not None:
                wanted = [int(i) for i in run_ids]
                stmt = stmt.where(R.c.id.in_(wanted))
            rows = conn.execute(stmt).all()
        if run_ids is None:
            dead = [r.id for r in rows if r.owner and r.owner != self.owner and _owner_alive(r.owner) is False]
        else:
            dead = [r.id for r in rows]
        if not dead:
            return []
        with self.write() as conn:
            conn.execute(R.update().where(R.c.id.in_(dead), R.c.status == "running")
                         .values(status="interrupted", finished_at=utcnow()))
        return dead

    def judgment_writer(self, run_id: int, *, max_rows: int | None = None,
                        max_delay_s: float | None = None) -> JudgmentWriter:
        """A buffered writer of this run's judgments (see ``writer.JudgmentWriter``)."""
        from .writer import JudgmentWriter

        kwargs = {k: v for k, v in (("max_rows", max_rows), ("max_delay_s", max_delay_s)) if v is not None}
        return JudgmentWriter(self, run_id, **kwargs)

    def finish_run(self, run_id: int, status: str = "done") -> None:
        validation.finished_status(status, "run status")
        with self.write() as conn:
            done = conn.execute(
                R.update().where(R.c.id == run_id).values(status=status, finished_at=utcnow())
            )
            if done.rowcount == 0:
                raise ValueError(f"no run with id {run_id}")

    def run_judgments(self, run_id: int) -> list[Judgment]:
        with self.read() as conn:
            rows = conn.execute(select(J).where(J.c.run_id == run_id).order_by(J.c.id)).all()
        return [self.judgment_from_row(r) for r in rows]

    def runs(self, query_id: int | None = None, limit: int | None = None) -> list[RunRow]:
        """Runs, newest first (at most ``limit``). Each run's judgments are counted on the
        judgments' run index for the runs shown only, so the cost follows what is listed, not
        the store's size."""
        newest = select(R.c.id).order_by(R.c.created_at.desc(), R.c.id.desc())
        if query_id is not None:
            newest = newest.where(R.c.query_id == query_id)
        if limit is not None:
            newest = newest.limit(limit)
        # The runs are chosen first, then counted: a count in the same select would be computed
        # for every run before the sort and the limit.
        shown = newest.subquery()
        count = select(func.count()).select_from(J).where(J.c.run_id == R.c.id).scalar_subquery()
        stmt = (
            select(R, Q.c.text.label("query_text"), count.label("n_judgments"))
            .join(shown, shown.c.id == R.c.id)
            .join(Q, Q.c.id == R.c.query_id)
            .order_by(R.c.created_at.desc(), R.c.id.desc())
        )
        with self.read() as conn:
            rows = conn.execute(stmt).all()
        return [
            RunRow(id=r.id, query_id=r.query_id, query_text=r.query_text, model=r.model,
                   engine=r.engine, instruction=r.instruction, truncate_length=r.truncate_length,
                   alpha=r.alpha, status=r.status, created_at=r.created_at, n_judgments=r.n_judgments,
                   template=r.template, chat_template_source=r.chat_template_source)
            for r in rows
        ]

    def run_info(self, run_id: int) -> dict[str, Any]:
        """A run's full settings (generation included)."""
        with self.read() as conn:
            row = conn.execute(select(R).where(R.c.id == run_id)).first()
        if row is None:
            raise ValueError(f"no run with id {run_id}")
        return dict(row._mapping)

    def judged_doc_ids(self, query_id: int, model: str, include_failed: bool = False) -> set[str]:
        """doc_ids this model has already judged for the query (failed judgments excluded unless
        asked, so a resumed batch retries them)."""
        stmt = (
            select(J.c.doc_id).distinct().join(R, R.c.id == J.c.run_id)
            .where(R.c.query_id == query_id, R.c.model == model)
        )
        if not include_failed:
            stmt = stmt.where(J.c.status != STATUS_FAILED)
        with self.read() as conn:
            return set(conn.execute(stmt).scalars())

    # -- labels -------------------------------------------------------------------------------

    @staticmethod
    def _annotator_id(conn: Connection, name: str, create: bool = True) -> int | None:
        return annotators.annotator_id(conn, name) if create else annotators.find_annotator(conn, name)

    @staticmethod
    def validate_score(score: Any) -> int | None:
        return validation.label_score(score, "a label score")

    def add_label(
        self,
        query_id: int,
        doc_id: str,
        annotator: str,
        score: int | None,
        rationale: str | None = None,
        note: str | None = None,
        *,
        document: Document | None = None,
    ) -> LabelRow:
        """Append a label and commit it before returning. ``document`` links a document that
        is not yet among the query's candidates (a label on a document no run has seen)."""
        score, rationale, note, annotator = validation.label(score, rationale, note, annotator)
        if document is not None:
            validation.document(document.doc_id, document.text, document.title)
        with self.write() as conn:
            # Inside the write transaction: a double click, a retried request or a re-render
            # that repeats the person's current label adds no row (one action, one row), so
            # undo always reverts what the person last saw change.
            same = self._current_label_if_same(conn, query_id, doc_id, annotator, score, rationale, note)
            if same is not None:
                return same
            return self._insert_label(conn, query_id, doc_id, annotator, score, rationale, note,
                                      document=document)

    def _current_label_if_same(self, conn: Connection, query_id: int, doc_id: str, annotator: str,
                               score: int | None, rationale: str | None, note: str | None) -> LabelRow | None:
        aid = annotators.find_annotator(conn, annotator)
        if aid is None:
            return None
        row = conn.execute(
            self._label_select().where(L.c.query_id == query_id, L.c.doc_id == doc_id, L.c.annotator_id == aid,
                                       L.c.action != validation.ADJUDICATE)
            .order_by(L.c.id.desc()).limit(1)
        ).first()
        if row is None or row.retracted or (row.score, row.rationale, row.note) != (score, rationale, note):
            return None
        return self._label_row(row)

    def add_labels(
        self, labels: Iterable[tuple[int, str, str, int | None, str | None, str | None]]
    ) -> int:
        """Many labels ``(query_id, doc_id, annotator, score, rationale, note)`` in one
        transaction (imports, benchmarks); the UI uses ``add_label``, one commit per label."""
        items = list(labels)
        now = utcnow()
        with self.write() as conn:
            annotators: dict[str, int] = {}
            docs: dict[tuple[int, str], int] = {}
            loaded: set[int] = set()
            rows = []
            for query_id, doc_id, annotator, score, rationale, note in items:
                score, rationale, note, annotator = validation.label(score, rationale, note, annotator)
                if annotator not in annotators:
                    annotators[annotator] = self._annotator_id(conn, annotator)
                if query_id not in loaded:
                    loaded.add(query_id)
                    for r in conn.execute(select(QD.c.doc_id, QD.c.document_id).where(QD.c.query_id == query_id)):
                        docs[(query_id, r.doc_id)] = r.document_id
                if (query_id, doc_id) not in docs:
                    raise ValueError(f"document {doc_id!r} is not a candidate of query {query_id}")
                rows.append({"query_id": query_id, "document_id": docs[(query_id, doc_id)], "doc_id": doc_id,
                             "annotator_id": annotators[annotator], "score": score, "rationale": rationale,
                             "note": note, "retracted": False, "action": "set", "created_at": now})
            if rows:
                conn.execute(L.insert(), rows)
        return len(items)

    def _insert_label(
        self, conn: Connection, query_id: int, doc_id: str, annotator: str, score: int | None,
        rationale: str | None, note: str | None, *, retracted: bool = False, action: str = "set",
        document: Document | None = None, created_at: datetime | None = None,
        document_id: int | None = None,
    ) -> LabelRow:
        if document_id is None:
            if document is not None:
                if document.doc_id != doc_id:
                    raise ValueError(f"document id {document.doc_id!r} does not match {doc_id!r}")
                self._ensure_query(conn, query_id)
                document_id = candidates.link_documents(conn, query_id, [document])[doc_id]
            else:
                document_id = candidates.candidate_document(conn, query_id, doc_id)
                if document_id is None:
                    raise ValueError(
                        f"document {doc_id!r} is not a candidate of query {query_id}: "
                        "add it first (store.add_documents or add_label(document=...))"
                    )
        annotator_id = self._annotator_id(conn, annotator)
        created = created_at or utcnow()
        new_id = conn.execute(
            L.insert().values(
                query_id=query_id, document_id=document_id, doc_id=doc_id, annotator_id=annotator_id,
                score=score, rationale=rationale, note=note, retracted=retracted, action=action,
                created_at=created,
            )
        ).inserted_primary_key[0]
        return LabelRow(id=int(new_id), query_id=query_id, doc_id=doc_id, annotator=annotator,
                        score=score, rationale=rationale, note=note, created_at=created,
                        retracted=retracted, action=action)

    @staticmethod
    def _label_row(r: Any) -> LabelRow:
        return LabelRow(id=r.id, query_id=r.query_id, doc_id=r.doc_id, annotator=r.annotator,
                        score=r.score, rationale=r.rationale, note=r.note, created_at=r.created_at,
                        retracted=bool(r.retracted), action=r.action)

    def _label_select(self):
        """Label rows with their annotator's name, only those made on the text their doc_id
        names under the query now (``candidates.ON_ITS_TEXT``)."""
        return select(
            L.c.id, L.c.query_id, L.c.doc_id, A.c.name.label("annotator"), L.c.score, L.c.rationale,
            L.c.note, L.c.created_at, L.c.retracted, L.c.action,
        ).join(A, A.c.id == L.c.annotator_id).join(QD, candidates.ON_ITS_TEXT)

    def current_labels(self, query_id: int, annotator: str | None = None) -> dict[str, LabelRow]:
        """doc_id -> the current label: the latest row of that annotator, or with no annotator
        the most recent current label of anyone. Retracted (undone) labels are absent, and so
        are adjudications (an adjudicator's final label is not their own label)."""
        latest = select(func.max(L.c.id)).where(L.c.query_id == query_id, L.c.action != validation.ADJUDICATE)
        with self.read() as conn:
            if annotator is not None:
                aid = self._annotator_id(conn, annotator, create=False)
                if aid is None:
                    return {}
                latest = latest.where(L.c.annotator_id == aid)
            latest = latest.group_by(L.c.doc_id, L.c.annotator_id)
            rows = conn.execute(self._label_select().where(L.c.id.in_(latest)).order_by(L.c.id)).all()
        out: dict[str, LabelRow] = {}
        for r in rows:
            if not r.retracted:
                out[r.doc_id] = self._label_row(r)  # ordered by id: the newest wins
        return out

    def label_history(self, query_id: int, doc_id: str, annotator: str | None = None) -> list[LabelRow]:
        """Every label row of the document, oldest first: sets, undos and adjudications."""
        stmt = self._label_select().where(L.c.query_id == query_id, L.c.doc_id == doc_id)
        with self.read() as conn:
            if annotator is not None:
                stmt = stmt.where(L.c.annotator_id == annotators.find_annotator(conn, annotator))
            return [self._label_row(r) for r in conn.execute(stmt.order_by(L.c.id)).all()]

    def undo_label(self, query_id: int, doc_id: str, annotator: str) -> LabelRow | None:
        """Undo this annotator's last action by appending a row: the state before it, or a
        retracted row when there was none. Repeated undos walk further back. Returns the new
        current label (None when the document is now unlabelled by this annotator)."""
        with self.write() as conn:
            rows = conn.execute(
                self._label_select().where(
                    L.c.query_id == query_id, L.c.doc_id == doc_id,
                    L.c.annotator_id == annotators.find_annotator(conn, annotator),
                    L.c.action != validation.ADJUDICATE,  # undo walks back labels, not adjudications
                ).order_by(L.c.id)
            ).all()
            stack: list[Any] = []
            for r in rows:
                if r.action == "undo":
                    if stack:
                        stack.pop()
                else:
                    stack.append(r)
            if not stack:
                return None  # nothing to undo
            stack.pop()
            document_id = conn.execute(
                select(L.c.document_id).where(L.c.id == rows[-1].id)
            ).scalar()
            if stack:
                prev = stack[-1]
                return self._insert_label(
                    conn, query_id, doc_id, annotator, prev.score, prev.rationale, prev.note,
                    action="undo", document_id=document_id,
                )
            self._insert_label(conn, query_id, doc_id, annotator, None, None, None,
                               retracted=True, action="undo", document_id=document_id)
            return None

    def annotators(self) -> list[str]:
        with self.read() as conn:
            return annotators.annotator_names(conn)

    def renamed_documents(self) -> list[dict[str, Any]]:
        """What migration 0009 did: each document id that had been re-pointed to a new text and
        whose older text got an id of its own (query_id, old_doc_id, new_doc_id, labels and
        judgments moved, renamed_at), oldest first."""
        RD = schema.RenamedDocument.__table__
        with self.read() as conn:
            rows = conn.execute(select(RD.c.query_id, RD.c.old_doc_id, RD.c.new_doc_id, RD.c.labels,
                                       RD.c.judgments, RD.c.renamed_at).order_by(RD.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def count_labels(self) -> int:
        with self.read() as conn:
            return int(conn.execute(select(func.count()).select_from(L)).scalar())

    # -- qrels --------------------------------------------------------------------------------

    def add_qrels(self, qrels: Iterable[tuple[str, str, int]], source: str) -> int:
        """Benchmark qrels (query id as the benchmark spells it, doc_id, relevance); a pair seen
        again takes the new relevance. Returns how many triples were stored."""
        triples = [(validation.identifier(str(q), "query id"), validation.identifier(str(d), "document id"),
                    validation.relevance(int(rel))) for q, d, rel in qrels]
        with self.write() as conn:
            self._add_qrels(conn, triples, source)
        return len(triples)

    @staticmethod
    def _add_qrels(conn: Connection, triples: list[tuple[str, str, int]], source: str) -> int:
        """Insert new (query, doc) pairs and update changed relevances; returns how many rows
        were added or changed (0 for qrels already stored as they are)."""
        existing: dict[tuple[str, str], tuple[int, int]] = {}
        qids = sorted({q for q, _, _ in triples})
        for i in range(0, len(qids), 500):
            for r in conn.execute(select(QR.c.id, QR.c.source_query_id, QR.c.doc_id, QR.c.relevance)
                                  .where(QR.c.source == source, QR.c.source_query_id.in_(qids[i:i + 500]))):
                existing[(r.source_query_id, r.doc_id)] = (r.id, r.relevance)
        new: dict[tuple[str, str], int] = {}
        for q, d, rel in triples:
            new[(q, d)] = rel
        inserts, updates = [], []
        for (q, d), rel in new.items():
            old = existing.get((q, d))
            if old is None:
                inserts.append({"source": source, "source_query_id": q, "doc_id": d, "relevance": rel})
            elif old[1] != rel:
                updates.append((old[0], rel))
        if inserts:
            conn.execute(QR.insert(), inserts)
        if updates:
            conn.execute(QR.update().where(QR.c.id == bindparam("row")).values(relevance=bindparam("rel")),
                         [{"row": row_id, "rel": rel} for row_id, rel in updates])
        return len(inserts) + len(updates)

    def qrels_for(self, query_id: int) -> dict[str, int]:
        with self.read() as conn:
            q = self._ensure_query(conn, query_id)
            if not q.source_query_id:
                return {}
            rows = conn.execute(
                select(QR.c.doc_id, QR.c.relevance).where(
                    QR.c.source == q.source, QR.c.source_query_id == q.source_query_id
                )
            ).all()
        return dict(rows)
