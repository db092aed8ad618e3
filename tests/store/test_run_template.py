"""Runs record their prompt template and chat template source; old runs stay "paper"; exports
reproduce each run's own prompts, never rewritten."""
from __future__ import annotations

import json

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from erank_studio import judge, prompt
from erank_studio.store import Store
from erank_studio.store.exports import ExportFilter, export_bytes
from erank_studio.store.imports import import_bundle
from erank_studio.store.store import _alembic_config
from erank_studio.types import GenerationSettings

from .conftest import INSTRUCTION, RecordingEngine, make_docs

QUERY = "How do plants make energy from light?"


def judged_run(store: Store, template: str, query: str = QUERY) -> tuple[int, int, RecordingEngine]:
    docs = make_docs()
    engine = RecordingEngine({"d1": 9, "d2": 0, "d3": 6, "d4": 2})
    engine.doc_ids = [d.doc_id for d in docs]
    query_id = store.upsert_query(query)
    run_id = store.start_run(query_id, docs, model=engine.model, engine=engine.name, instruction=INSTRUCTION,
                             truncate_length=60, generation=GenerationSettings(), alpha=0.2,
                             template=template, chat_template_source=engine.chat_template_source)
    for j in judge.judge(engine, query, docs, INSTRUCTION, 60, template=template):
        store.add_judgment(run_id, j)
    store.finish_run(run_id)
    return query_id, run_id, engine


def sft_users(store: Store, run_id: int) -> list[str]:
    data = export_bytes(store, "sft-messages", ExportFilter(run_id=run_id)).decode("utf-8")
    return [json.loads(line)["messages"][0]["content"] for line in data.splitlines()]


def test_a_run_records_its_template_and_chat_template_source(store):
    _, run_id, _ = judged_run(store, "paper")
    (row,) = store.runs()
    assert (row.id, row.template, row.chat_template_source) == (run_id, "paper", "fake chat template")
    info = store.run_info(run_id)
    assert info["template"] == "paper" and info["chat_template_source"] == "fake chat template"
    q = store.upsert_query("other")
    assert store.runs(query_id=q) == []
    run2 = store.start_run(q, [], model="m", engine="e", instruction="i", truncate_length=5,
                           generation=GenerationSettings(), alpha=0.2)
    assert store.run_info(run2)["template"] == prompt.DEFAULT_TEMPLATE == "erank"
    with pytest.raises(ValueError, match="unknown template 'figure5'"):
        store.start_run(q, [], model="m", engine="e", instruction="i", truncate_length=5,
                        generation=GenerationSettings(), alpha=0.2, template="figure5")


@pytest.mark.parametrize("template", ["erank", "paper"])
def test_a_run_judged_with_one_template_exports_that_template(store, template):
    q, run_id, engine = judged_run(store, template)
    for doc_id in ("d1", "d3"):
        store.add_label(q, doc_id, "ann", 5)
    users = sft_users(store, run_id)
    sent = dict(zip(engine.doc_ids, engine.sent))
    assert users == [sent["d1"], sent["d3"]]
    docs = {d.doc_id: d for d in make_docs()}
    for user, doc_id in zip(users, ("d1", "d3")):
        built = prompt.build(QUERY, docs[doc_id].text, INSTRUCTION, engine.tokenizer, 60, template)
        assert user == built.message
    other = "paper" if template == "erank" else "erank"
    assert prompt.TEMPLATES[other].split("{instruction}")[0] not in users[0]


def test_old_runs_become_paper_and_keep_their_prompts(new_url):
    url = new_url("old")
    with Store(url) as store:
        q, run_id, _ = judged_run(store, "paper")
        store.add_label(q, "d1", "ann", 7)
        before = sft_users(store, run_id)
    engine = create_engine(url)
    with engine.begin() as conn:  # back to the schema of before revision 0004
        command.downgrade(_alembic_config(conn), "0003")
        assert "template" not in {c["name"] for c in inspect(conn).get_columns("runs")}
    engine.dispose()
    with Store(url) as store:  # opening migrates: the old run is marked "paper"
        (row,) = store.runs()
        assert row.template == "paper" and row.chat_template_source is None
        assert sft_users(store, run_id) == before  # its stored prompts, not rebuilt

        from erank_studio.ui import session

        assert session.open_run(store, run_id).template == "paper"  # reopened: judged again as paper


def test_bundle_keeps_the_template_and_old_bundles_mean_paper(new_url, store, tmp_path):
    judged_run(store, "paper")
    bundle = tmp_path / "b.jsonl"
    bundle.write_bytes(export_bytes(store, "bundle"))
    records = [json.loads(line) for line in bundle.read_text().splitlines()]
    run_record = next(r for r in records if r.get("kind") == "run")
    assert run_record["template"] == "paper" and run_record["chat_template_source"] == "fake chat template"
    with Store(new_url("copy", migrated=True)) as copy:
        import_bundle(copy, bundle)
        (row,) = copy.runs()
        assert (row.template, row.chat_template_source) == ("paper", "fake chat template")
    # A bundle written before the column existed: its runs were judged with the paper's wording.
    for r in records:
        if r.get("kind") == "run":
            r.pop("template")
            r.pop("chat_template_source")
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(r) + "\n" for r in records))
    with Store(new_url("copy2", migrated=True)) as copy:
        import_bundle(copy, old)
        (row,) = copy.runs()
        assert row.template == "paper" and row.chat_template_source is None


def test_a_label_no_run_judged_gets_the_wording_of_its_querys_run(store):
    from erank_studio.types import Document

    q, _, _ = judged_run(store, "paper")
    store.add_label(q, "late", "ann", 4, document=Document("late", "added after the run"))
    data = export_bytes(store, "sft-messages").decode("utf-8")
    (user,) = [json.loads(line)["messages"][0]["content"] for line in data.splitlines()]
    assert user == prompt.user_message(QUERY, "added after the run", INSTRUCTION, "paper")
    fresh = store.upsert_query("never judged")
    store.add_label(fresh, "x", "ann", 6, document=Document("x", "typed by hand"))
    data = export_bytes(store, "sft-messages").decode("utf-8")
    users = [json.loads(line)["messages"][0]["content"] for line in data.splitlines()]
    assert prompt.user_message("never judged", "typed by hand", prompt.DEFAULT_INSTRUCTION, "erank") in users
