"""rerank --docs --save: the store is opened before the model, judgments go through the buffered
writer, and a huge document is not echoed back whole on stdout."""
from __future__ import annotations

import json

from erank_studio.cli import main, rerank
from erank_studio.store import Store

from .conftest import RecordingEngine


def test_rerank_saves_the_run_and_does_not_echo_a_huge_document(new_url, tmp_path, monkeypatch, capsys):
    docs = tmp_path / "docs.jsonl"
    huge = "word " * 20_000
    docs.write_text(json.dumps({"id": "big", "content": huge}) + "\n"
                    + json.dumps({"id": "small", "content": "short text"}) + "\n")
    engine = RecordingEngine({"big": 7, "small": 2})
    engine.doc_ids = ["big", "small"]
    engine.chat_template_source = "test"
    opened = []
    real_open = rerank.open_store
    monkeypatch.setattr(rerank, "open_store", lambda db: opened.append("store") or real_open(db))
    monkeypatch.setattr(rerank, "engine_from", lambda args: opened.append("model") or engine)
    url = new_url("s")
    assert main(["rerank", "--query", "q", "--docs", str(docs), "--save", "--db", url]) == 0
    assert opened == ["store", "model"]
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ["big", "small"]
    assert len(rows[0]["content"]) == rerank.ECHO_CHARS and rows[0]["content_truncated"] is True
    assert rows[1]["content"] == "short text" and "content_truncated" not in rows[1]
    with Store(url, read_only=True) as store:
        (run,) = store.runs()
        assert run.status == "done" and run.n_judgments == 2
        assert {j.doc_id: j.score for j in store.run_judgments(run.id)} == {"big": 7, "small": 2}
