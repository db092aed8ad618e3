"""The Agreement and Adjudicate tabs' logic (no browser): what they show, what they save, what
they refuse, and that people's names and documents reach the page escaped."""
from __future__ import annotations

import pytest

from erank_studio.store import teams
from erank_studio.store.campaigns import CampaignError
from erank_studio.types import Document
from erank_studio.ui import adjudication_tab, agreement_tab
from erank_studio.ui import app as ui_app
from erank_studio.ui.context import Defaults
from erank_studio.ui.engine_provider import EngineProvider

HOSTILE = "<img src=x onerror=alert(1)>**eve**"


def _labelled(store):
    q = store.upsert_query("which <b>bold</b> query?", "bench", "Q7")
    store.add_documents(q, [Document("d1", "doc <script>x</script> one"), Document("d2", "doc two")])
    store.add_label(q, "d1", "alice", 9)
    store.add_label(q, "d1", HOSTILE, 2)
    store.add_label(q, "d2", "alice", 4)
    store.add_label(q, "d2", HOSTILE, 5, note="close <i>call</i>")
    return q


def test_agreement_view_counts_and_escapes(store):
    _labelled(store)
    assert agreement_tab.source_choices(store) == [agreement_tab.ALL_SOURCES, "bench"]
    summary, frame = agreement_tab.agreement_view(store, "bench", "")
    assert summary.startswith("2 labelled documents · 2 annotators: &lt;img") and ", alice." in summary
    assert "<img" not in summary
    assert list(frame.columns) == ["comparison", "coefficient", "value", "items"]
    assert frame.iloc[0]["items"] == "2" and frame.iloc[0]["coefficient"] == "Cohen's kappa (quadratic)"
    summary, frame = agreement_tab.agreement_view(store, agreement_tab.ALL_SOURCES, "Q8, Q9")
    assert summary.startswith("0 labelled documents")
    assert agreement_tab.parse_query_ids(" Q1,Q2\nQ3 ") == ["Q1", "Q2", "Q3"]


def test_agreement_tab_reports_a_campaigns_anchoring_from_the_stored_rows(store):
    from sqlalchemy import select

    from campaign_data import make_run, model_score
    from erank_studio import agreement
    from erank_studio.store.campaigns import anchoring, setup, work
    from erank_studio.store.campaigns.tables import L

    _, run_id = make_run(store, 6)
    setup.create(store, HOSTILE, run_id=run_id, overlap=2, blind=True)
    setup.create(store, "shown", run_id=run_id, overlap=1)
    for name, person, count, offset in [(HOSTILE, "ann", 5, 1), (HOSTILE, "bob", 4, 0), ("shown", "cy", 3, 2)]:
        for _ in range(count):
            item = work.next_item(store, name, person)
            n = int(item["doc_id"][1:])
            work.label(store, name, person, item["item"], min(10, model_score(n) + offset + n % 2))
    summary, frame = agreement_tab.anchoring_view(store, HOSTILE)

    with store.read() as conn:
        stored = conn.execute(select(L.c.doc_id, L.c.score, L.c.blind).where(L.c.blind.is_not(None))).all()
    model = {f"d{n}": model_score(n) for n in range(6)}
    docs = {flag: {r.doc_id for r in stored if r.blind is flag} for flag in (True, False)}
    both = docs[True] & docs[False]

    def summary_of(flag, keep):
        pairs = [(r.score, model[r.doc_id]) for r in stored if r.blind is flag and r.doc_id in keep]
        stats = agreement.kappa_spearman([h for h, _ in pairs], [m for _, m in pairs])
        return {"labels": len(pairs), "items": len(keep), "kappa_quadratic": stats["kappa_quadratic"],
                "spearman": stats["spearman"], "mean_abs_diff": sum(abs(h - m) for h, m in pairs) / len(pairs)}

    expected = {"all": {"blind": summary_of(True, docs[True]), "in_view": summary_of(False, docs[False])},
                "same_items": {"blind": summary_of(True, both), "in_view": summary_of(False, both)}}
    assert list(frame.columns) == anchoring.HEADERS
    assert frame.values.tolist() == anchoring.rows(expected) == anchoring.rows(anchoring.report(store, HOSTILE))
    assert [row[2:4] for row in frame.values.tolist()] == [["9", "5"], ["3", "3"], ["6", "3"], ["3", "3"]]
    assert "9 blind labels on 5 items, 3 labels with the model's answer in view on 3 items; 3 items have both" in summary
    assert "<img" not in summary and "&lt;img" in summary
    assert agreement_tab.anchoring_view(store, None)[1].empty
    with pytest.raises(CampaignError, match="no campaign named 'nope'"):
        agreement_tab.anchoring_view(store, "nope")


def test_adjudicate_tab_refuses_then_saves(store):
    q = _labelled(store)
    frame, picked = adjudication_tab.disputed_view(store, 3, False)
    assert frame[["query", "doc_id", "gap"]].values.tolist() == [["Q7", "d1", 7]]
    with pytest.raises(ValueError, match="pick a document"):
        adjudication_tab.set_final(store, picked, "carol", "7", "why", "")
    picked.selected = picked.keys[0]
    markdown = adjudication_tab.item_markdown(store, *picked.selected)
    assert "<script>" not in markdown and "<img" not in markdown and "<b>" not in markdown
    with pytest.raises(teams.NotAllowed):
        adjudication_tab.set_final(store, picked, "carol", "7", "why", "")
    teams.grant_role(store, "carol")
    with pytest.raises(ValueError, match="say why"):
        adjudication_tab.set_final(store, picked, "carol", "7", "", "")
    with pytest.raises(ValueError, match="final score"):
        adjudication_tab.set_final(store, picked, "carol", None, "why", "")
    message = adjudication_tab.set_final(store, picked, "carol", "7", "half of it", "")
    assert message.startswith("saved ✓ final label 7 for d1 by carol")
    assert adjudication_tab.disputed_view(store, 3, False)[0].empty
    frame, _ = adjudication_tab.disputed_view(store, 3, True)
    assert frame.iloc[0]["final"] == "7 (carol)"
    assert "carol: final label 7" in adjudication_tab.item_markdown(store, q, "d1")


def test_the_app_has_the_team_tabs(store, fake_engine):
    provider = EngineProvider(loader=lambda *a, **k: fake_engine)
    demo = ui_app.build_app(store, provider, Defaults(model="fake"))
    config = str(demo.get_config_file())
    assert "erank-tab-agreement" in config and "erank-tab-adjudicate" in config
    assert "erank-adjudicate-reason" in config and "erank-agreement-table" in config
    assert "erank-agreement-campaign" in config and "erank-agreement-anchoring" in config


def test_the_export_tab_resolves_several_annotators(store, fake_engine):
    from erank_studio.ui.session import RunView

    q = _labelled(store)
    teams.grant_role(store, "carol")
    teams.adjudicate(store, q, "d1", "carol", 7, "middle")
    demo = ui_app.build_app(store, EngineProvider(loader=lambda *a, **k: fake_engine), Defaults(model="fake"))
    make = next(d.fn for d in demo.fns.values() if d.fn is not None and d.fn.__name__ == "make")
    message, update = make("qrels", True, False, False, "all", RunView(), "alice", "adjudicated")
    assert message.startswith("✓ 2 rows in qrels")
    with open(update["value"], encoding="utf-8") as handle:
        assert handle.read().splitlines() == ["Q7 0 d1 2", "Q7 0 d2 1"]  # d1 adjudicated 7, d2 mean 4.5 -> 5
    import gradio as gr

    # A table keeps every label: the rule is refused with a toast and the screen is kept.
    with pytest.warns(UserWarning, match="applies to sft-messages"):
        assert make("csv", True, False, False, "all", RunView(), "alice", "mean") == gr.skip()  # one toast, nothing changed
