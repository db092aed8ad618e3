from __future__ import annotations

from erank_studio.types import STATUS_FAILED, STATUS_FORCED, STATUS_OK, Document, Judgment, Truncation
from erank_studio.ui import render

XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"


def _j(doc_id, score=None, rank=None, hybrid=None, status=STATUS_OK, **kw):
    return Judgment(doc_id=doc_id, index=0, raw_output=kw.pop("raw", "<think>t</think><answer>1</answer>"),
                    status=status, score=score, rank_score=rank, hybrid_score=hybrid, **kw)


def test_md_escape_neutralises_html_and_markdown():
    out = render.md_escape(XSS + " [link](javascript:x) **b**")
    assert "<" not in out and ">" not in out
    assert "&lt;script&gt;" in out
    assert "\\[link\\]" in out and "\\*\\*b\\*\\*" in out


def test_results_frame_orders_and_marks():
    docs = {d: Document(d, f"text {d}") for d in ("a", "b", "c", "x")}
    js = [_j("a", 3, 1.5, 0.1), _j("b", 9, 8.0, -0.5), _j("c", None, None, None, STATUS_FAILED, failure="no_answer"),
          _j("x", 5, 4.0, 0.9)]
    frame = render.results_frame(js, docs, qrels={"b": 2}, labels={"b": 2, "a": 3}, selected="a")
    assert list(frame["doc_id"]) == ["b", "x", "a", "c"]  # failures last, never a silent 0
    assert list(frame["rank"]) == [1, 2, 3, 4]
    row_b = frame.iloc[0]
    assert row_b["qrel"] == 2 and row_b["human"] == 2 and "disagree" in row_b["flag"]
    assert frame.iloc[2]["flag"].startswith("▶")
    assert frame.iloc[3]["status"] == "failed: no_answer"
    assert frame["score"].isna().iloc[3]
    by_hybrid = render.results_frame(js, docs, sort_by=render.SORT_HYBRID)
    assert list(by_hybrid["doc_id"]) == ["x", "a", "b", "c"]


def test_table_keeps_untrusted_text_as_plain_text():
    frame = render.results_frame([_j("d1", 1, 0.5)], {"d1": Document("d1", XSS)})
    assert frame.iloc[0]["document"].startswith("<script>")  # a text cell: shown, not parsed


def test_callouts_name_truncation_failure_and_forcing():
    doc = Document("<b>id</b>", "text", first_stage_score=1.0, first_stage_source="bm25")
    j = _j("<b>id</b>", status=STATUS_FAILED, failure="cut_at_budget", failure_detail="<i>x</i>",
           document_truncation=Truncation(5310, 2048))
    text = render.callouts(j, doc)
    assert "Document truncated" in text and "2048 of 5310" in text
    assert "Parse failure" in text and "cut\\_at\\_budget" in text
    assert "<b>" not in text and "<i>" not in text
    forced = render.callouts(_j("d", 4, 2.0, status=STATUS_FORCED, failure="no_answer", probability=0.5), doc)
    assert "Forced answer" in forced
    assert render.callouts(None, None).startswith("Select a row")


def test_trace_text_is_never_blank():
    assert render.trace_text(_j("d", raw="")) == "(the model wrote nothing)"
    assert "whitespace" in render.trace_text(_j("d", raw="\n\n"))
    assert render.trace_text(_j("d", raw=XSS)) == XSS  # shown in a text box, verbatim


def test_progress_text():
    assert render.progress_text(3, 5, 12.34) == "running: 3 of 5 documents · 12.3 s"
