"""8 processes x 500 labels at once: every label lands, nobody sees "database is locked"."""
from __future__ import annotations

import multiprocessing as mp
import traceback

from erank_studio.store import Store
from erank_studio.types import Document

PROCESSES = 8
LABELS_EACH = 500


def _writer(url: str, query_id: int, worker: int, errors) -> None:
    try:
        store = Store(url)  # each process opens (and checks migrations) on its own
        for i in range(LABELS_EACH):
            store.add_label(query_id, f"d{i % 20}", f"annotator-{worker}", i % 11, note=f"{worker}:{i}")
        store.close()
    except BaseException:  # noqa: BLE001 - reported to the parent
        errors.put(traceback.format_exc())


def test_eight_processes_writing_labels_at_once(new_url):
    url = new_url("concurrent")
    with Store(url) as store:
        query_id = store.upsert_query("shared query")
        store.add_documents(query_id, [Document(f"d{i}", f"text {i}") for i in range(20)])
    ctx = mp.get_context("spawn")
    errors = ctx.Queue()
    barrier_procs = [ctx.Process(target=_writer, args=(url, query_id, w, errors)) for w in range(PROCESSES)]
    for p in barrier_procs:
        p.start()
    for p in barrier_procs:
        p.join(timeout=300)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems, problems[0]
    assert all(p.exitcode == 0 for p in barrier_procs)
    with Store(url) as store:
        assert store.count_labels() == PROCESSES * LABELS_EACH
        notes = set()
        for w in range(PROCESSES):
            for d in range(20):
                notes.update(r.note for r in store.label_history(query_id, f"d{d}", f"annotator-{w}"))
        assert notes == {f"{w}:{i}" for w in range(PROCESSES) for i in range(LABELS_EACH)}


def _open_and_write(url: str, worker: int, errors) -> None:
    try:
        store = Store(url)
        query_id = store.upsert_query("created by whoever comes first")
        store.add_documents(query_id, [Document(f"d{i}", f"text {i}") for i in range(5)])
        for i in range(20):
            store.add_label(query_id, f"d{i % 5}", f"w{worker}", i % 11)
        store.close()
    except BaseException:  # noqa: BLE001
        errors.put(traceback.format_exc())


def test_processes_creating_a_fresh_database_at_once(new_url):
    url = new_url("fresh")
    ctx = mp.get_context("spawn")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_open_and_write, args=(url, w, errors)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems, problems[0]
    with Store(url) as store:
        assert store.count_labels() == 80
        assert len(store.queries()) == 1
