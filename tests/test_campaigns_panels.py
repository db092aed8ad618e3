"""The Label tab's panels and the app's admin rule: progress and anchoring tables, search, who may
act as admin (ERANK_ADMINS)."""
from __future__ import annotations

import pytest

from campaign_data import make_run
from erank_studio.store.campaigns import CampaignError, records, setup, work
from erank_studio.store import Store
from erank_studio.ui import campaign_panels, roles_panel


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'p.sqlite'}") as s:
        yield s


def test_progress_and_anchoring_tables(store):
    _, run_id = make_run(store, 3)
    setup.create(store, "c", run_id=run_id, overlap=1, blind=True)
    item = work.next_item(store, "c", "ann")
    work.label(store, "c", "ann", item["item"], 4, seconds=2.0)
    summary, people, anchored = campaign_panels.progress_view(store, "c")
    assert "1 done, 0 leased, 2 left" in summary
    assert people.values.tolist() == [["ann", "1", "0", "2", "-", "2.0"]]
    assert anchored.values.tolist()[0][:4] == ["all", "blind", "1", "1"]
    assert campaign_panels.progress_view(store, None)[0] == "Choose a campaign."


def test_find_in_a_campaign_and_in_a_run(store):
    _, run_id = make_run(store, 4)
    setup.create(store, "c", run_id=run_id, overlap=1)
    frame, line = campaign_panels.find_view(store, "c", None, "", "document 2", None, None, None, "", "")
    assert frame["document"].tolist() == ["d2"] and line == "1 found in campaign c"
    frame, line = campaign_panels.find_view(store, None, run_id, "", "", 7, None, None, "", "")
    assert frame["document"].tolist() == ["d3", "d1"] and line == f"2 found in run \\#{run_id}"
    # What the page's 0..10 dropdowns send: "" for "any" (an empty number box sent 0, keeping model 0 only).
    frame, _ = campaign_panels.find_view(store, None, run_id, "", "", "7", "", "", "", "")
    assert frame["document"].tolist() == ["d3", "d1"]
    with pytest.raises(CampaignError, match="choose a campaign"):
        campaign_panels.find_view(store, None, None, "", "", None, None, None, "", "")


def test_create_a_campaign_from_the_search(store):
    _, run_id = make_run(store, 6)  # d0..d5 model scores 0 7 3 10 6 2
    filters = ("", 6, None, None, "", "")  # text, model from, model to, disagreement, status, labelled by
    frame, _ = campaign_panels.find_view(store, None, run_id, "ann", *filters)
    made = campaign_panels.create_campaign(store, "ann", "s", None, "", None, 1, True, "rank", 10, "", True, run_id,
                                           *filters)
    assert made.n_items == 3 and sorted(frame["document"]) == ["d1", "d3", "d4"]
    assert sorted(r["doc_id"] for r in records.campaign_records(store, "s", records.RecordFilter())) == ["d1", "d3", "d4"]
    unfiltered = campaign_panels.create_campaign(store, "ann", "all", run_id, "", None, 1, False, "rank", 10, "",
                                                 False, None, *filters)
    assert unfiltered.n_items == 6
    with pytest.raises(CampaignError, match="the search has no filter set"):
        campaign_panels.create_campaign(store, "ann", "x", run_id, "", None, 1, False, "rank", 10, "", True, None,
                                        "", None, None, None, "", "")


def test_who_may_act_as_admin(monkeypatch):
    monkeypatch.delenv(roles_panel.ADMINS_ENV, raising=False)
    assert "No admins are set" in roles_panel.admin_reason("alice")
    monkeypatch.setenv(roles_panel.ADMINS_ENV, " alice , bob ")
    assert roles_panel.admins() == {"alice", "bob"}
    assert roles_panel.admin_reason("alice") is None
    assert roles_panel.admin_reason("carol") == "Only admins (alice, bob) may change roles and campaigns."
    assert roles_panel.admin_reason("") == "Type your name (or sign in) to manage roles."
    assert "nobody is signed in" in roles_panel.admin_line(None, None, "grant roles")
