from __future__ import annotations

import pytest

from erank_studio.store import WRITE_WAIT_S, LabelRow, Store, StoreReadOnly
from erank_studio.types import Document, GenerationSettings, Judgment

from .conftest import run_judging


def test_default_url_resolves_under_repo_db(monkeypatch):
    from erank_studio.store import store as mod

    monkeypatch.delenv("ERANK_DB_URL", raising=False)
    assert mod.default_url() == mod.DEFAULT_URL
    assert mod.DEFAULT_URL.endswith("/db/erank_studio.sqlite")
    monkeypatch.setenv("ERANK_DB_URL", "sqlite:///elsewhere.sqlite")
    assert mod.default_url() == "sqlite:///elsewhere.sqlite"


def test_connection_settings(store, backend):
    """Every wait bounded, foreign keys enforced: SQLite's pragmas, PostgreSQL's session."""
    with store.read() as conn:
        if backend == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == int(WRITE_WAIT_S * 1000)
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        else:
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == f"{WRITE_WAIT_S:g}s"
            assert conn.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "off"
    # A read-only store cannot write even through raw SQL: SQLite's file is opened mode=ro,
    # PostgreSQL's transactions are read-only.
    with Store(store.url, read_only=True) as reader:
        with pytest.raises(StoreReadOnly, match="read-only"):
            with reader.read() as conn:
                conn.exec_driver_sql("DELETE FROM annotators")


def test_upsert_query_identity(store):
    a = store.upsert_query("what is a cell?")
    assert store.upsert_query("what is a cell?") == a
    b = store.upsert_query("what is a cell?", "bright/biology", "7")
    assert b != a
    assert store.upsert_query("other text, same id", "bright/biology", "7") == b
    assert store.upsert_query("x", "bright/biology", "8") not in (a, b)


def test_judgments_round_trip_and_runs(store):
    query_id, run_id, judgments, _ = run_judging(store)
    back = store.run_judgments(run_id)
    assert back == judgments
    assert any(j.truncated for j in back)
    (row,) = store.runs(query_id)
    assert row.id == run_id and row.n_judgments == 4 and row.status == "done" and row.alpha == 0.2
    assert row.query_text.startswith("How do plants")
    assert store.judged_doc_ids(query_id, "fake/erank-test") == {"d1", "d2", "d3", "d4"}
    assert store.judged_doc_ids(query_id, "other") == set()
    docs = store.documents_for_query(query_id)
    assert [d.doc_id for d in docs] == ["d1", "d2", "d3", "d4"]
    assert docs[0].title == "Plants" and docs[0].first_stage_score == 12.5
    _, run2, _, _ = run_judging(store)
    assert [r.id for r in store.runs()] == [run2, run_id]  # newest first


def test_failed_judgments_are_kept_and_not_counted_as_judged(store):
    q = store.upsert_query("q")
    run = store.start_run(q, [Document("a", "text")], model="m", engine="e", instruction="i",
                          truncate_length=5, generation=GenerationSettings(), alpha=0.2)
    failed = Judgment(doc_id="a", index=0, raw_output="no tags", status="failed", failure="no_answer",
                      failure_detail="no <answer>", extra={"k": [1, 2]})
    store.add_judgment(run, failed)
    assert store.run_judgments(run) == [failed]
    assert store.judged_doc_ids(q, "m") == set()
    assert store.judged_doc_ids(q, "m", include_failed=True) == {"a"}
    with pytest.raises(ValueError, match="not among run"):
        store.add_judgment(run, Judgment(doc_id="zz", index=1, raw_output="", status="ok"))
    with pytest.raises(ValueError, match="status"):
        store.finish_run(run, "exploded")
    store.finish_run(run, "cancelled")
    assert store.runs(q)[0].status == "cancelled"


def test_bulk_judgments(store):
    q = store.upsert_query("q")
    docs = [Document(f"d{i}", f"text {i}") for i in range(50)]
    run = store.start_run(q, docs, model="m", engine="e", instruction="i", truncate_length=5,
                          generation=GenerationSettings(), alpha=0.2)
    js = [Judgment(doc_id=f"d{i}", index=i, raw_output="r", status="ok", score=i % 11, rank_score=i / 3)
          for i in range(50)]
    assert store.add_judgments(run, js) == 50
    assert store.run_judgments(run) == js


def test_labels_append_only_history_and_current(store):
    query_id, _, _, _ = run_judging(store)
    first = store.add_label(query_id, "d1", "ann", 7, rationale="mostly right")
    assert isinstance(first, LabelRow) and first.score == 7 and not first.retracted
    store.add_label(query_id, "d1", "ann", 8)
    store.add_label(query_id, "d1", "bob", 3, note="disagree")
    store.add_label(query_id, "d2", "ann", None, note="unsure, come back")
    assert store.current_labels(query_id, "ann")["d1"].score == 8
    assert store.current_labels(query_id, "ann")["d2"].note == "unsure, come back"
    assert store.current_labels(query_id, "bob") == {"d1": store.label_history(query_id, "d1", "bob")[0]}
    assert store.current_labels(query_id)["d1"].annotator == "bob"  # the latest of anyone
    assert store.current_labels(query_id, "nobody") == {}
    assert [r.score for r in store.label_history(query_id, "d1")] == [7, 8, 3]
    assert [r.score for r in store.label_history(query_id, "d1", "ann")] == [7, 8]
    assert store.count_labels() == 4


@pytest.mark.parametrize("score", [-1, 11, 3.5, "7", True])
def test_label_score_validated(store, score):
    query_id, _, _, _ = run_judging(store)
    with pytest.raises(ValueError, match="0 to 10"):
        store.add_label(query_id, "d1", "ann", score)
    assert store.count_labels() == 0


def test_label_needs_score_or_note_and_known_document(store):
    query_id, _, _, _ = run_judging(store)
    with pytest.raises(ValueError, match="note"):
        store.add_label(query_id, "d1", "ann", None)
    with pytest.raises(ValueError, match="annotator"):
        store.add_label(query_id, "d1", "  ", 3)
    with pytest.raises(ValueError, match="not a candidate"):
        store.add_label(query_id, "nope", "ann", 3)
    row = store.add_label(query_id, "new", "ann", 4, document=Document("new", "typed by hand"))
    assert row.score == 4
    assert "new" in {d.doc_id for d in store.documents_for_query(query_id)}


def test_undo_walks_back_and_is_append_only(store):
    q, _, _, _ = run_judging(store)
    store.add_label(q, "d1", "ann", 2)
    store.add_label(q, "d1", "ann", 5, rationale="r5")
    store.add_label(q, "d1", "ann", 9)
    back = store.undo_label(q, "d1", "ann")
    assert (back.score, back.rationale) == (5, "r5")
    assert store.current_labels(q, "ann")["d1"].score == 5
    assert store.undo_label(q, "d1", "ann").score == 2
    assert store.undo_label(q, "d1", "ann") is None
    assert "d1" not in store.current_labels(q, "ann")
    assert store.undo_label(q, "d1", "ann") is None  # nothing left to undo
    history = store.label_history(q, "d1", "ann")
    assert [(r.score, r.retracted) for r in history] == [(2, False), (5, False), (9, False), (5, False), (2, False), (None, True)]
    store.add_label(q, "d1", "ann", 6)
    assert store.current_labels(q, "ann")["d1"].score == 6


def test_same_doc_id_different_text_under_two_queries(store):
    a = store.upsert_query("query a")
    b = store.upsert_query("query b")
    store.add_documents(a, [Document("1", "text typed for a")])
    store.add_documents(b, [Document("1", "a different text for b")])
    store.add_label(a, "1", "ann", 9)
    store.add_label(b, "1", "ann", 1)
    assert store.documents_for_query(a)[0].text == "text typed for a"
    assert store.documents_for_query(b)[0].text == "a different text for b"
    assert store.current_labels(a)["1"].score == 9 and store.current_labels(b)["1"].score == 1


def test_non_ascii_document_text_round_trips_as_text_and_the_run_keeps_no_utf8_copy(store, backend):
    """A document's text goes in and comes out exactly, stored as TEXT; storing it leaves no
    UTF-8 copy cached on the caller's string (sqlite3 would keep one for the string's whole life:
    50 MB more for a 50 MB CJK document through the run that judges it)."""
    import sys

    texts = ["plain ascii", "東京 🐈 cats purr " * 200, "é", "混合 mixed ☕ text"]
    q = store.upsert_query("why 東京 🐈?")
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    sizes = [sys.getsizeof(d.text) for d in docs]
    store.add_documents(q, docs)
    store.add_documents(q, docs)  # the same texts again: found, not stored twice
    assert [sys.getsizeof(d.text) for d in docs] == sizes
    assert [d.text for d in store.documents_for_query(q)] == texts
    if backend == "sqlite":
        import sqlite3

        from erank_studio.store.store import sqlite_path

        with sqlite3.connect(sqlite_path(store.url)) as raw:
            rows = raw.execute("SELECT typeof(text), text FROM documents ORDER BY id").fetchall()
        assert rows == [("text", t) for t in texts]


def test_a_lone_surrogate_is_refused_in_typed_text_and_replaced_in_model_output(store):
    """Not Unicode text (a JSON escape such as "\\ud800" makes one): a document, query or note
    holding one is refused with one sentence, nothing written; model output keeps its judgment
    with U+FFFD in its place, as a NUL does."""
    from erank_studio.store import ValidationError

    q = store.upsert_query("q")
    with pytest.raises(ValidationError, match=r"document text holds a lone surrogate \(U\+D800 at character 3\)"):
        store.add_documents(q, [Document("a", "x \ud800 y")])
    with pytest.raises(ValidationError, match="query text holds a lone surrogate"):
        store.upsert_query("why \udcff")
    assert store.documents_for_query(q) == []
    store.add_documents(q, [Document("a", "fine")])
    with pytest.raises(ValidationError, match="note holds a lone surrogate"):
        store.add_label(q, "a", "ann", 3, note="odd \udc80")
    assert store.current_labels(q) == {}
    from erank_studio.store.store import _model_text

    assert _model_text("<think>a\ud800b\x00</think>") == "<think>a\ufffdb\ufffd</think>"


def test_qrels(store):
    q = store.upsert_query("topic 5", "beir/scifact", "5")
    assert store.add_qrels([("5", "d1", 1), ("5", "d2", 0), ("6", "d1", 2)], "beir/scifact") == 3
    assert store.qrels_for(q) == {"d1": 1, "d2": 0}
    store.add_qrels([("5", "d2", 2)], "beir/scifact")
    assert store.qrels_for(q) == {"d1": 1, "d2": 2}
    assert store.qrels_for(store.upsert_query("hand typed")) == {}


def test_store_reopens_existing_database(new_url):
    url = new_url("x/nested")
    with Store(url) as s:
        q = s.upsert_query("persist me")
        s.add_documents(q, [Document("a", "b")])
        s.add_label(q, "a", "ann", 5)
    with Store(url) as s:
        assert s.current_labels(q)["a"].score == 5


def test_store_never_imports_gradio_or_torch():
    import subprocess
    import sys

    code = ("import sys, erank_studio.store, erank_studio.store.exports, erank_studio.store.imports;"
            "bad=[m for m in ('gradio','torch') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_both_stores_refuse_what_postgresql_cannot_hold(store, tmp_path):
    """One set of rules: a NUL character in typed or imported text and an integer past 2**31 - 1
    are refused on SQLite too; a NUL in model output is kept as U+FFFD, never losing the judgment."""
    from erank_studio.errors import FileFormatError
    from erank_studio.store import ValidationError
    from erank_studio.store.imports import import_file

    q = store.upsert_query("q")
    store.add_documents(q, [Document("a", "text")])
    refused = [
        (lambda: store.add_label(q, "a", "ann", 3, note="x\x00y"), "note may not contain the NUL"),
        (lambda: store.add_label(q, "a", "ann\x00", 3), "annotator may not contain the NUL"),
        (lambda: store.add_documents(q, [Document("b", "te\x00xt")]), "document text may not contain the NUL"),
        (lambda: store.upsert_query("q\x00"), "query text may not contain the NUL"),
        (lambda: store.add_qrels([("1", "a", 2**31)], "s"), "relevance must be an integer from"),
    ]
    for write, message in refused:
        with pytest.raises(ValidationError, match=message):
            write()
    qrels = tmp_path / "big.qrels"
    qrels.write_text("1 0 a 1\n1 0 b 99999999999\n")
    with pytest.raises(FileFormatError, match="line 2: relevance must be an integer from"):
        import_file(store, "qrels", qrels, source="s")
    assert store.count_labels() == 0 and len(store.queries()) == 1
    assert [d.doc_id for d in store.documents_for_query(q)] == ["a"]
    assert store.qrels_for(store.upsert_query("t", "s", "1")) == {}
    run = store.start_run(q, [Document("a", "text")], model="m", engine="e", instruction="i",
                          truncate_length=5, generation=GenerationSettings(), alpha=0.2)
    store.add_judgment(run, Judgment(doc_id="a", index=0, raw_output="o\x00k<answer>3</answer>", status="ok",
                                     score=3, trace="t\x00"))
    (stored,) = store.run_judgments(run)
    assert (stored.raw_output, stored.trace) == ("o\ufffdk<answer>3</answer>", "t\ufffd")
