"""Exports never destroy anything; every bad input and bad store is one line on stderr, exit 2."""
from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys

import pytest

from erank_studio.cli import main
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from erank_studio.store import Store
from erank_studio.types import Document
from erank_studio.store.store import _head_revision

from .conftest import dump, run_judging


def _subprocess(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "erank_studio", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def _cli(capsys):
    """The command line in this process (an uncaught exception fails the test as a traceback
    would); stdout and stderr as a CompletedProcess."""

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return run


def _one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _fill(url: str) -> dict:
    """A run and a label in the store at ``url``; returns its rows."""
    with Store(url) as store:
        q, _, _, _ = run_judging(store)
        store.add_label(q, "d1", "ann", 3, rationale="kept")
        return dump(store)


@pytest.fixture
def filled(store_url):
    return store_url, _fill(store_url)


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", ".lock"])
def test_export_over_the_store_is_refused_even_with_force(tmp_path, suffix, capsys):
    path = tmp_path / "store.sqlite"
    url = f"sqlite:///{path}"
    before = _fill(url)
    target = f"{path}{suffix}"
    assert main(["export", "--db", url, "--format", "sft-messages", "--out", target, "--force"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "store's own file" in err
    with Store(url) as store:
        assert dump(store) == before


def test_export_over_another_sqlite_database_is_refused(filled, tmp_path, capsys):
    url, _ = filled
    other = tmp_path / "team.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    data = other.read_bytes()
    assert main(["export", "--db", url, "--format", "csv", "--out", str(other), "--force"]) == 2
    assert "SQLite database" in capsys.readouterr().err
    assert other.read_bytes() == data


def test_existing_file_needs_force_and_failed_export_leaves_nothing(filled, tmp_path, capsys):
    url, _ = filled
    out = tmp_path / "sft.jsonl"
    out.write_text("precious\n")
    assert main(["export", "--db", url, "--format", "sft-messages", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "precious\n"
    assert main(["export", "--db", url, "--format", "sft-messages", "--out", str(out), "--force"]) == 0
    assert out.read_text().endswith("<answer>3</answer>\"}]}\n")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_export_to_stdout(filled):
    url, _ = filled
    proc = _subprocess("export", "--db", url, "--format", "qrels", "--out", "-")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "0", "d1", "1"]


@pytest.mark.parametrize("command", [
    ["export", "--format", "csv", "--out", "{tmp}/x.csv"],
    ["evaluate", "--dataset", "sample"],
])
def test_read_commands_do_not_create_a_missing_store(tmp_path, command, _cli):
    missing = tmp_path / "typo.sqlite"
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    proc = _cli(*args, "--db", f"sqlite:///{missing}")
    _one_line_error(proc, "no store at", str(missing))
    assert not missing.exists() and not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("command", [
    ["export", "--format", "csv", "--out", "{tmp}/x.csv"],
    ["evaluate", "--dataset", "sample"],
])
def test_read_commands_do_not_create_a_store_in_an_empty_postgresql_database(postgres_server, tmp_path,
                                                                             command, _cli):
    database = postgres_server.create_database(postgres_server.empty_template)
    try:
        args = [a.replace("{tmp}", str(tmp_path)) for a in command]
        _one_line_error(_cli(*args, "--db", postgres_server.url(database)), "is not an ERank Studio store")
        with Store(postgres_server.url(database), migrate_on_open=False) as store, store.read() as conn:
            assert inspect(conn).get_table_names() == []
        assert not (tmp_path / "x.csv").exists()
    finally:
        postgres_server.drop_database(database)


def _truncated(path):
    with Store(f"sqlite:///{path}") as store:
        run_judging(store)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _garbage(path):
    path.write_bytes(b"this is not a database at all\n" * 100)


def _store_then(path, sql: str) -> None:
    """A new store at ``path``, then ``sql`` run on it behind the store's back."""
    with Store(f"sqlite:///{path}"):
        pass
    con = sqlite3.connect(path)
    con.execute(sql)
    con.commit()
    con.close()


def _newer(path):
    _store_then(path, "UPDATE alembic_version SET version_num = '0099'")


def _damaged_pages(path):
    """A store whose pages 6-7 were overwritten (what ``dd ... seek=5 count=2`` does): its
    schema page is intact, so it opens, but SQLite's quick_check fails."""
    with Store(f"sqlite:///{path}") as store:
        q = store.upsert_query("q")
        store.add_documents(q, [Document(f"d{i}", "text " * 200 + str(i)) for i in range(300)])
    with open(path, "r+b") as handle:
        handle.seek(4096 * 5)
        handle.write(random.Random(5).randbytes(4096 * 2))


def _read_only(path):
    with Store(f"sqlite:///{path}") as store:
        run_judging(store)
    path.chmod(0o444)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_store_is_exported_but_not_written(tmp_path, _cli):
    path = tmp_path / "ro.sqlite"
    _read_only(path)
    proc = _cli("export", "--db", f"sqlite:///{path}", "--format", "run-rank", "--out", str(tmp_path / "r.run"))
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "r.run").read_text().splitlines()) == 4
    proc = _cli("import", str(tmp_path / "r.run"), "--format", "run", "--source", "x", "--db", f"sqlite:///{path}")
    _one_line_error(proc, "read-only")


COMMANDS = ["export", "evaluate", "import", "rerank", "batch"]


@pytest.mark.parametrize("make, needle", [
    (_truncated, "damaged"),
    (_garbage, "not an ERank Studio store"),
    (_newer, "written by a newer ERank Studio"),
    (_damaged_pages, "is damaged (SQLite's quick_check"),
])
@pytest.mark.parametrize("command", COMMANDS)
def test_bad_store_is_one_line_exit_2(tmp_path, make, needle, command, _cli):
    path = tmp_path / "bad.sqlite"
    make(path)
    data = path.read_bytes()
    line = _one_line_error(_cli(*_command(command, f"sqlite:///{path}", tmp_path)), needle)
    assert "model" not in line
    assert path.read_bytes() == data


def _newer_database(server, url: str) -> None:
    server.execute(make_url(url).database, "UPDATE alembic_version SET version_num = '0099'")


BAD_SERVERS = {
    "unreachable": (lambda server, url: make_url(url).set(port=1), "cannot reach the database server"),
    "wrong password": (lambda server, url: make_url(url).set(password="wrong-pw"), "refused the login"),
    "no such database": (lambda server, url: make_url(url).set(database="no_such_db"), "no such database"),
    "newer schema": (lambda server, url: _newer_database(server, url), "written by a newer ERank Studio"),
}


@pytest.mark.parametrize("problem", list(BAD_SERVERS))
@pytest.mark.parametrize("command", COMMANDS)
def test_bad_postgresql_store_is_one_line_exit_2_without_password(pg_store_url, postgres_server, tmp_path,
                                                                  problem, command, _cli):
    from postgres_server import PASSWORD

    before = _fill(pg_store_url)
    make, needle = BAD_SERVERS[problem]
    bad = make(postgres_server, pg_store_url)
    url = pg_store_url if bad is None else bad.render_as_string(hide_password=False)
    line = _one_line_error(_cli(*_command(command, url, tmp_path)), needle)
    assert "model" not in line and PASSWORD not in line and "wrong-pw" not in line
    if problem == "newer schema":
        postgres_server.execute(make_url(url).database, f"UPDATE alembic_version SET version_num = '{_head_revision()}'")
    with Store(pg_store_url) as store:
        assert dump(store) == before


def _command(command: str, url: str, tmp_path) -> list[str]:
    """The command line of ``command`` on the store at ``url``."""
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "content": "text"}\n')
    return {
        "export": ["export", "--db", url, "--format", "csv", "--out", str(tmp_path / "x.csv")],
        "evaluate": ["evaluate", "--dataset", "sample", "--db", url],
        "import": ["import", str(docs), "--format", "documents", "--db", url],
        # --model points nowhere: the store must be refused before any model would load
        "rerank": ["rerank", "--query", "q", "--docs", str(docs), "--save", "--db", url,
                   "--model", str(tmp_path / "no-such-model"), "--no-fallback"],
        "batch": ["rerank", "--dataset", "sample", "--db", url, "--model", str(tmp_path / "no-such-model"),
                  "--no-fallback", "--no-progress"],
    }[command]


@pytest.mark.parametrize("where", ["missing-dir/sub/x.sqlite", "afile/x.sqlite", "adir"])
def test_store_in_a_bad_path(tmp_path, where, _cli):
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "adir").mkdir()
    proc = _cli("export", "--db", f"sqlite:///{tmp_path / where}", "--format", "csv", "--out", str(tmp_path / "o.csv"))
    _one_line_error(proc)
    assert not (tmp_path / "missing-dir").exists()


def test_deeply_nested_json_is_one_line(tmp_path, _cli):
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"id": "a", "content": ' + "[" * 100000 + "]" * 100000 + "}\n")
    _one_line_error(_subprocess("rerank", "--query", "q", "--docs", str(deep), "--model", "x", "--no-fallback"),
                    "deep.jsonl line 1", "nested too deeply")
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    for fmt in ("documents", "queries", "bundle"):
        _one_line_error(_cli("import", str(deep), "--format", fmt, "--source", "s", "--db", url), "line 1")


def test_bundle_with_null_document_text(filled, tmp_path, _cli):
    url, _ = filled
    bundle = tmp_path / "b.jsonl"
    assert main(["export", "--db", url, "--format", "bundle", "--out", str(bundle)]) == 0
    lines = [json.loads(x) for x in bundle.read_text().splitlines()]
    number = next(i for i, r in enumerate(lines, start=1) if r["kind"] == "document")
    lines[number - 1]["text"] = None
    bundle.write_text("".join(json.dumps(r) + "\n" for r in lines))
    fresh = tmp_path / "fresh.sqlite"
    _one_line_error(_cli("import", str(bundle), "--format", "bundle", "--db", f"sqlite:///{fresh}"),
                    f"line {number}", "document text")


def test_evaluate_json_into_a_missing_folder(tmp_path, _cli):
    run = tmp_path / "m.run"
    run.write_text("q1 Q0 a 1 2.0 m\n")
    qrels = tmp_path / "q.qrels"
    qrels.write_text("q1 0 a 1\n")
    _one_line_error(_cli("evaluate", "--run", str(run), "--qrels", str(qrels), "--json",
                         str(tmp_path / "nope" / "out.json")), "does not exist")


def test_huge_input_file_is_refused_before_reading(tmp_path, monkeypatch, capsys):
    from erank_studio import docfiles

    monkeypatch.setattr(docfiles, "MAX_FILE_BYTES", 1000)
    big = tmp_path / "big.qrels"
    big.write_text("q1 0 d1 1\n" * 200)
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    assert main(["import", str(big), "--format", "qrels", "--source", "s", "--db", url]) == 2
    assert "the limit is" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(big), "--qrels", str(big)]) == 2
    assert "the limit is" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["roles", "grant", "bob"], ["roles", "list"], ["agreement"],
                                  ["adjudicate", "queue"]])
def test_a_damaged_store_is_refused_by_team_commands_unchanged(tmp_path, args, _cli):
    path = tmp_path / "c3.sqlite"
    _damaged_pages(path)
    data = path.read_bytes()
    _one_line_error(_cli(*args, "--db", f"sqlite:///{path}"), "damaged", ".recover")
    assert path.read_bytes() == data


def test_a_damaged_store_is_refused_when_opened_for_writing(tmp_path):
    path = tmp_path / "c3.sqlite"
    _damaged_pages(path)
    data = path.read_bytes()
    from erank_studio.errors import StoreCorrupt

    with pytest.raises(StoreCorrupt, match="damaged"):
        Store(f"sqlite:///{path}")
    assert path.read_bytes() == data


def _foreign(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE contacts (name TEXT)")
    con.execute("INSERT INTO contacts VALUES ('x')")
    con.commit()
    con.close()


def _two_versions(path):
    _store_then(path, "INSERT INTO alembic_version VALUES ('0007')")


@pytest.mark.parametrize("make, needle", [
    (_foreign, "not an ERank Studio store (it holds other tables: contacts)"),
    (_two_versions, "2 schema version rows"),
])
@pytest.mark.parametrize("args", [
    ["import", "{docs}", "--format", "documents"], ["roles", "grant", "bob"], ["agreement"],
    ["export", "--format", "csv", "--out", "{tmp}/x.csv"],
])
def test_a_store_that_is_not_ours_or_is_inconsistent_is_one_line(tmp_path, make, needle, args, _cli):
    path = tmp_path / "other.sqlite"
    make(path)
    data = path.read_bytes()
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "content": "text"}\n')
    args = [a.replace("{docs}", str(docs)).replace("{tmp}", str(tmp_path)) for a in args]
    _one_line_error(_cli(*args, "--db", f"sqlite:///{path}"), needle)
    assert path.read_bytes() == data


@pytest.mark.parametrize("url, needle", [
    ("", "the store URL is empty"),
    ("postgresql+psycopg://u:secret-pw@localhost:notaport/db", "its port 'notaport' is not a number"),
    ("no-scheme", "not a database URL"),
])
def test_bad_store_urls_are_one_line(tmp_path, url, needle, _cli):
    line = _one_line_error(_cli("export", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--db", url), needle)
    assert "secret-pw" not in line
    assert not (tmp_path / "x.csv").exists()
