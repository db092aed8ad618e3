"""A throwaway PostgreSQL cluster for the test session: initdb into a temporary folder, started on
a free loopback port (and a unix socket in that folder), one database per test, removed at the
end. PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user
(Debian's package creates it) through ``runuser``."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

USER = "erank"
# Host connections need this password (scram-sha-256), so the tests see a real password in the
# URL and can check that no message ever repeats it.
PASSWORD = "pg-test-s3cret"


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: on PATH, else Debian's
    /usr/lib/postgresql/<version>/bin (not on PATH there), newest version first."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if os.access(Path(folder) / "initdb", os.X_OK) and os.access(Path(folder) / "pg_ctl", os.X_OK):
            return Path(folder)
    return None


def require_server(environ: Mapping[str, str]) -> Path:
    """The server's binaries, or the PostgreSQL tests skipped with the reason; in CI (``CI``
    set) failed instead: there the server must be installed (scripts/setup.sh --dev)."""
    bindir = server_binaries()
    missing = None
    if bindir is None:
        missing = "PostgreSQL server not installed (apt-get install postgresql, or scripts/setup.sh --dev)"
    else:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            missing = "psycopg is not installed (pip install -r requirements.txt)"
    if missing is None:
        return bindir
    if environ.get("CI"):
        pytest.fail(f"CI must test the PostgreSQL store: {missing}")
    pytest.skip(missing)


def _version(folder: str) -> float:
    try:
        return float(Path(folder).parent.name)
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """``start()``, ``create_database()`` / ``drop_database()``, ``url(database)``, ``stop()``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="erank-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._spare: list[str] = []  # emptied store databases, ready for the next test

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr.strip()} {log}")

    def start(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(PASSWORD + "\n")
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            for path in (self.root, password_file):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={password_file}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale")
        for attempt in range(3):
            self.port = _free_port()
            # fsync off: the tests check the application, not the disk; a killed client (the
            # kill -9 tests) loses nothing the server has committed either way.
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                       "-c full_page_writes=off -c max_connections=300")
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                          "-o", options, "start")
                return
            except RuntimeError:
                if attempt == 2:
                    raise

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str = "template1") -> str:
        """A new database, a copy of ``template`` (copying a small template is several times
        faster than copying template1)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.execute("postgres", f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def take_store_database(self, template: str) -> str:
        """A database holding an empty store at the head revision: one given back by an earlier
        test (emptied), else a new copy of ``template``."""
        return self._spare.pop() if self._spare else self.create_database(template)

    def give_back(self, name: str, tables: list[str], head: str) -> None:
        """Empty a database from ``take_store_database`` for the next test, or drop it when the
        test changed its schema (another revision)."""
        import psycopg

        self.execute("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        try:
            with self._connect(name) as conn:
                if conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]:
                    conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
                    self._spare.append(name)
                    return
        except psycopg.Error:  # no alembic_version any more: downgraded to nothing
            pass
        self.drop_database(name)

    def drop_database(self, name: str) -> None:
        self.execute("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, database: str, sql: str) -> None:
        """One statement as the cluster's superuser, outside any store (databases, a store made
        to look newer, a role with fewer rights)."""
        with self._connect(database) as conn:
            conn.execute(sql)

    def _connect(self, database: str):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                               dbname=database, autocommit=True)

    def stop(self) -> None:
        try:
            if self.port:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
