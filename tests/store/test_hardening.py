"""Bounded writes, read-only opening, interrupted runs, buffered judgments, linear hybrid."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from erank_studio import judge, scoring
from erank_studio.store import Store, StoreBusy, StoreReadOnly, ValidationError
from erank_studio.types import Document, GenerationSettings

from .conftest import INSTRUCTION, RecordingEngine, another_writer, dump, libpq_url, make_docs, run_judging


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout: float = 60.0, what: str = "state") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_read_only_opening_takes_no_write_transaction(store_url):
    url = store_url
    with Store(url) as store:
        q, _, _, _ = run_judging(store)
        store.add_label(q, "d1", "ann", 4)
        before = dump(store)
    with another_writer(url):  # another process is writing, for as long as it likes
        started = time.monotonic()
        with Store(url, read_only=True, write_wait_s=30) as reader:
            assert reader.current_labels(q)["d1"].score == 4
            from erank_studio.store.exports import export_bytes

            assert b"<answer>4</answer>" in export_bytes(reader, "sft-messages")
            with pytest.raises(StoreReadOnly, match="read-only"):
                reader.add_label(q, "d2", "ann", 1)
        assert time.monotonic() - started < 5  # it never waited for the writer
    with Store(url) as store:
        assert dump(store) == before


def _query_with_one_document(url: str) -> int:
    with Store(url) as store:
        q = store.upsert_query("q")
        store.add_documents(q, [Document("a", "text")])
    return q


def _label_write_gives_up_after_one_second(url: str, q: int) -> None:
    with Store(url, write_wait_s=1.0) as store:
        started = time.monotonic()
        with pytest.raises(StoreBusy, match=r"more than 1 s; nothing was saved"):
            store.add_label(q, "a", "ann", 5)
        assert 0.9 <= time.monotonic() - started < 5
        assert store.count_labels() == 0


def test_a_waiting_write_gives_up_after_the_stated_bound(store_url):
    q = _query_with_one_document(store_url)
    with another_writer(store_url):  # a write of another process that never ends
        _label_write_gives_up_after_one_second(store_url, q)


def test_sqlite_lock_file_wait_is_bounded(tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    q = _query_with_one_document(url)
    # another process holds the writer lock file (a write that never ends)
    proc = _python("""
        import fcntl, os, sys, time
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("locked", flush=True)
        time.sleep(60)
    """, str(tmp_path / "s.sqlite.lock"))
    try:
        assert proc.stdout.readline().strip() == "locked"
        _label_write_gives_up_after_one_second(url, q)
    finally:
        proc.kill()
        proc.wait()


def test_postgresql_row_and_table_locks_are_bounded(pg_store_url):
    """A session outside the store's protocol (an admin's transaction) that locks a table the
    write needs: the wait ends at lock_timeout with the same StoreBusy."""
    import psycopg

    url = pg_store_url
    q = _query_with_one_document(url)
    admin = psycopg.connect(libpq_url(url))
    admin.execute("LOCK TABLE labels IN EXCLUSIVE MODE")  # blocks writes, not reads
    try:
        _label_write_gives_up_after_one_second(url, q)
    finally:
        admin.rollback()
        admin.close()
    with Store(url) as store:
        assert store.count_labels() == 0
        store.add_label(q, "a", "ann", 5)  # the lock gone, the write goes through
        assert store.count_labels() == 1


IMPORT_DOCS = 30_000


def test_label_written_within_the_bound_while_a_big_import_runs(store_url, tmp_path):
    url = store_url
    with Store(url) as store:
        q = store.upsert_query("labelled while importing")
        store.add_documents(q, [Document("a", "text")])
    docs = tmp_path / "big.jsonl"
    with open(docs, "w") as out:
        for i in range(IMPORT_DOCS):
            out.write(json.dumps({"id": f"doc{i}", "text": f"document number {i} " * 5}) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "erank_studio", "import", str(docs), "--format",
                             "documents", "--source", "big", "--db", url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Store(url) as store:
            def imported() -> int:
                with store.read() as conn:
                    return conn.exec_driver_sql("SELECT count(*) FROM documents WHERE source = 'big'").scalar()

            _wait_for(lambda: imported() > 0, what="the import to start writing")
            waits = []
            for i in range(5):
                started = time.monotonic()
                store.add_label(q, "a", "ann", i)
                waits.append(time.monotonic() - started)
            during = imported()
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert during < IMPORT_DOCS  # the labels went in while the import was still writing
        assert max(waits) < Store(url).write_wait_s, waits
        with Store(url) as store:
            assert [r.score for r in store.label_history(q, "a")] == [0, 1, 2, 3, 4]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


_START_RUN = """
    import sys, time
    from erank_studio.store import Store
    from erank_studio.types import Document, GenerationSettings
    store = Store(sys.argv[1])
    q = store.upsert_query("killed mid-run")
    run = store.start_run(q, [Document("a", "x")], model="m", engine="e", instruction="i",
                          truncate_length=10, generation=GenerationSettings(), alpha=0.2)
    print(run, flush=True)
    time.sleep(60)
"""


def test_a_killed_run_is_marked_interrupted(store_url):
    url = store_url
    with Store(url):
        pass
    proc = _python(_START_RUN, url)
    run_id = int(proc.stdout.readline())
    with Store(url) as store:  # the owner is alive: the run is left running
        assert store.runs()[0].status == "running"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store(url, read_only=True) as reader:  # readers never write
        assert reader.runs()[0].status == "running"
    with Store(url) as store:  # the next opening for writing marks it
        (run,) = store.runs()
        assert (run.id, run.status) == (run_id, "interrupted")
        assert store.run_info(run_id)["finished_at"] is not None


def test_mark_interrupted_by_id_and_own_runs_are_left_alone(store):
    q = store.upsert_query("q")
    run = store.start_run(q, [Document("a", "x")], model="m", engine="e", instruction="i",
                          truncate_length=10, generation=GenerationSettings(), alpha=0.2)
    assert store.mark_interrupted() == []  # this process is alive
    assert store.mark_interrupted([run]) == [run]
    assert store.runs()[0].status == "interrupted"
    assert store.mark_interrupted([run]) == []  # only running runs


_WRITE_AND_DIE = """
    import os, signal, sys
    sys.path.insert(0, sys.argv[3])
    from erank_studio.store import Store
    from erank_studio.types import Judgment
    store = Store(sys.argv[1])
    writer = store.judgment_writer(int(sys.argv[2]), max_rows=4, max_delay_s=60)
    for i in range(10):
        writer.add(Judgment(doc_id=f"d{i}", index=i, raw_output="<answer>5</answer>", status="ok", score=5))
    os.kill(os.getpid(), signal.SIGKILL)  # a crash: no flush, no close
"""


def test_a_crash_loses_at_most_the_unflushed_batch(store_url):
    url = store_url
    with Store(url) as store:
        q = store.upsert_query("q")
        run = store.start_run(q, [Document(f"d{i}", f"t{i}") for i in range(10)], model="m", engine="e",
                              instruction="i", truncate_length=10, generation=GenerationSettings(), alpha=0.2)
    proc = _python(_WRITE_AND_DIE, url, str(run), os.getcwd())
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    with Store(url) as store:
        assert [j.doc_id for j in store.run_judgments(run)] == [f"d{i}" for i in range(8)]


def test_judgment_writer_commits_by_count_by_time_and_on_close(store):
    q = store.upsert_query("q")
    docs = [Document(f"d{i}", f"t{i}") for i in range(7)]
    run = store.start_run(q, docs, model="m", engine="e", instruction="i", truncate_length=10,
                          generation=GenerationSettings(), alpha=0.2)
    from erank_studio.types import Judgment

    def j(i):
        return Judgment(doc_id=f"d{i}", index=i, raw_output="x", status="failed", failure="no_answer")

    with store.judgment_writer(run, max_rows=3, max_delay_s=0.05) as writer:
        for i in range(3):
            writer.add(j(i))
        assert len(store.run_judgments(run)) == 3 and writer.pending == 0  # by count
        writer.add(j(3))
        _wait_for(lambda: len(store.run_judgments(run)) == 4, what="the timed flush")  # by time
        writer.add(j(4))
        writer.add(j(5))
    assert [x.doc_id for x in store.run_judgments(run)] == [f"d{i}" for i in range(6)]  # on close
    with pytest.raises(ValueError, match="closed"):
        writer.add(j(6))


def test_hybrid_after_an_alpha_change_equals_a_fresh_computation(store):
    q, run, judgments, _ = run_judging(store)
    statements = []
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(store.database, "before_cursor_execute", listener)
    try:
        new = scoring.hybrid([j.first_stage_score for j in judgments], [j.rank_score for j in judgments], 0.7)
        store.set_hybrid_scores(run, {j.doc_id: h for j, h in zip(judgments, new)}, 0.7)
    finally:
        event.remove(store.database, "before_cursor_execute", listener)
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 2  # the run's alpha, and one executemany for every judgment
    stored = store.run_judgments(run)
    fresh = [j for j in judgments]
    judge.apply_hybrid(fresh, 0.7)
    assert [s.hybrid_score for s in stored] == pytest.approx([f.hybrid_score for f in fresh])
    assert store.run_info(run)["alpha"] == 0.7
    with pytest.raises(ValidationError, match="alpha must be a number from 0 to 1"):
        store.set_hybrid_scores(run, {}, 7.5)


def test_run_list_counts_only_what_it_shows(store, backend):
    q, run1, _, _ = run_judging(store)
    _, run2, _, _ = run_judging(store, query="another")
    rows = store.runs()
    assert [(r.id, r.n_judgments) for r in rows] == [(run2, 4), (run1, 4)]
    assert [r.id for r in store.runs(limit=1)] == [run2]
    update = "UPDATE judgments SET hybrid_score = 1 WHERE run_id = 1 AND doc_id = 'd1'"
    with store.read() as conn:
        if backend == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {update}"))
        else:
            # a table this small is scanned whatever its indexes: ask for the plan an index gives
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {update}"))
    assert "ix_judgments_run_doc_id" in plan


def test_api_refuses_what_imports_refuse(store):
    q = store.upsert_query("q")
    store.add_documents(q, [Document("a", "text")])
    with pytest.raises(ValidationError, match="contains whitespace"):
        store.add_documents(q, [Document("b c", "text")])
    with pytest.raises(ValidationError, match="annotator"):
        store.add_label(q, "a", "  ", 3)
    with pytest.raises(ValidationError, match="from 0 to 10"):
        store.add_label(q, "a", "ann", 99)
    with pytest.raises(ValidationError, match="status"):
        run = store.start_run(q, [Document("a", "text")], model="m", engine="e", instruction=INSTRUCTION,
                              truncate_length=10, generation=GenerationSettings(), alpha=0.2)
        store.finish_run(run, "exploded")
    assert store.count_labels() == 0


@pytest.mark.parametrize("tag", ["<think>", "</think>", "<answer>", "</ANSWER>"])
@pytest.mark.parametrize("field", ["rationale", "note"])
def test_think_and_answer_tags_are_refused_where_typed(store, tag, field):
    q = store.upsert_query("q")
    store.add_documents(q, [Document("a", "text")])
    with pytest.raises(ValidationError, match=f"{field} may not contain"):
        store.add_label(q, "a", "ann", 3, **{field: f"fine so far {tag}9"})
    with pytest.raises(ValidationError, match=f"{field} may not contain"):
        store.add_labels([(q, "a", "ann", 3, f"x{tag}" if field == "rationale" else None,
                           f"x{tag}" if field == "note" else None)])
    assert store.count_labels() == 0


def test_a_read_only_file_is_refused_for_writing_before_anything_loads(tmp_path, monkeypatch):
    import erank_studio.store.database as module

    path = tmp_path / "ro.sqlite"
    url = f"sqlite:///{path}"
    with Store(url) as store:
        q, _, _, _ = run_judging(store)
    real_access = os.access
    # as root the file's mode does not stop writes, so the permission check itself is simulated
    monkeypatch.setattr(module.os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    with pytest.raises(StoreReadOnly, match=f"the store {path} is read-only"):
        Store(url)
    with Store(url, read_only=True) as reader:
        assert len(reader.run_judgments(reader.runs()[0].id)) == 4


def test_a_postgresql_role_without_write_rights_reads_but_is_told_read_only(pg_store_url, postgres_server):
    url = pg_store_url
    with Store(url) as store:
        q, _, _, _ = run_judging(store)
        store.add_label(q, "d1", "ann", 4)
        before = dump(store)
    database = make_url(url).database
    postgres_server.execute(database, "DROP ROLE IF EXISTS viewer")
    postgres_server.execute(database, "CREATE ROLE viewer LOGIN PASSWORD 'viewer-pw'")
    postgres_server.execute(database, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO viewer")
    viewer = make_url(url).set(username="viewer", password="viewer-pw").render_as_string(hide_password=False)
    try:
        with Store(viewer) as store:  # at the head revision with no dead runs: opening writes nothing
            with pytest.raises(StoreReadOnly, match="is read-only; nothing was saved") as caught:
                store.add_label(q, "d1", "ann", 9)
            assert "viewer-pw" not in str(caught.value)
        with Store(viewer, read_only=True) as reader:
            assert reader.current_labels(q)["d1"].score == 4
    finally:
        postgres_server.execute(database, "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM viewer")
        postgres_server.execute(database, "DROP ROLE viewer")
    with Store(url) as store:
        assert dump(store) == before
