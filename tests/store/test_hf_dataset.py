"""``export --format hf-dataset``: a folder ``datasets.load_dataset`` reads, its card, its safety,
and the Hub upload refused at once offline."""
from __future__ import annotations

import subprocess
import sys
import time

import datasets
import pytest

from erank_studio.cli import main
from erank_studio.store import Store, teams
from erank_studio.store.hf_dataset import CARD_MARK, export_dataset, held_out_queries
from erank_studio.store.resolve import parse_rule

from .conftest import run_judging

SFT_COLUMNS = ["query_id", "doc_id", "messages", "score", "label_source"]
RELEVANCE_COLUMNS = ["query_id", "query", "doc_id", "document", "labels", "label", "label_source", "relevance",
                     "adjudicated_score", "adjudicator", "adjudication_reason", "judgments"]


def _team_store(store):
    """Three benchmark queries labelled by two annotators, one item adjudicated."""
    teams.grant_role(store, "carol")
    for n in (1, 2, 3):
        q, _, _, _ = run_judging(store, query=f"query number {n}", source="bench", sqid=f"Q{n}")
        store.add_label(q, "d1", "alice", 9)
        store.add_label(q, "d1", "bob", 3)
        store.add_label(q, "d3", "alice", 5)
    teams.adjudicate(store, 1, "d1", "carol", 7, "read it twice")


def test_load_dataset_reads_the_exported_folder(store, tmp_path):
    _team_store(store)
    out = tmp_path / "ds"
    summary = export_dataset(store, out, parse_rule("adjudicated"))
    test_qids = held_out_queries(["Q1", "Q2", "Q3"], 0.2)
    assert len(test_qids) == 1
    assert summary.rows == {"sft": {"train": 4, "test": 2}, "relevance": {"train": 4, "test": 2}}
    cache = str(tmp_path / "cache")
    sft = datasets.load_dataset(str(out), cache_dir=cache)
    assert set(sft) == {"train", "test"}
    assert sft["train"].column_names == SFT_COLUMNS
    assert {r["query_id"] for r in sft["test"]} == test_qids
    assert {r["query_id"] for r in sft["train"]}.isdisjoint(test_qids)
    rows = {(r["query_id"], r["doc_id"]): r for split in ("train", "test") for r in sft[split]}
    q1 = rows[("Q1", "d1")]
    assert [m["role"] for m in q1["messages"]] == ["user", "assistant"]
    assert "query number 1" in q1["messages"][0]["content"]
    assert q1["messages"][1]["content"].endswith("<answer>7</answer>") and q1["label_source"] == "adjudicated"
    assert rows[("Q2", "d1")]["score"] == 6 and rows[("Q2", "d1")]["label_source"] == "mean"

    relevance = datasets.load_dataset(str(out), "relevance", cache_dir=cache)
    assert relevance["train"].column_names == RELEVANCE_COLUMNS
    rel = {(r["query_id"], r["doc_id"]): r for split in ("train", "test") for r in relevance[split]}
    assert len(rel) == 6
    r = rel[("Q1", "d1")]
    assert r["query"] == "query number 1" and r["document"].startswith("Photosynthesis")
    assert r["labels"] == [{"annotator": "alice", "score": 9}, {"annotator": "bob", "score": 3}]
    assert (r["label"], r["relevance"], r["adjudicated_score"], r["adjudicator"], r["adjudication_reason"]) == \
        (7, 2, 7, "carol", "read it twice")
    assert [(j["model"], j["score"], j["status"]) for j in r["judgments"]] == [("fake/erank-test", 9, "ok")]
    assert rel[("Q2", "d3")]["adjudicator"] is None and rel[("Q2", "d3")]["label"] == 5

    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "license: unknown" in card and "text-ranking" in card
    assert "config_name: relevance" in card and "path: sft/train.parquet" in card and CARD_MARK in card
    assert "adjudicated" in card and "0-2 -> 0" in card


def test_the_folder_is_never_put_over_something_else(store, tmp_path):
    _team_store(store)
    rule = parse_rule("mean")
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="pass --force"):
        export_dataset(store, mine, rule)
    with pytest.raises(ValueError, match="only a folder an earlier hf-dataset export wrote"):
        export_dataset(store, mine, rule, overwrite=True)
    assert (mine / "keep.txt").read_text() == "mine"
    out = tmp_path / "ds"
    export_dataset(store, out, rule)
    export_dataset(store, out, parse_rule("annotator:bob"), overwrite=True)  # an earlier export: replaced
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".ds")) == []
    rows = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert {r["label_source"] for split in rows.values() for r in split} == {"bob"}


def test_the_folder_of_a_sqlite_store_is_refused_even_with_force(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'db' / 's.sqlite'}") as store:
        _team_store(store)
        for target in (tmp_path, tmp_path / "db"):
            with pytest.raises(ValueError, match="store's folder"):
                export_dataset(store, target, parse_rule("mean"), overwrite=True)
        assert (tmp_path / "db" / "s.sqlite").is_file()


def test_an_empty_store_exports_nothing(store, tmp_path):
    with pytest.raises(ValueError, match="no labelled documents"):
        export_dataset(store, tmp_path / "ds", parse_rule("mean"))
    assert not (tmp_path / "ds").exists()


def test_push_to_hub_offline_says_so_at_once_and_writes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with Store(url) as store:
        _team_store(store)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "erank_studio", "export", "--db", url, "--format", "hf-dataset",
                           "--out", str(tmp_path / "ds"), "--push-to-hub", "team/labels"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                                                              "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: offline (HF_HUB_OFFLINE, HF_DATASETS_OFFLINE or ERANK_OFFLINE is set): cannot push to the "
        "Hugging Face Hub; the folder can be uploaded later"]
    assert not (tmp_path / "ds").exists()
    assert time.monotonic() - start < 60  # generous bound on a process start; nothing waited on a network


def test_push_to_hub_without_a_token_says_so(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with Store(url) as store:
        _team_store(store)
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "ERANK_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no cached token
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    assert main(["export", "--db", url, "--format", "hf-dataset", "--out", str(tmp_path / "ds"),
                 "--push-to-hub", "team/labels"]) == 2
    assert "no Hugging Face token" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_cli_refuses_filters_that_do_not_apply(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with Store(url) as store:
        _team_store(store)
    assert main(["export", "--db", url, "--format", "hf-dataset", "--out", "-"]) == 2
    assert main(["export", "--db", url, "--format", "hf-dataset", "--out", str(tmp_path / "ds"), "--run", "1"]) == 2
    assert main(["export", "--db", url, "--format", "qrels", "--out", "-", "--push-to-hub", "a/b"]) == 2
    err = capsys.readouterr().err
    assert "writes a folder" in err and "do not apply" in err and "--push-to-hub goes with" in err
    assert main(["export", "--db", url, "--format", "hf-dataset", "--out", str(tmp_path / "ds"),
                 "--resolve", "majority"]) == 0
    assert "labels: majority" in capsys.readouterr().out
