"""The Label tab's pure parts: query terms marked in an escaped document, the model's judgment
escaped, and what an item shows."""
from __future__ import annotations

from erank_studio.ui.campaign_tab import highlight, item_html, model_html, query_terms


def test_query_terms_are_marked_in_the_escaped_document():
    assert query_terms("How does tidal energy work?") == ["energy", "tidal", "work"]
    assert highlight("Tidal <b>energy</b> & more", "tidal energy") == (
        "<mark>Tidal</mark> &lt;b&gt;<mark>energy</mark>&lt;/b&gt; &amp; more")
    assert highlight("<script>x</script>", "script") == "&lt;<mark>script</mark>&gt;x&lt;/<mark>script</mark>&gt;"
    assert highlight("a <i>b</i>", "") == "a &lt;i&gt;b&lt;/i&gt;"


def test_an_item_and_the_model_render_escaped():
    item = {"item": 3, "query_key": "q<1>", "query": "cats <img src=x>", "doc_id": "d<1>", "title": "<b>t</b>",
            "document": "cats purr"}
    query, document = item_html(item)
    assert "&lt;img src=x&gt;" in query and "<img" not in query
    assert "d&lt;1&gt;" in document and "&lt;b&gt;t&lt;/b&gt;" in document and "<mark>cats</mark> purr" in document
    shown = model_html({"score": 7, "probability": 0.5, "expected_score": None, "rank": 2, "first_stage_score": 1.0,
                        "trace": "<script>alert(1)</script>"})
    assert "score 7" in shown and "E[N] -" in shown and "&lt;script&gt;" in shown and "<script>" not in shown
    assert model_html(None) == ""
