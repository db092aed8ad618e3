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
