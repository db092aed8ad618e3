"""The database under the store: opening it (URL, file and health checks, the schema migrated
to this code's revision), its transactions and its writer lock.

Never lose a label, never hang: every write is its own short transaction, and writers take
turns: on SQLite a ``BEGIN IMMEDIATE`` transaction (the database in WAL mode) behind an advisory
lock file, on PostgreSQL a transaction-level advisory lock taken first. A write waits at most
``WRITE_WAIT_S`` seconds for another writer (SQLite's busy timeout, PostgreSQL's
``lock_timeout``), then ``StoreBusy``, nothing written. Opening to read (``read_only=True``)
takes no write transaction (on SQLite the file is opened ``mode=ro``, on PostgreSQL every
transaction is read-only); a store that is missing (``must_exist``), damaged, not an ERank
Studio store, unreachable, read-only or of a newer schema is refused at open with a one-line
``StoreError`` that never shows a password.

Words: the SQLAlchemy ``Engine`` is "the database" here (``_make_database``); an "engine" in
ERank Studio is always the model backend."""
from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, column, create_engine, event, func, inspect, select, table
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

try:
    import fcntl
except ImportError:  # Windows: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]

from ..errors import StoreBusy, StoreCorrupt, StoreError, StoreMissing, StoreNewer, StoreReadOnly
from ..safe_output import SQLITE_MAGIC, SQLITE_SIDE_FILES
from . import schema

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


def _make_database(url: str, read_only: bool = False, wait_s: float = WRITE_WAIT_S) -> Engine:
    """The SQLAlchemy Engine of ``url`` with the store's connection settings (SQLite: WAL,
    synchronous FULL, busy timeout, BEGIN IMMEDIATE for writers; PostgreSQL: see below)."""
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


class Database:
    """An open store's database: ``read()`` and ``write()`` transactions, the writer lock.

    ``read_only``: open for reading only (no write transaction; a SQLite file opened
    ``mode=ro``, PostgreSQL transactions read-only); implies ``must_exist``. ``must_exist``:
    refuse a missing database file or server database (``StoreMissing``) instead of creating an
    empty store. ``write_wait_s``: how long a write waits for another writer before
    ``StoreBusy``."""

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
            self.database: Engine = _make_database(self.url, read_only, write_wait_s)
        except (ImportError, sa_exc.ArgumentError) as error:  # no such dialect, its driver missing
            hint = " (pip install 'psycopg[binary]')" if isinstance(error, ImportError) else ""
            raise StoreError(f"cannot open the store {self._where}: "
                             f"{without_password(str(error), self.url)}{hint}") from None
        self._lock_path: str | None = str(path) + ".lock" if path is not None and not read_only else None
        self._lock_fd: int | None = None
        self._lock_pid: int | None = None
        self._thread_lock = threading.Lock()
        self._write_database = self.database.execution_options(erank_write=True)
        try:
            if migrate_on_open:
                self._check_schema(path)
        except sa_exc.DBAPIError as error:
            self.database.dispose()
            raise _translate(error, self._where, self.write_wait_s, self.url) from None
        except StoreError:
            self.database.dispose()
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
        with self.database.connect() as conn:
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
            writer = _make_database(self.url, wait_s=self.write_wait_s)  # one-time upgrade of an older store
            try:
                self._run_with_lock(lambda: migrate(writer))
            finally:
                writer.dispose()
            return
        self._run_with_lock(lambda: migrate(self.database))

    def _run_with_lock(self, action) -> None:
        with self._writer_lock():
            action()

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        self.database.dispose()
        if self._lock_fd is not None and self._lock_pid == os.getpid():
            os.close(self._lock_fd)
        self._lock_fd = None

    def __enter__(self):  # the subclass's own type
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
                with self._write_database.connect() as conn:
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
            with self.database.connect() as conn:
                with conn.begin():
                    yield conn
        except sa_exc.DBAPIError as error:
            raise _translate(error, self._where, self.write_wait_s, self.url) from None
