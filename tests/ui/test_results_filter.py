"""The Rerank table's filter: the rows it keeps are those the records search (``campaign records
--run``) finds with the same filter, each at its rank in the whole list; a bad filter is one toast."""
from __future__ import annotations

import pytest

from campaign_data import make_run
from erank_studio.store.campaigns.records import RecordFilter, run_records
from erank_studio.ui import app as ui_app
from erank_studio.ui import render, results_table, session
from erank_studio.ui.context import Defaults
from erank_studio.ui.engine_provider import EngineProvider


def _handler(demo, name):
    return next(d.fn for d in demo.fns.values() if d.fn is not None and d.fn.__name__ == name)


def test_the_results_filter_keeps_what_the_records_search_finds(store, fake_engine):
    query_id, run_id = make_run(store, 8)  # model scores d0..d7: 0 7 3 10 6 2 9 5
    store.add_label(query_id, "d6", "ann", 2)
    store.add_label(query_id, "d1", "bob", 7)
    demo = ui_app.build_app(store, EngineProvider(loader=lambda *a, **k: fake_engine), Defaults(model="fake"))
    on_filter, on_clear = _handler(demo, "on_filter"), _handler(demo, "on_clear")
    view = session.open_run(store, run_id)
    whole = [str(d) for d in results_table.table_value(view, {}, render.SORT_RANK).data[render.COL_ID]]

    for args, flt in [(("", 5, None, ""), RecordFilter(model_min=5)),
                      (("DOCUMENT 7", None, None, ""), RecordFilter(text="DOCUMENT 7")),
                      (("", None, 8, "no one"), RecordFilter(model_max=8, labelled_by="no one")),
                      (("", None, None, "me"), RecordFilter(labelled_by="me", person="ann")),
                      (("", 3, 9, "anyone"), RecordFilter(model_min=3, model_max=9, labelled_by="anyone"))]:
        values = on_filter(view, "ann", render.SORT_RANK, *args)
        table, line = values[1].data, values[-1]
        expected = [r["doc_id"] for r in run_records(store, run_id, flt)]
        assert list(table[render.COL_ID]) == expected and expected
        assert list(table[render.COL_RANK]) == [whole.index(d) + 1 for d in expected]  # ranks of the whole list
        assert line == (f"Filtered ({render.md_escape(flt.describe())}): {len(expected)} of 8 documents shown, "
                        "each at its rank in the whole list.")
    values = on_clear(view, "ann", render.SORT_RANK)
    assert list(values[1].data[render.COL_ID]) == whole and values[-1] == ""
    with pytest.warns(UserWarning, match="model score from must be a whole number from 0 to 10"):
        assert on_filter(view, "ann", render.SORT_RANK, "", 11, None, "") == (ui_app.gr.skip(),) * 10
    with pytest.warns(UserWarning, match="needs your name"):
        on_filter(view, "", render.SORT_RANK, "", None, None, "me")
    assert view.row_filter is None  # the refused filters left the table whole
