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


def _frame():
    docs = {d: Document(d, f"text {d}") for d in ("a", "b", "c", "x")}
    js = [_j("a", 3, 1.5, 0.1), _j("b", 9, 8.0, -0.5), _j("c", None, None, None, STATUS_FAILED, failure="no_answer"),
          _j("x", 5, 4.0, 0.9)]
    return js, docs


def test_results_frame_orders_and_marks():
    js, docs = _frame()
    frame = render.results_frame(js, docs, qrels={"b": 2}, labels={"b": 2, "a": 3}, selected="a")
    assert list(frame[render.COL_ID]) == ["b", "x", "a", "c"]  # failures last, never a silent 0
    assert list(frame[render.COL_RANK]) == [1, 2, 3, 4]
    row_b = frame.iloc[0]
    assert row_b[render.COL_QREL] == 2 and row_b[render.COL_HUMAN] == 2 and row_b[render.COL_GAP] == "≠"
    assert list(frame[render.COL_MARK]) == ["", "", "▶", ""]
    assert ">failed<" in frame.iloc[3][render.COL_STATUS] and 'title="failed: no_answer"' in frame.iloc[3][render.COL_STATUS]
    assert frame[render.COL_SCORE].isna().iloc[3]
    by_hybrid = render.results_frame(js, docs, sort_by=render.SORT_HYBRID)
    assert list(by_hybrid[render.COL_ID]) == ["x", "a", "b", "c"]


def test_headers_are_short_and_explained():
    assert all(len(c) <= 8 for c in render.COLUMNS), "a header longer than its column wraps"
    assert len(render.COLUMN_WIDTHS) == len(render.COLUMNS) == len(render.DATATYPES)
    assert all(render.COLUMN_HELP[c] for c in render.COLUMNS)


def test_selected_row_is_marked_apart_from_a_disagreement():
    js, docs = _frame()
    frame = render.results_frame(js, docs, labels={"b": 2}, selected="b")  # b: model 9, human 2
    styles = render.styled(frame)._compute().ctx
    first_row = " ".join(f"{k}: {v}" for k, v in styles[(0, 0)])
    assert "#fef3c7" in first_row and "#2563eb" in first_row  # amber background and the blue frame
    other = render.results_frame(js, docs, selected="x")
    other_row = " ".join(f"{k}: {v}" for k, v in render.styled(other)._compute().ctx[(1, 0)])
    assert "#dbeafe" in other_row and "#2563eb" in other_row


def test_numbers_show_three_decimals():
    js, docs = _frame()
    html_table = render.styled(render.results_frame(js, docs)).to_html()
    assert "8.000" in html_table and "-0.500" in html_table


def test_table_keeps_untrusted_text_as_plain_text():
    frame = render.results_frame([_j("d1", 1, 0.5)], {"d1": Document("d1", XSS)})
    assert frame.iloc[0][render.COL_DOC].startswith("<script>")  # a text cell: shown, not parsed


def test_status_tag_is_short_and_escaped():
    tag = render.status_tag(_j("d", status=STATUS_FAILED, failure='<b>"x"</b>'))
    assert ">failed<" in tag and "<b>" not in tag and "&lt;b&gt;" in tag


def test_scorecard_names_truncation_failure_and_forcing():
    doc = Document("<b>id</b>", "text", first_stage_score=1.0, first_stage_source="bm25")
    j = _j("<b>id</b>", status=STATUS_FAILED, failure="cut_at_budget", failure_detail="<i>x</i>",
           document_truncation=Truncation(5310, 2048))
    text = render.scorecard(j, doc, position=2, total=5)
    assert "Document truncated" in text and "2048 of 5310" in text
    assert "Parse failure: cut_at_budget" in text
    assert "<b>id</b>" not in text and "<i>x</i>" not in text and "&lt;i&gt;x&lt;/i&gt;" in text
    assert "1.000 (bm25)" in text and "2 / 5" in text
    forced = render.scorecard(_j("d", 4, 2.0, status=STATUS_FORCED, failure="no_answer", probability=0.5,
                                 hybrid=-0.25), doc, position=1, total=1, label=9)
    assert "Forced answer" in forced and "0.500" in forced and "2.000" in forced and "-0.250" in forced
    assert "your label <b>9</b>" in forced and "disagrees with the model" in forced
    assert "Select a row" in render.scorecard(None, None)


def test_trace_reads_as_paragraphs_escaped_with_raw_one_click_away():
    think = "First thought <b>bold</b>.\n\n\nSecond thought."
    j = _j("d", 7, 7.0, raw="\n\n  <think>" + think + "</think><answer>7</answer>", trace=think)
    out = render.trace_html(j)
    assert "<p>First thought &lt;b&gt;bold&lt;/b&gt;.</p><p>Second thought.</p>" in out
    assert "<b>bold</b>" not in out
    assert 'class="erank-answer-score">7<' in out
    assert '<details class="erank-raw">' in out  # closed: one click away
    assert "&lt;answer&gt;7&lt;/answer&gt;" in out


def test_trace_is_never_blank_and_failures_open_the_raw_output():
    assert "the model wrote nothing" in render.trace_html(_j("d", raw=""))
    assert "only whitespace: 2 characters" in render.trace_html(_j("d", raw="\n\n"))
    failed = render.trace_html(_j("d", raw=XSS, status=STATUS_FAILED, failure="no_answer"))
    assert '<details class="erank-raw" open>' in failed and "<script>" not in failed and "no answer" in failed


def test_document_html_escapes_and_keeps_paragraphs():
    out = render.document_html(Document("x<1>", XSS + "\n\nsecond", title="<i>t</i>"))
    assert "<script>" not in out and "<i>t</i>" not in out and "</p><p>second</p>" in out


def test_a_huge_document_shows_a_bounded_escaped_head_and_says_so():
    text = ("<b>cats</b> purr\n\n" * 400_000)  # 6.8 million characters
    out = render.document_html(Document("huge", text))
    assert len(out) < 3 * render.DOCUMENT_DISPLAY_CHARS  # escaping at most doubles this text
    assert f"Document truncated for display: the first {render.DOCUMENT_DISPLAY_CHARS:,} of {len(text):,} characters" in out
    assert "<b>cats</b>" not in out and "&lt;b&gt;cats&lt;/b&gt; purr" in out
    assert "truncated for display" not in render.document_html(Document("short", "cats purr"))


def test_label_summary_marks_the_current_label():
    assert "erank-current-7" in render.label_summary("labelled 1 of 4", 7)
    assert "erank-current-" not in render.label_summary("labelled <0>", None).replace("erank-current-none", "")
    assert "&lt;0&gt;" in render.label_summary("labelled <0>", None)


def test_progress_text_ticks_only_while_running():
    running = render.progress_text(3, 5, 12.34)
    assert running.startswith("running: 3 of 5 documents · ") and "erank-running" in running
    assert "12.3 s" in running
    assert "erank-running" not in render.progress_text(5, 5, 20.0, "done")


def test_documents_frame_lists_a_loaded_benchmark():
    frame = render.documents_frame([Document("a", "long " * 50, title="T", first_stage_score=1.23456)], {"a": 2})
    assert list(frame.columns) == ["id", "title", "text", "1st", "qrel"]
    row = frame.iloc[0]
    assert row["id"] == "a" and row["title"] == "T" and row["1st"] == 1.235 and row["qrel"] == 2
    assert len(row["text"]) <= 90
