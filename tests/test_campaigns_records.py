"""Search and filter over a campaign's items and a run's documents (use case and CLI)."""
from __future__ import annotations

import json

import pytest

from campaign_data import make_run, model_score
from erank_studio.store.campaigns import CampaignError, lookup, setup, work
from erank_studio.store.campaigns.records import RecordFilter, campaign_records, run_records
from erank_studio.cli import main
from erank_studio.store import Store


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'r.sqlite'}") as s:
        yield s


def _label_first(store, name, person, scores):
    for score in scores:
        item = work.next_item(store, name, person)
        work.label(store, name, person, item["item"], score)


def test_filters_over_a_campaign(store):
    _, run_id = make_run(store, 6)  # model scores by doc: d0 0, d1 7, d2 3, d3 10, d4 6, d5 2
    setup.create(store, "c", run_id=run_id, overlap=2)
    _label_first(store, "c", "ann", [10, 0])  # rank order: d3 (10), then d1 (7)
    _label_first(store, "c", "bob", [10])  # d3 again
    assert work.next_item(store, "c", "bob")["doc_id"] == "d1"  # bob now holds d1
    every = campaign_records(store, "c", RecordFilter())
    assert [r["doc_id"] for r in every] == ["d3", "d1", "d4", "d2", "d5", "d0"]
    assert {r["doc_id"]: r["status"] for r in every}["d3"] == "done"
    assert {r["doc_id"]: r["status"] for r in every}["d1"] == "leased"

    def ids(**kwargs):
        return [r["doc_id"] for r in campaign_records(store, "c", RecordFilter(**kwargs))]

    assert ids(model_min=6, model_max=7) == ["d1", "d4"]
    assert ids(disagreement=5) == ["d1"]  # ann's 0 against the model's 7
    assert ids(labelled_by="me", person="bob") == ["d3"]
    assert ids(labelled_by="anyone") == ["d3", "d1"]
    assert ids(labelled_by="no one") == ["d4", "d2", "d5", "d0"]
    assert ids(status="left") == ["d4", "d2", "d5", "d0"]
    assert ids(text="DOCUMENT 5") == ["d5"] and ids(text="d2") == ["d2"]
    assert every[0]["labels"] == {"ann": 10, "bob": 10} and every[0]["model_score"] == model_score(3)


def test_a_blind_campaign_shows_the_model_only_where_the_person_labelled(store):
    _, run_id = make_run(store, 3)
    setup.create(store, "b", run_id=run_id, overlap=1, blind=True)
    _label_first(store, "b", "ann", [5])
    rows = campaign_records(store, "b", RecordFilter(person="ann"))
    assert [r["model_score"] is not None for r in rows] == [True, False, False]
    assert all(r["model_score"] is None for r in campaign_records(store, "b", RecordFilter(person="bob")))
    with pytest.raises(CampaignError, match="blind"):
        campaign_records(store, "b", RecordFilter(model_min=3))


def test_filters_over_a_run(store):
    query_id, run_id = make_run(store, 4)  # d0 0, d1 7, d2 3, d3 10
    store.add_label(query_id, "d2", "ann", 9)
    rows = run_records(store, run_id, RecordFilter())
    assert [r["doc_id"] for r in rows] == ["d3", "d1", "d2", "d0"]
    assert [r["doc_id"] for r in run_records(store, run_id, RecordFilter(status="labelled"))] == ["d2"]
    assert [r["doc_id"] for r in run_records(store, run_id, RecordFilter(disagreement=6))] == ["d2"]
    with pytest.raises(CampaignError, match="status must be one of labelled, unlabelled"):
        run_records(store, run_id, RecordFilter(status="done"))
    with pytest.raises(CampaignError, match="model score from 8 is above model score to 2"):
        run_records(store, run_id, RecordFilter(model_min=8, model_max=2))  # said, not an empty answer


def test_records_from_the_command_line(store, capsys):
    _, run_id = make_run(store, 4)
    setup.create(store, "c", run_id=run_id, overlap=1)
    assert main(["campaign", "records", "c", "--model-min", "7", "--json", "--db", store.url]) == 0
    assert [r["doc_id"] for r in json.loads(capsys.readouterr().out)] == ["d3", "d1"]
    assert main(["campaign", "records", "--run", str(run_id), "--labelled-by", "nobody", "--db", store.url]) == 0
    assert capsys.readouterr().out.strip().endswith("4 found")
    assert main(["campaign", "records", "c", "--model-min", "12", "--db", store.url]) == 2
    assert capsys.readouterr().err == "error: model score from must be a whole number from 0 to 10, got 12\n"
    assert main(["campaign", "records", "--db", store.url]) == 2


def test_create_takes_the_records_filter_and_holds_what_records_finds(store, capsys):
    query_id, run_id = make_run(store, 8)  # d0..d7 model scores 0 7 3 10 6 2 9 5
    make_run(store, 5, query="second query", source_query_id="q2")
    store.add_label(query_id, "d4", "ann", 1)

    def found(*argv):
        assert main(["campaign", "records", *argv, "--json", "--limit", "1000", "--db", store.url]) == 0
        return sorted((r["query_key"], r["doc_id"]) for r in json.loads(capsys.readouterr().out))

    flt = ["--model-min", "5", "--as", "ann", "--labelled-by", "nobody"]
    assert main(["campaign", "create", "r", "--run", str(run_id), "--overlap", "1", *flt, "--db", store.url]) == 0
    assert capsys.readouterr().out.startswith(f"campaign r: 4 items from run {run_id} (m), filtered: model score 5..10")
    assert found("r") == found("--run", str(run_id), *flt) == [("q1", "d1"), ("q1", "d3"), ("q1", "d6"), ("q1", "d7")]
    flt = ["--text", "DOCUMENT 3", "--labelled-by", "nobody"]
    assert main(["campaign", "create", "d", "--dataset", "camp", "--top-k", "2", "--overlap", "2", *flt,
                 "--db", store.url]) == 0
    capsys.readouterr()
    assert found("d") == found("--dataset", "camp", "--top-k", "2", *flt) == [("q1", "d3"), ("q2", "d3")]
    assert main(["campaign", "create", "none", "--run", str(run_id), "--overlap", "1", "--text", "zzz",
                 "--db", store.url]) == 2
    assert capsys.readouterr().err == (f"error: no document of run {run_id} (m) matches the filter (text 'zzz'): "
                                       "no campaign was created\n")
    assert main(["campaign", "records", "--dataset", "camp", "--run", "1", "--db", store.url]) == 2
    assert "one of them" in capsys.readouterr().err
    assert lookup.names(store) == ["r", "d"]
