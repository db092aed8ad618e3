"""The store's rules for every entry point (issue 19 items 1, 3, 7): an id names one text,
one action writes one row, scores are integers, names are one printable line compared without
case, free text is bounded, bundles obey the app's rules."""
from __future__ import annotations

import json
import sqlite3

import pytest

from erank_studio.errors import FileFormatError, ValidationError
from erank_studio.store import DocumentIdTaken, Store
from erank_studio.store.exports import export_bytes
from erank_studio.store.imports import import_bundle
from erank_studio.store.validation import MAX_FREE_TEXT_CHARS
from erank_studio.types import Document, GenerationSettings

from .conftest import dump


def _rows(store: Store) -> dict[str, int]:
    return {name: len(rows) for name, rows in dump(store).items()}


@pytest.fixture
def typed(store):
    q = store.upsert_query("why do moths fly to lights")
    store.add_documents(q, [Document("d1", "moths navigate by the moon"), Document("d2", "lamps")])
    return store, q


def test_an_id_given_again_with_another_text_is_refused_naming_both(typed):
    store, q = typed
    store.add_label(q, "d1", "ann", 9)
    before = dump(store)
    with pytest.raises(DocumentIdTaken) as refused:
        store.start_run(q, [Document("d1", "bright lamps attract insects")], model="m", engine="fake",
                        instruction="i", truncate_length=10, generation=GenerationSettings(), alpha=0.2)
    message = str(refused.value)
    assert "'d1'" in message and "moths navigate by the moon" in message and "bright lamps" in message
    for call in (lambda: store.add_documents(q, [Document("d2", "another text")]),
                 lambda: store.add_label(q, "d2", "ann", 3, document=Document("d2", "a third text")),
                 lambda: store.add_documents(q, [Document("d9", "one"), Document("d9", "two")])):
        with pytest.raises(DocumentIdTaken):
            call()
    assert dump(store) == before
    # the same text again (another source, a new first-stage score) is the same candidate
    store.add_documents(q, [Document("d1", "moths navigate by the moon", first_stage_score=2.0)], source="bench")
    assert store.current_labels(q)["d1"].score == 9
    assert [d.first_stage_score for d in store.documents_for_query(q)] == [2.0, None]


def test_a_bundle_that_reuses_an_id_for_another_text_is_refused(typed, tmp_path, request):
    store, q = typed
    bundle = tmp_path / "b.jsonl"
    bundle.write_bytes(export_bytes(store, "bundle"))
    records = [json.loads(line) for line in bundle.read_text().splitlines()]
    for rec in records:
        if rec["kind"] == "document" and rec["doc_id"] == "d1":
            rec["text"] = "tampered text"
    bundle.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(DocumentIdTaken, match="tampered text"):
        import_bundle(store, bundle)
    assert store.current_labels(q) == {} and store.documents_for_query(q)[0].text == "moths navigate by the moon"


def test_one_save_is_one_row_and_undo_reverts_what_was_seen(typed):
    store, q = typed
    first = store.add_label(q, "d1", "ann", 7, rationale="r", note="n")
    counts = _rows(store)
    for _ in range(3):  # a double event, a retry, a re-render
        again = store.add_label(q, "d1", "ann", 7, rationale="r", note="n")
        assert again.id == first.id
    assert _rows(store) == counts
    store.add_label(q, "d1", "ann", 7, rationale="r", note="changed")
    assert _rows(store)["labels"] == counts["labels"] + 1
    current = store.undo_label(q, "d1", "ann")
    assert (current.score, current.rationale, current.note) == (7, "r", "n")
    assert store.undo_label(q, "d1", "ann") is None and "d1" not in store.current_labels(q, "ann")
    # after an undo the same label is a new action again
    store.add_label(q, "d1", "ann", 7, rationale="r", note="n")
    assert store.current_labels(q, "ann")["d1"].note == "n"


@pytest.mark.parametrize("score", [5.5, True, False, "5.5", "5", 11, -1])
def test_label_scores_must_be_integers(typed, score):
    store, q = typed
    with pytest.raises(ValidationError, match="integer"):
        store.add_label(q, "d1", "ann", score)
    assert store.count_labels() == 0


@pytest.mark.parametrize("name", ["ann\tx", "ann\nx", "ann\u202ex", "\u200bann", "ann\x7f"])
def test_annotator_names_are_one_printable_line(typed, name):
    store, q = typed
    with pytest.raises(ValidationError, match="one line of printable text"):
        store.add_label(q, "d1", name, 3)


def test_names_are_compared_without_case(typed):
    store, q = typed
    store.add_label(q, "d1", "Alice", 3)
    store.add_label(q, "d1", "alice", 4)
    store.add_label(q, "d2", "ALICE", 5)
    assert store.annotators() == ["Alice"]
    assert {d: r.score for d, r in store.current_labels(q, "aLiCe").items()} == {"d1": 4, "d2": 5}
    assert store.undo_label(q, "d1", "alice").score == 3


def test_a_store_that_already_holds_alice_and_alice_opens_and_keeps_them_apart(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    with Store(url) as store:
        q = store.upsert_query("q")
        store.add_documents(q, [Document("d1", "t")])
        store.add_label(q, "d1", "Alice", 3)
    con = sqlite3.connect(tmp_path / "old.sqlite")  # written before the rule
    con.execute("INSERT INTO annotators (name, created_at) VALUES ('alice', '2026-01-01')")
    aid = con.execute("SELECT id FROM annotators WHERE name = 'alice'").fetchone()[0]
    con.execute("INSERT INTO labels (query_id, document_id, doc_id, annotator_id, score, retracted, action, "
                f"created_at) SELECT query_id, document_id, doc_id, {aid}, 8, 0, 'set', created_at FROM labels")
    con.commit()
    con.close()
    with Store(url) as store:
        assert store.annotators() == ["Alice", "alice"]
        assert store.current_labels(q, "Alice")["d1"].score == 3
        assert store.current_labels(q, "alice")["d1"].score == 8  # the exact spelling first
        store.add_label(q, "d1", "ALICE", 5)  # no exact spelling: the oldest row
        assert store.current_labels(q, "Alice")["d1"].score == 5


@pytest.mark.parametrize("field", ["rationale", "note"])
def test_notes_and_rationales_are_bounded(typed, field):
    store, q = typed
    store.add_label(q, "d1", "ann", 3, **{field: "x" * MAX_FREE_TEXT_CHARS})
    with pytest.raises(ValidationError, match="longer than 20,000 characters"):
        store.add_label(q, "d1", "ann", 3, **{field: "x" * (MAX_FREE_TEXT_CHARS + 1)})


def _bundle_with(store, tmp_path, change) -> object:
    path = tmp_path / "b.jsonl"
    records = [json.loads(line) for line in export_bytes(store, "bundle").decode().splitlines()]
    for rec in records:
        change(rec)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("when", ["9999-12-31T00:00:00", "1970-01-01T00:00:00", "2999-01-01T00:00:00+00:00"])
def test_a_bundle_with_implausible_dates_is_refused(typed, tmp_path, when):
    store, q = typed
    store.add_label(q, "d1", "ann", 3)

    def change(rec):
        if rec["kind"] == "label":
            rec["created_at"] = when

    path = _bundle_with(store, tmp_path, change)
    with Store(f"sqlite:///{tmp_path / 'copy.sqlite'}") as copy:
        with pytest.raises(FileFormatError, match="not a plausible date"):
            import_bundle(copy, path)
        assert copy.count_labels() == 0


def test_a_bundle_adjudication_without_a_reason_is_refused(typed, tmp_path):
    from erank_studio.store import teams

    store, q = typed
    store.add_label(q, "d1", "ann", 3)
    store.add_label(q, "d1", "bob", 9)
    teams.grant_role(store, "carol")
    teams.adjudicate(store, q, "d1", "carol", 6, "half")

    def change(rec):
        if rec["kind"] == "label" and rec["action"] == "adjudicate":
            rec["note"] = ""

    path = _bundle_with(store, tmp_path, change)
    with Store(f"sqlite:///{tmp_path / 'copy.sqlite'}") as copy:
        teams.grant_role(copy, "carol")
        with pytest.raises(FileFormatError, match="needs a final score and a reason"):
            import_bundle(copy, path)



def test_a_label_made_on_another_text_is_shown_nowhere(typed):
    """Whatever a store's history, a label is shown only where its doc_id names the text it was
    made on: here a row is made to point at another text behind the store's back."""
    from sqlalchemy import update

    from erank_studio.store import candidates, schema, teams

    store, q = typed
    store.add_label(q, "d1", "ann", 9)
    store.add_label(q, "d2", "ann", 4)
    with store.write() as conn:
        rows, _ = candidates.document_rows(conn, [Document("d1", "a text nobody labelled")], "")
        L = schema.Label.__table__
        conn.execute(update(L).where(L.c.doc_id == "d1").values(document_id=next(iter(rows.values()))))
    assert list(store.current_labels(q)) == ["d2"] and list(store.current_labels(q, "ann")) == ["d2"]
    assert export_bytes(store, "qrels").decode().split() == [str(q), "0", "d2", "1"]
    assert [it.doc_id for it in teams.items(store)] == ["d2"]
    assert "d1" not in set(export_bytes(store, "csv").decode().split("\n", 1)[1].replace(",", " ").split())


def test_a_trec_run_naming_a_candidate_id_of_another_text_is_refused(store, tmp_path):
    """``import --format run`` links benchmark documents: a query's candidate that already names
    another text keeps it, and the import says so."""
    from erank_studio.store.imports import import_file

    q = store.upsert_query("q text", "bench", "q1")
    store.add_documents(q, [Document("a", "the text the label was made on")])
    store.add_label(q, "a", "ann", 8)
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "the benchmark\'s own text"}\n')
    import_file(store, "documents", docs, source="bench")
    run = tmp_path / "first.run"
    run.write_text("q1 Q0 a 1 3.5 bm25\n")
    with pytest.raises(DocumentIdTaken, match="the text the label was made on"):
        import_file(store, "run", run, source="bench")
    assert store.documents_for_query(q)[0].text == "the text the label was made on"
    assert store.current_labels(q)["a"].score == 8
