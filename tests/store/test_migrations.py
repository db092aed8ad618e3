from __future__ import annotations

import subprocess
import sys

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from erank_studio.errors import StoreNewer
from erank_studio.store import Store
from erank_studio.store.schema import HEAD_REVISION, Base
from erank_studio.store.store import _alembic_config, _head_revision, _scripts
from erank_studio.types import Document


def _upgrade(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
    engine.dispose()


def _downgrade(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), revision)
    engine.dispose()


def _version(url: str) -> str | None:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    return rows[0] if rows else None


def test_empty_database_to_head_matches_the_models(new_url):
    url = new_url("m")
    _upgrade(url, "head")
    assert _version(url) == _head_revision()
    engine = create_engine(url)
    insp = inspect(engine)
    assert set(insp.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    for name, table in Base.metadata.tables.items():
        assert {c["name"] for c in insp.get_columns(name)} == {c.name for c in table.columns}, name
    assert "ix_labels_lookup" in {i["name"] for i in insp.get_indexes("labels")}
    assert "ix_judgments_run_document" in {i["name"] for i in insp.get_indexes("judgments")}
    engine.dispose()


def test_downgrade_then_upgrade_keeps_data(new_url):
    url = new_url("m")
    with Store(url) as store:  # opening migrates to head
        q = store.upsert_query("keep me", "src", "1")
        store.add_documents(q, [Document("a", "text a")])
        store.add_label(q, "a", "ann", 7, rationale="kept")
        store.add_qrels([("1", "a", 2)], "src")
    _downgrade(url, "0002")
    assert _version(url) == "0002"
    _downgrade(url, "0001")
    assert _version(url) == "0001"
    engine = create_engine(url)
    assert "ix_labels_lookup" not in {i["name"] for i in inspect(engine).get_indexes("labels")}
    engine.dispose()
    _upgrade(url, "head")
    assert _version(url) == _head_revision()
    with Store(url) as store:
        assert store.current_labels(q)["a"].rationale == "kept"
        assert store.qrels_for(q) == {"a": 2}
        store.add_label(q, "a", "ann", 8)
        assert [r.score for r in store.label_history(q, "a")] == [7, 8]


def test_store_open_upgrades_an_old_database(new_url):
    url = new_url("old")
    _upgrade(url, "0001")
    with Store(url):
        pass
    assert _version(url) == _head_revision()


def test_every_revision_goes_down_and_up_again(new_url):
    """Each file in db/migrations/versions runs both ways on this backend, one step at a time."""
    url = new_url("steps")
    revisions = [s.revision for s in reversed(list(_scripts().walk_revisions()))]
    for revision in revisions:
        _upgrade(url, revision)
        assert _version(url) == revision
    for previous in reversed(["base"] + revisions[:-1]):
        _downgrade(url, previous)
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    _upgrade(url, "head")
    with Store(url) as store:
        q = store.upsert_query("after the round trip")
        store.add_documents(q, [Document("a", "text")])
        assert store.add_label(q, "a", "ann", 3).id == 1


def test_a_read_command_upgrades_an_older_store_it_may_write(new_url):
    """export / evaluate open read-only; a store of an older revision is upgraded once (the file
    is writable, or the server lets this role write) instead of being refused."""
    url = new_url("older")
    with Store(url) as store:
        q = store.upsert_query("kept across the upgrade")
        store.add_documents(q, [Document("a", "text")])
        store.add_label(q, "a", "ann", 6)
    _downgrade(url, "0006")
    with Store(url, read_only=True) as reader:
        assert reader.current_labels(q)["a"].score == 6
    assert _version(url) == _head_revision()


def test_the_head_revision_constant_is_alembics_head():
    """Opening a store trusts schema.HEAD_REVISION to know a current store without alembic; a new
    migration must move it too."""
    assert HEAD_REVISION == _scripts().get_current_head()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_current_store_opens_without_importing_alembic(new_url, read_only):
    url = new_url("current")
    with Store(url):  # created and migrated here
        pass
    code = ("import sys\nfrom erank_studio.store import Store\n"
            f"with Store({url!r}, read_only={read_only}) as store:\n    store.runs()\n"
            "print('alembic imported:', any(m.split('.')[0] == 'alembic' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "alembic imported: False"


def test_a_store_of_an_unknown_revision_is_still_refused(new_url):
    url = new_url("newer")
    with Store(url):
        pass
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(StoreNewer, match="newer ERank Studio"):
        Store(url)
    assert _version(url) == "0099"


def test_0009_gives_a_re_pointed_ids_older_text_its_own_id(new_url, caplog):
    """A store of revision 0008 where d1 was retyped with another text (the link re-pointed,
    the older label and judgment left on the older text): after the migration each label and
    judgment is shown on the text it was made on, and the rename is listed."""
    import hashlib
    import logging

    from sqlalchemy import update

    from erank_studio.store import candidates, schema
    from erank_studio.types import GenerationSettings, Judgment

    url = new_url("m")
    _upgrade(url, "0008")
    old = Store(url, migrate_on_open=False)
    q = old.upsert_query("why do moths fly to lights")
    run = old.start_run(q, [Document("d1", "moths navigate by the moon"), Document("d2", "other")],
                        model="m", engine="fake", instruction="i", truncate_length=100,
                        generation=GenerationSettings(), alpha=0.2)
    old.add_judgment(run, Judgment(doc_id="d1", index=0, raw_output="<answer>8</answer>", status="ok", score=8))
    old.add_label(q, "d1", "ann", 9, rationale="on the moon text")
    with old.write() as conn:  # what 0008's _link did when d1 came again with another text
        rows, _ = candidates.document_rows(conn, [Document("d1", "bright lamps attract insects")], "")
        new_row = next(iter(rows.values()))
        QD = schema.QueryDocument.__table__
        conn.execute(update(QD).where(QD.c.query_id == q, QD.c.doc_id == "d1").values(document_id=new_row))
    old.add_label(q, "d1", "bob", 2)  # made on the new text
    old.close()

    with caplog.at_level(logging.WARNING, logger="erank_studio.store"):
        store = Store(url)
    renamed = "d1~" + hashlib.sha1(b"moths navigate by the moon").hexdigest()[:8]
    assert f"d1 -> {renamed} (1 labels, 1 judgments)" in caplog.text
    with store:
        texts = {d.doc_id: d.text for d in store.documents_for_query(q)}
        assert texts == {"d1": "bright lamps attract insects", "d2": "other", renamed: "moths navigate by the moon"}
        labels = store.current_labels(q)
        assert (labels["d1"].annotator, labels["d1"].score) == ("bob", 2)
        assert (labels[renamed].annotator, labels[renamed].score) == ("ann", 9)
        assert [j.doc_id for j in store.run_judgments(run)] == [renamed]
        assert [(r["old_doc_id"], r["new_doc_id"], r["labels"], r["judgments"])
                for r in store.renamed_documents()] == [("d1", renamed, 1, 1)]
    _downgrade(url, "0008")  # and back: the labels and judgments return to their old ids
    with Store(url, migrate_on_open=False) as back:
        assert [j.doc_id for j in back.run_judgments(run)] == ["d1"]
