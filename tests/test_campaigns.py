"""Campaigns: creation, the hand-out rule under parallel annotators, leases, blind payloads,
what labels record, progress and the anchoring report (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
import multiprocessing
import statistics
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from campaign_data import hold_start, label_until_done, make_run, model_score
from erank_studio import agreement
from erank_studio.store.campaigns import CampaignError, anchoring, lookup, progress, setup, sft_may_use_trace, work
from erank_studio.store.campaigns.payload import MODEL_KEYS
from erank_studio.store.campaigns.records import RecordFilter, batch_records, campaign_records, run_records
from erank_studio.store.campaigns.tables import A, I, L, LE, utcnow
from erank_studio.store import Store


@pytest.fixture
def store(store_url):
    with Store(store_url) as s:
        yield s


def _labels(store, campaign_id):
    with store.read() as conn:
        return conn.execute(select(L, A.c.name.label("person")).join(A, A.c.id == L.c.annotator_id)
                            .where(L.c.campaign_id == campaign_id).order_by(L.c.id)).all()


def test_four_annotators_in_parallel_processes_give_each_item_exactly_k_labels(store, store_url):
    _, run_id = make_run(store, 50)
    campaign = setup.create(store, "par", run_id=run_id, overlap=2)
    people = ["ann", "bob", "cy", "dee"]
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, \
            spawn.Pool(4, initializer=hold_start, initargs=(manager.Barrier(4),)) as pool:
        done = pool.starmap(label_until_done, [(store_url, "par", p) for p in people])
    rows = _labels(store, campaign.id)
    assert len(rows) == 100 == sum(len(d) for d in done)  # nothing lost, nothing extra
    per_item: dict[tuple[int, str], list[str]] = {}
    for r in rows:
        per_item.setdefault((r.query_id, r.doc_id), []).append(r.person)
    assert len(per_item) == 50
    assert all(len(who) == 2 and len(set(who)) == 2 for who in per_item.values())  # none twice by one person
    for person, items in zip(people, done):
        assert len(items) == len(set(items))
        assert sorted(r.doc_id for r in rows if r.person == person) == sorted(
            d for (_, d), who in per_item.items() if person in who)
    status = progress.status(store, "par")
    assert status["overall"] | {"labels_per_hour": None} == {
        "items": 50, "done": 50, "leased": 0, "left": 0, "wanted": 100, "labels": 100,
        "labels_per_hour": None, "median_seconds": 1.5}
    assert {p: v["done"] for p, v in status["people"].items()} == {p: len(d) for p, d in zip(people, done) if d}
    assert all(v["left"] == 0 and v["leased"] == 0 for v in status["people"].values())


def test_a_lease_holds_an_item_until_it_expires_then_it_is_handed_out_again(store):
    _, run_id = make_run(store, 2)
    setup.create(store, "lease", run_id=run_id, overlap=1)
    first = work.next_item(store, "lease", "ann")
    assert work.next_item(store, "lease", "ann")["item"] == first["item"]  # a reload: the same item
    second = work.next_item(store, "lease", "bob")
    assert second["item"] != first["item"]
    assert work.next_item(store, "lease", "cy") is None  # both leased, overlap 1
    with store.write() as conn:  # ann closed her tab long ago
        conn.execute(update(LE).where(LE.c.item_id == first["item"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert progress.status(store, "lease")["overall"]["leased"] == 1
    again = work.next_item(store, "lease", "cy")
    assert again["item"] == first["item"]
    work.label(store, "lease", "cy", again["item"], 5)
    with pytest.raises(CampaignError, match="already has its 1 label"):
        work.label(store, "lease", "ann", first["item"], 3)  # her lease ran out; nothing saved
    assert [r.person for r in _labels(store, lookup.get(store, "lease").id)] == ["cy"]
    with pytest.raises(CampaignError, match="held by others|being labelled by others"):
        work.label(store, "lease", "ann", second["item"], 3)  # bob holds it: a label without a lease waits
    work.label(store, "lease", "bob", second["item"], 4)


def test_a_skipped_item_is_not_handed_to_that_person_again(store):
    _, run_id = make_run(store, 2)
    setup.create(store, "skip", run_id=run_id, overlap=1)
    first = work.next_item(store, "skip", "ann")
    work.skip(store, "skip", "ann", first["item"])
    second = work.next_item(store, "skip", "ann")
    assert second["item"] != first["item"]
    assert work.next_item(store, "skip", "bob")["item"] == first["item"]  # free for others


def test_items_follow_the_strategy_order(store):
    _, run_id = make_run(store, 6)
    setup.create(store, "ranked", run_id=run_id, overlap=1, strategy="rank")
    order = []
    while (item := work.next_item(store, "ranked", "ann")) is not None:
        order.append(int(item["doc_id"][1:]))
        work.label(store, "ranked", "ann", item["item"], 1)
    assert order == sorted(range(6), key=lambda n: (-model_score(n), n))  # same P(N): by score


def test_a_blind_campaign_sends_nothing_of_the_model_before_the_label(store):
    _, run_id = make_run(store, 3)
    setup.create(store, "blind", run_id=run_id, overlap=1, blind=True)
    item = work.next_item(store, "blind", "ann")
    assert "model" not in item
    text = json.dumps(item)
    assert "thought" not in text and "score_distribution" not in text and "probability" not in text
    with pytest.raises(CampaignError, match="blind"):
        work.reveal(store, "blind", "ann", item["item"])
    saved = work.label(store, "blind", "ann", item["item"], 4, seconds=3.0)
    n = int(item["doc_id"][1:])
    assert saved["model"]["score"] == model_score(n) and saved["model"]["trace"] == f"thought {n}"
    assert work.reveal(store, "blind", "ann", item["item"])["score"] == model_score(n)


def test_a_campaign_that_shows_the_model_sends_its_judgment(store):
    _, run_id = make_run(store, 3)
    setup.create(store, "open", run_id=run_id, overlap=1)
    item = work.next_item(store, "open", "ann")
    n = int(item["doc_id"][1:])
    assert set(MODEL_KEYS) <= set(item["model"])
    assert item["model"]["score"] == model_score(n) and item["model"]["rank"] >= 1


def test_labels_record_campaign_blind_guideline_version_and_seconds(store):
    _, run_id = make_run(store, 3)
    campaign = setup.create(store, "rec", run_id=run_id, overlap=1, blind=True)
    first = work.next_item(store, "rec", "ann")
    work.label(store, "rec", "ann", first["item"], 6, rationale="why", note="n", seconds=12.5)
    assert setup.edit_guidelines(store, "rec", "## Guidelines\n\nversion two") == 2
    second = work.next_item(store, "rec", "ann")
    assert second["guidelines"] == {"version": 2, "text": "## Guidelines\n\nversion two"}
    work.label(store, "rec", "ann", second["item"], 2)  # seconds measured from the lease
    rows = _labels(store, campaign.id)
    assert [(r.campaign_id, r.blind, r.guideline_version, r.trace_kept) for r in rows] == [
        (campaign.id, True, 1, False), (campaign.id, True, 2, False)]
    assert rows[0].seconds == 12.5 and 0 <= rows[1].seconds < 60
    kept = work.keep_trace(store, "rec", "ann", first["item"])
    last = _labels(store, campaign.id)[-1]
    assert (last.id, last.score, last.rationale, last.trace_kept) == (kept, 6, "why", True)
    assert sft_may_use_trace(True, True) and not sft_may_use_trace(True, False)
    assert sft_may_use_trace(None, None) and sft_may_use_trace(False, None)


def test_the_default_guidelines_carry_the_instruction_and_the_score_definitions(store):
    _, run_id = make_run(store, 1)
    setup.create(store, "rubric", run_id=run_id, overlap=1)
    text = work.next_item(store, "rubric", "ann")["guidelines"]["text"]
    assert "Given a query, find it." in text
    assert "completely not related" in text and "perfectly related" in text


@pytest.mark.parametrize("kwargs, message", [
    ({"overlap": 0}, "overlap must be a positive integer"),
    ({"strategy": "coin"}, "unknown strategy"),
    ({"run_id": 999}, "no run with id 999"),
    ({"run_id": None}, "exactly one of"),
    ({"guidelines_text": "  "}, "guidelines are empty"),
])
def test_bad_settings_are_refused_in_one_line(store, kwargs, message):
    _, run_id = make_run(store, 1)
    with pytest.raises(CampaignError, match=message):
        setup.create(store, "bad", **({"run_id": run_id, "overlap": 1} | kwargs))
    assert lookup.names(store) == []


def test_bad_labels_are_refused_and_nothing_is_saved(store):
    _, run_id = make_run(store, 1)
    campaign = setup.create(store, "bad", run_id=run_id, overlap=1)
    item = work.next_item(store, "bad", "ann")["item"]
    for kwargs, message in [({"score": 11}, "integer from 0 to 10"), ({"score": None, "note": "x"}, "needs a score"),
                            ({"score": 3, "seconds": -1}, "seconds must be"), ({"score": 3, "item_id": 999}, "no item 999"),
                            ({"score": 3, "guideline_version": 5}, "guideline version")]:
        with pytest.raises(CampaignError, match=message):
            work.label(store, "bad", "ann", **({"item_id": item} | kwargs))
    with pytest.raises(CampaignError, match="no campaign named 'nope'"):
        work.next_item(store, "nope", "ann")
    assert _labels(store, campaign.id) == []


def test_the_anchoring_report_equals_a_computation_from_the_stored_rows(store):
    _, run_id = make_run(store, 8)
    setup.create(store, "b", run_id=run_id, overlap=2, blind=True)
    setup.create(store, "v", run_id=run_id, overlap=1)
    for name, person, offset in [("b", "ann", 2), ("b", "bob", 0), ("v", "cy", 1)]:
        for _ in range(6 if name == "b" else 4):  # the in-view campaign covers 4 of the items
            item = work.next_item(store, name, person)
            n = int(item["doc_id"][1:])
            work.label(store, name, person, item["item"], min(10, model_score(n) + offset + n % 3))
    result = anchoring.report(store, "b")
    with store.read() as conn:
        rows = conn.execute(select(L.c.doc_id, L.c.score, L.c.blind).where(L.c.blind.is_not(None))).all()
    model = {f"d{n}": model_score(n) for n in range(8)}
    blind = [(r.score, model[r.doc_id]) for r in rows if r.blind]
    view = [(r.score, model[r.doc_id]) for r in rows if not r.blind]
    both = {r.doc_id for r in rows if r.blind} & {r.doc_id for r in rows if not r.blind}

    def expect(pairs, items):
        stats = agreement.kappa_spearman([h for h, _ in pairs], [m for _, m in pairs])
        return {"labels": len(pairs), "items": len(items), "kappa_quadratic": stats["kappa_quadratic"],
                "spearman": stats["spearman"], "mean_abs_diff": statistics.mean(abs(h - m) for h, m in pairs)}

    assert result["all"]["blind"] == expect(blind, {r.doc_id for r in rows if r.blind})
    assert result["all"]["in_view"] == expect(view, {r.doc_id for r in rows if not r.blind})
    assert result["same_items"]["blind"] == expect([(r.score, model[r.doc_id]) for r in rows
                                                    if r.blind and r.doc_id in both], both)
    assert result["same_items"]["in_view"] == expect(view, both)
    assert result["all"]["blind"]["labels"] == 12 and result["same_items"]["in_view"]["items"] == 4
    assert "same items" in anchoring.format_report(result)


def test_a_campaign_over_a_datasets_top_k(store):
    make_run(store, 6, source_query_id="q1")
    make_run(store, 6, query="second query", source_query_id="q2")
    campaign = setup.create(store, "top", dataset="camp", top_k=2, overlap=1)
    assert campaign.n_items == 4 and campaign.origin == "dataset camp (m, top 2)"
    with store.read() as conn:
        assert conn.execute(select(I.c.doc_id).where(I.c.campaign_id == campaign.id)).scalars().all().count("d3") == 2


def test_the_sft_export_uses_a_blind_labels_trace_only_once_kept(store):
    from erank_studio.store.exports import sft_examples

    _, run_id = make_run(store, 2)
    setup.create(store, "sftb", run_id=run_id, overlap=1, blind=True)
    first = work.next_item(store, "sftb", "ann")
    work.label(store, "sftb", "ann", first["item"], 7)
    second = work.next_item(store, "sftb", "ann")
    work.label(store, "sftb", "ann", second["item"], 3)
    targets = sorted(target for _, target in sft_examples(store))
    assert targets == ["<think></think><answer>3</answer>", "<think></think><answer>7</answer>"]
    work.keep_trace(store, "sftb", "ann", first["item"])
    n = int(first["doc_id"][1:])
    targets = sorted(target for _, target in sft_examples(store))
    assert targets == ["<think></think><answer>3</answer>", f"<think>thought {n}</think><answer>7</answer>"]


def _pairs(found):
    return sorted((r["query_key"], r["doc_id"]) for r in found)


def test_a_campaign_of_a_filter_holds_exactly_what_the_search_finds(store):
    query_id, run_id = make_run(store, 12)  # model scores d0..d11: 0 7 3 10 6 2 9 5 1 8 4 0
    store.add_label(query_id, "d2", "ann", 9)
    store.add_label(query_id, "d9", "bob", 8)
    everything = RecordFilter(limit=10_000)
    for n, flt in enumerate([RecordFilter(model_min=5), RecordFilter(text="DOCUMENT 1"),
                             RecordFilter(disagreement=5), RecordFilter(labelled_by="no one", model_max=6),
                             RecordFilter(labelled_by="me", person="bob"), RecordFilter(status="labelled", limit=1)]):
        campaign = setup.create(store, f"f{n}", run_id=run_id, overlap=1, record_filter=flt)
        found = run_records(store, run_id, RecordFilter(**{**flt.__dict__, "limit": 10_000}))
        assert _pairs(campaign_records(store, f"f{n}", everything)) == _pairs(found) and found
        assert campaign.n_items == len(found) and campaign.origin == f"run {run_id} (m), filtered: {flt.describe()}"
    assert {r["doc_id"] for r in campaign_records(store, "f2", everything)} == {"d2"}  # 9 against the model's 3
    assert campaign_records(store, "f5", everything)[0]["doc_id"] in {"d2", "d9"}  # the search's limit aside
    assert lookup.get(store, "f5").n_items == 2

    make_run(store, 6, query="second query", source_query_id="q2")
    flt = RecordFilter(text="document 1", labelled_by="no one")
    campaign = setup.create(store, "ds", dataset="camp", top_k=4, overlap=2, record_filter=flt)  # q1: d3 d6 d9 d1
    found = batch_records(store, "camp", RecordFilter(**{**flt.__dict__, "limit": 10_000}), top_k=4)
    assert _pairs(campaign_records(store, "ds", everything)) == _pairs(found) == [("q1", "d1"), ("q2", "d1")]
    assert campaign.origin == "dataset camp (m, top 4), filtered: text 'document 1', labelled by no one"
    blind = setup.create(store, "bl", run_id=run_id, overlap=1, blind=True,
                         record_filter=RecordFilter(model_min=8, text="document"))
    assert blind.n_items == 3  # d3, d6, d9, its people not told that the model put them all at 8 or more
    assert blind.origin == (f"run {run_id} (m), filtered: text 'document', criteria on the model's score "
                            "(withheld: the campaign is blind)")


def test_a_filter_that_finds_nothing_makes_no_campaign(store):
    _, run_id = make_run(store, 4)
    with pytest.raises(CampaignError, match=rf"no document of run {run_id} \(m\) matches the filter "
                                            r"\(text 'zzz', model score 3..10\): no campaign was created"):
        setup.create(store, "none", run_id=run_id, overlap=1, record_filter=RecordFilter(text="zzz", model_min=3))
    with pytest.raises(CampaignError, match="status must be one of labelled, unlabelled"):
        setup.create(store, "none", run_id=run_id, overlap=1, record_filter=RecordFilter(status="done"))
    with pytest.raises(CampaignError, match="'labelled by me' needs your name"):
        setup.create(store, "none", dataset="camp", overlap=1, record_filter=RecordFilter(labelled_by="me"))
    assert lookup.names(store) == []
