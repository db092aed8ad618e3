from __future__ import annotations

import json
import subprocess
import sys

from erank_studio.cli import main
from erank_studio.store import Store

from .conftest import run_judging


def test_export_and_import_commands(new_url, tmp_path, capsys):
    url = new_url("cli")
    with Store(url) as store:
        q, run, _, _ = run_judging(store)
        store.add_label(q, "d1", "ann", 2)
        store.add_label(q, "d3", "bob", 6)
    out = tmp_path / "sft.jsonl"
    assert main(["export", "--db", url, "--format", "sft-messages", "--out", str(out), "--annotator", "ann"]) == 0
    assert len(out.read_text().splitlines()) == 1
    assert main(["export", "--db", url, "--format", "sft-messages", "--out", str(out), "--min-disagreement", "5", "--force"]) == 0
    assert json.loads(out.read_text())["messages"][1]["content"].endswith("<answer>2</answer>")
    assert main(["export", "--db", url, "--format", "bundle", "--out", str(tmp_path / "b.jsonl"), "--run", str(run)]) == 0
    fresh = new_url("fresh")
    assert main(["import", str(tmp_path / "b.jsonl"), "--format", "bundle", "--db", fresh]) == 0
    assert "2 labels" in capsys.readouterr().out


def test_malformed_import_is_one_line_error(new_url, tmp_path):
    bad = tmp_path / "runs.txt"
    bad.write_text("q1 Q0 a 1 9.5 bm25\nq1 Q0 b\n")
    url = new_url("cli")
    proc = subprocess.run(
        [sys.executable, "-m", "erank_studio", "import", str(bad), "--format", "run", "--source", "x", "--db", url],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {bad} line 2: expected 6 columns 'qid Q0 docid rank score tag', got 3 (nothing was imported)"
    ]
    assert "Traceback" not in proc.stderr


def test_missing_source_is_refused(new_url, tmp_path, capsys):
    assert main(["import", str(tmp_path / "x.qrels"), "--format", "qrels", "--db", new_url("a")]) == 2
    assert "--source is required" in capsys.readouterr().err


def test_commands_use_the_store_named_by_ERANK_DB_URL(store_url, tmp_path, monkeypatch):
    """No --db: every command works on the store in ERANK_DB_URL (a team's server as well)."""
    monkeypatch.setenv("ERANK_DB_URL", store_url)  # the subprocesses inherit it
    qrels = tmp_path / "team.qrels"
    qrels.write_text("t1 0 a 2\nt1 0 b 0\n")
    imported = subprocess.run([sys.executable, "-m", "erank_studio", "import", str(qrels), "--format", "qrels",
                               "--source", "team"], capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    exported = subprocess.run([sys.executable, "-m", "erank_studio", "export", "--format", "bundle", "--out", "-"],
                              capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    qrel_records = [r for r in map(json.loads, exported.stdout.splitlines()) if r["kind"] == "qrel"]
    assert sorted((r["doc_id"], r["relevance"]) for r in qrel_records) == [("a", 2), ("b", 0)]
    with Store(store_url) as store:  # it went to that store, nowhere else
        with store.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM qrels WHERE source = 'team'").scalar() == 2
