"""The campaign API endpoints (called as the server calls them, without a server; the browser
tests call them through gradio_client): same answers as the use cases, nothing of the model's in a
blind campaign before the label, one-line errors."""
from __future__ import annotations

import json

import gradio as gr
import pytest

from campaign_data import make_run, model_score
from erank_studio.store.campaigns.payload import MODEL_KEYS
from erank_studio.store import Store
from erank_studio.ui.campaign_api import endpoints


@pytest.fixture
def api(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'a.sqlite'}") as store:
        make_run(store, 4)
        yield endpoints(store)


def test_a_blind_campaign_through_the_api(api):
    created = api["campaign_create"]("b", run_id=1, overlap=1, blind=True, lease_minutes=5)
    assert created == {"name": "b", "overlap": 1, "blind": True, "strategy": "rank", "lease_s": 300,
                       "origin": "run 1 (m)", "items": 4}
    item = api["campaign_next"]("b", "ann")
    text = json.dumps(item)
    assert "model" not in item and not set(MODEL_KEYS) & set(item) and "thought" not in text
    with pytest.raises(gr.Error, match="is blind: label item"):
        api["campaign_reveal"]("b", "ann", item["item"])
    saved = api["campaign_label"]("b", "ann", item["item"], 6, "", "a note", 2.0)
    n = int(item["doc_id"][1:])
    assert saved["model"]["score"] == model_score(n) and saved["seconds"] == 2.0
    assert api["campaign_reveal"]("b", "ann", item["item"])["model"]["trace"] == f"thought {n}"
    assert api["campaign_keep_trace"]("b", "ann", item["item"])["label"] > saved["label"]
    assert api["campaign_status"]("b")["people"]["ann"]["done"] == 1
    assert api["campaign_anchoring"]("b")["all"]["blind"]["labels"] == 1


def test_the_api_says_when_nothing_is_left_and_refuses_bad_input(api):
    api["campaign_create"]("v", run_id=1, overlap=1)
    for _ in range(4):
        item = api["campaign_next"]("v", "ann")
        assert item["model"]["score"] == model_score(int(item["doc_id"][1:]))
        api["campaign_skip"]("v", "ann", item["item"])
    assert api["campaign_next"]("v", "ann") == {"item": None}
    for call, message in [(lambda: api["campaign_label"]("v", "ann", 1, 11), "from 0 to 10"),
                          (lambda: api["campaign_next"]("nope", "ann"), "no campaign named 'nope'"),
                          (lambda: api["campaign_create"]("x", overlap=1), "exactly one of"),
                          (lambda: api["campaign_create"]("x", run_id=1, lease_minutes=0), "lease_minutes")]:
        with pytest.raises(gr.Error, match=message):
            call()


def test_create_takes_the_records_filter(api, tmp_path):
    from erank_studio.store.campaigns.records import RecordFilter, campaign_records, run_records

    created = api["campaign_create"]("f", run_id=1, overlap=1, model_min=5, labelled_by="nobody", annotator="ann")
    assert created["items"] == 2 and created["origin"] == "run 1 (m), filtered: model score 5..10, labelled by no one"
    with Store(f"sqlite:///{tmp_path / 'a.sqlite'}") as store:
        assert ([r["doc_id"] for r in campaign_records(store, "f", RecordFilter())]
                == [r["doc_id"] for r in run_records(store, 1, RecordFilter(model_min=5, labelled_by="no one"))]
                == ["d3", "d1"])
    with pytest.raises(gr.Error, match="matches the filter"):
        api["campaign_create"]("g", run_id=1, overlap=1, text="nothing like it")
    with pytest.raises(gr.Error, match="model score from must be a whole number"):
        api["campaign_create"]("g", run_id=1, overlap=1, model_min=2.5)
