"""The whole scenario in a real browser (Debian's chromium through Playwright) against the app on
loopback: run five documents with a tiny model and watch rows arrive, read a trace, label documents
with the keyboard, reload and find the labels, download the SFT export, load a benchmark query as a
document list, cancel a run. Documents and annotator names that hold HTML must show as text and
fire nothing; an input error is one message that changes nothing else; no server path shows.
Every wait is for a state of the page, never for work to end within a fixed time. Screenshots of
each view go to test-artifacts/."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from erank_studio.text_rules import text_doc_id
from erank_studio.ui import render

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium) - browser tests skipped",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")

from gated import wait_text  # noqa: E402

QUERY = "How do cats purr?"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
DOCUMENTS = [
    "Cats purr by vibrating the muscles of the larynx.",
    SCRIPT,
    "Dogs bark when strangers come near.",
    IMG,
    "Purring happens while breathing in and out.",
]
HOSTILE_NAME = "<img src=x onerror=window.__pwned=1>eve**bold**"
# Generous: a state that never comes fails the test, but a slow (loaded) machine only waits longer.
TIMEOUT_MS = int(os.environ.get("ERANK_BROWSER_TIMEOUT_MS", 180_000))
# Lines an element's text takes (distinct line boxes) and whether its text is cut (ellipsis).
LAYOUT = """
(selector) => Array.from(document.querySelectorAll(selector)).map(el => {
  const tops = new Set();
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    if (!walker.currentNode.data.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(walker.currentNode);
    Array.from(range.getClientRects()).filter(r => r.width > 0).forEach(r => tops.add(Math.round(r.top)));
  }
  return {text: el.innerText.trim(), lines: tops.size, cut: el.scrollWidth > el.clientWidth + 1};
})
"""
# Column positions from the app's own header list, so a new column cannot shift a check silently.
_COL = {name: i for i, name in enumerate(render.COLUMNS)}
COL_MARK, COL_RANK, COL_ID, COL_DOC = (_COL[c] for c in (render.COL_MARK, render.COL_RANK, render.COL_ID, render.COL_DOC))
COL_SCORE, COL_QREL, COL_HUMAN, COL_GAP = (_COL[c] for c in (render.COL_SCORE, render.COL_QREL, render.COL_HUMAN, render.COL_GAP))
NUMBER_COLS = [_COL[c] for c in (render.COL_RANK, render.COL_SCORE, render.COL_P, render.COL_RANK_SCORE, render.COL_EXPECTED,
                                 render.COL_FIRST, render.COL_HYBRID, render.COL_TOKENS, render.COL_QREL, render.COL_HUMAN)]


def _fill(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id}").locator("textarea, input").first
    box.fill(value)
    box.press("Tab")  # commit the value (number boxes update on change)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _wait_text(page, selector: str, pattern: str, timeout: int = TIMEOUT_MS) -> None:
    wait_text(page, selector, pattern, timeout)


def _cell(page, row: int, col: int):
    return page.locator(f'#erank-results [data-testid="cell-{row}-{col}"]')


def _table_text(page) -> str:
    return page.locator("#erank-results").inner_text()


def _row_count(page) -> int:
    return page.locator(f'#erank-results [data-col="{COL_ID}"][data-row]').count()


def _toasts(page) -> list[str]:
    return [t.strip() for t in page.locator('[data-testid="toast-body"]').all_inner_texts()]


def _close_toasts(page) -> None:
    for close in page.locator('[data-testid="toast-close"]').all():
        close.click()
    page.wait_for_function("document.querySelectorAll('[data-testid=\"toast-body\"]').length === 0")


def _error_badges(page) -> int:
    # Gradio marks each output of a failed event with an "Error" status over the component.
    return page.locator(".error, [data-testid='status-tracker'] .error").count()


def _select_row(page, row: int) -> str:
    doc_id = _cell(page, row, COL_ID).inner_text().strip()
    _cell(page, row, COL_DOC).click()
    _wait_text(page, "#erank-detail", rf"Document\s+{re.escape(doc_id)}\b")
    return doc_id


def _panel(page) -> dict[str, str]:
    return {name: page.locator(sel).inner_text() for name, sel in
            {"table": "#erank-results", "detail": "#erank-detail", "document": "#erank-document",
             "trace": "#erank-trace"}.items()}


def _assert_no_server_path(page, where: str, *paths: str) -> None:
    shown = page.evaluate("""() => [document.body.innerText,
        ...Array.from(document.querySelectorAll('input, textarea')).map(e => e.value)].join('\\n')""")
    for needle in ("site-packages", "/tmp/", "pytest-of-", *paths):
        assert needle not in shown, f"a server path ({needle}) shows on the page ({where})"


def _assert_lines(page, width: int) -> None:
    """Headers and numbers of the results table each on one line, none cut, at this width."""
    page.set_viewport_size({"width": width, "height": 1200})
    page.wait_for_function("w => document.querySelector('#erank-results').getBoundingClientRect().right <= w", arg=width)
    page.wait_for_function("() => { const h = document.querySelector('#erank-results [data-testid=\"header-3\"]');"
                           " return h && h.getBoundingClientRect().width > 40; }")
    headers = page.evaluate(LAYOUT, "#erank-results .header-cell .header")
    assert len(headers) == len(render.COLUMNS), headers
    bad = [h for h in headers if h["text"] and (h["lines"] != 1 or h["cut"])]
    assert not bad, f"headers wrap or are cut at {width} px: {bad}"
    cells = []
    for col in NUMBER_COLS:
        cells += page.evaluate(LAYOUT, f'#erank-results [data-col="{col}"][data-row]')
    assert cells, "no number cells found"
    bad = [c for c in cells if c["text"] and (c["lines"] != 1 or c["cut"])]
    assert not bad, f"numbers wrap or are cut at {width} px: {bad}"
    tags = page.evaluate(LAYOUT, "#erank-results .erank-tag")
    assert tags and all(t["lines"] == 1 for t in tags), tags


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def test_rerank_inspect_label_reload_export(browser, running_app, tmp_path):
    from erank_studio.store import Store

    context = browser.new_context(viewport={"width": 1440, "height": 1400}, accept_downloads=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(running_app.url)
    page.wait_for_selector("#erank-query textarea")
    assert page.locator("#erank-cancel").is_disabled(), "Cancel must be disabled while nothing runs"

    # -- bad input gets one message, not a traceback ----------------------------------------------
    page.click("#erank-run")
    page.get_by_text("Type a query first.").first.wait_for()
    assert len(_toasts(page)) == 1 and _error_badges(page) == 0
    _close_toasts(page)
    _fill(page, "erank-query", QUERY)
    _fill(page, "erank-documents", '{"id": "a", "content": "x"}\n{broken')
    page.click("#erank-run")
    page.get_by_text(re.compile(r"line 2: is not valid JSON")).first.wait_for()
    assert "Traceback" not in page.content() and _error_badges(page) == 0
    _close_toasts(page)

    # -- run: five documents, streamed ------------------------------------------------------
    _fill(page, "erank-annotator", "alice")
    _fill(page, "erank-query", QUERY)
    _fill(page, "erank-documents", "\n".join(DOCUMENTS))
    page.get_by_text("Model and settings").click()
    assert page.locator("#erank-max-new-tokens input").input_value() == "8"  # ERANK_MAX_NEW_TOKENS
    _fill(page, "erank-max-new-tokens", "24")
    page.locator("#erank-force input").check()
    _wait_text(page, "#erank-model-status", "ready")
    page.click("#erank-run")
    _wait_text(page, "#erank-progress", r"done: 5 of 5 documents")
    page.wait_for_function("document.querySelector('#erank-cancel').disabled")
    # Rows arriving one by one mid-run are checked with a gated engine in test_jobs_browser.py: a
    # real model can finish five documents between two of the page's paced table updates.
    assert re.search(r"\d+\.\d s", page.inner_text("#erank-progress"))  # elapsed time shown

    table = _table_text(page)
    assert SCRIPT in table and IMG in table, "HTML in documents must show as text"
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("script", has_text="alert(1)").count() == 0
    # one status line, one warning at most, the model by its folder's name
    status = page.inner_text("#erank-model-status")
    assert Path(running_app.model_dir).name in status
    _assert_no_server_path(page, "rerank", running_app.model_dir)
    _shot(page, "1-rerank-results")

    # -- alpha and the hybrid toggle re-rank at once (no model call) ------------------------------
    by_rank = [_cell(page, r, COL_ID).inner_text().strip() for r in range(5)]
    first_id = text_doc_id(DOCUMENTS[0])  # typed documents carry the ids of their texts
    page.locator("#erank-sort label", has_text="hybrid").click()
    page.locator("#erank-alpha input[type=number]").fill("1")
    page.locator("#erank-alpha input[type=number]").press("Enter")
    page.wait_for_function(f"document.querySelector('#erank-results [data-testid=\"cell-0-{COL_ID}\"]').innerText.trim() === '{first_id}'")
    assert page.inner_text("#erank-progress").startswith("done: 5 of 5")  # no new run
    page.locator("#erank-alpha input[type=number]").fill("0.2")
    page.locator("#erank-alpha input[type=number]").press("Enter")
    page.locator("#erank-sort label", has_text="rank_score").click()
    page.wait_for_function(f"document.querySelector('#erank-results [data-testid=\"cell-0-{COL_ID}\"]').innerText.trim() === "
                           + json.dumps(by_rank[0]))

    # -- inspect: the document beside its reasoning, scores apart, raw output one click away --------
    first_doc = _select_row(page, 0)
    detail = page.inner_text("#erank-detail")
    for name in ("ANSWER", "P(N)", "RANK SCORE", "FIRST STAGE", "HYBRID", "RANK"):
        assert name in detail.upper(), f"{name} missing from the score card: {detail!r}"
    assert page.locator("#erank-document .erank-doc-text").inner_text().strip() in DOCUMENTS
    assert page.locator("#erank-trace .erank-think").inner_text().strip(), "the reasoning pane is empty"
    doc_box = page.locator("#erank-document").bounding_box()
    trace_box = page.locator("#erank-trace").bounding_box()
    assert doc_box["x"] + doc_box["width"] <= trace_box["x"] + 1 and abs(doc_box["y"] - trace_box["y"]) < 80, \
        "the document and its trace are not side by side at 1440 px"
    if not page.evaluate("document.querySelector('#erank-trace .erank-raw').open"):  # open on failures
        page.locator("#erank-trace .erank-raw summary").click()  # one click away otherwise
    page.wait_for_function("document.querySelector('#erank-trace .erank-raw').open")
    # search inside the trace: every match highlighted, counted
    shown = page.evaluate("() => Array.from(document.querySelectorAll('#erank-trace .erank-think, #erank-trace .erank-raw pre'))"
                          ".map(e => e.textContent).join(' ')")
    word = next(w for w in re.findall(r"[A-Za-z]{3,}", shown))
    expected = shown.lower().count(word.lower())
    _fill(page, "erank-trace-search", word)
    page.wait_for_function("n => document.querySelector('#erank-trace').dataset.matches === String(n)", arg=expected)
    assert page.evaluate("() => CSS.highlights.get('erank-search').size") == expected
    assert re.search(rf"{expected} match", page.inner_text("#erank-trace .erank-search-count"))
    _shot(page, "2-trace")

    # -- label with the keyboard: the current label marked on its button and in the row -----------
    page.locator("#erank-detail").click()  # focus outside any text box
    page.keyboard.press("7")
    _wait_text(page, "#erank-label-status", "saved ✓ score 7")
    page.wait_for_function("() => getComputedStyle(document.querySelector('#erank-score-7')).backgroundColor === 'rgb(37, 99, 235)'")
    others = page.evaluate("() => [0,1,2,3,4,5,6,8,9,10].map(k => getComputedStyle(document.querySelector('#erank-score-' + k)).backgroundColor)")
    assert "rgb(37, 99, 235)" not in others, "only the current label is marked"
    assert _cell(page, 0, COL_HUMAN).inner_text().strip() == "7", "the label shows in the row"
    page.keyboard.press("j")
    _wait_text(page, "#erank-detail", r"row 2 of 5")
    second_doc = _cell(page, 1, COL_ID).inner_text().strip()
    model_score = int(_cell(page, 1, COL_SCORE).inner_text().strip())
    far = 0 if model_score >= 5 else 10  # a label the model disagrees with
    page.keyboard.press("t" if far == 10 else "0")
    _wait_text(page, "#erank-label-status", f"saved ✓ score {far}")
    _wait_text(page, "#erank-labelled", "labelled 2 of 5")
    # the selected row stays identifiable on a disagreement row: its marker and its blue frame
    page.wait_for_function(f"document.querySelector('#erank-results [data-testid=\"cell-1-{COL_GAP}\"]').innerText.trim() === '≠'")
    assert _cell(page, 1, COL_MARK).inner_text().strip() == "▶"
    assert all(_cell(page, r, COL_MARK).inner_text().strip() == "" for r in (0, 2, 3, 4))
    style = _cell(page, 1, COL_DOC).get_attribute("style")
    assert "rgb(37, 99, 235)" in style and "rgb(254, 243, 199)" in style, style  # blue frame over amber
    assert "rgb(37, 99, 235)" not in (_cell(page, 0, COL_DOC).get_attribute("style") or "")
    _fill(page, "erank-rationale", "The document is <b>about</b> purring.")
    _fill(page, "erank-note", "edited by hand")
    page.locator("#erank-detail").click()  # leaving the box saves it
    _wait_text(page, "#erank-label-status", "saved ✓ rationale and note")
    _shot(page, "3-annotate")

    # -- headers and numbers never wrap, at desktop and at 1024 px ---------------------------------
    _assert_lines(page, 1440)
    _assert_lines(page, 1024)
    _shot(page, "3b-rerank-1024")
    page.set_viewport_size({"width": 1440, "height": 1400})

    # -- an input error after a finished run: one message, nothing on screen changes ---------------
    before = _panel(page)
    _fill(page, "erank-query", "")
    page.click("#erank-run")
    page.get_by_text("Type a query first.").first.wait_for()
    page.wait_for_function("document.querySelector('#erank-cancel').disabled")
    assert _toasts(page) == [t for t in _toasts(page) if "Type a query first." in t] and len(_toasts(page)) == 1
    assert _error_badges(page) == 0
    assert _panel(page) == before, "an input error changed the table, document or trace"
    _shot(page, "3c-input-error")
    _close_toasts(page)
    assert not dialogs, f"a dialog fired: {dialogs}"

    # -- reload: the labels are still there (UI and store file) --------------------------------
    page.reload()
    page.wait_for_selector("#erank-query textarea")
    _wait_text(page, "#erank-labelled", "labelled 2 of 5")
    table = _table_text(page)
    assert re.search(r"\b7\b", table) and re.search(rf"\b{far}\b", table)
    store = Store(running_app.db_url)
    try:
        run = store.runs()[0]
        labels = store.current_labels(run.query_id, "alice")
    finally:
        store.close()
    assert {d: r.score for d, r in labels.items()} == {first_doc: 7, second_doc: far}
    assert labels[second_doc].note == "edited by hand"
    assert labels[second_doc].rationale == "The document is <b>about</b> purring."

    # -- analyze view ----------------------------------------------------------------------------
    page.click("button[role=tab]:has-text('Analyze')")
    _wait_text(page, "#erank-analyze-summary", "2 labels by alice")
    page.wait_for_selector("#erank-analyze-run .js-plotly-plot")
    _shot(page, "4-analyze")

    # -- export: download the SFT data --------------------------------------------------------
    page.click("button[role=tab]:has-text('Export')")
    page.click("#erank-export-build")
    _wait_text(page, "#erank-export-message", "2 rows in sft-messages")
    with page.expect_download() as download_info:
        page.click("#erank-export-download")
    path = tmp_path / "sft.jsonl"
    download_info.value.save_as(path)
    _assert_no_server_path(page, "export", running_app.model_dir)
    _shot(page, "5-export")
    examples = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(examples) == 2
    answers = set()
    for example in examples:
        user, assistant = example["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert user["content"].startswith("Given a query and a document, please give a relevance score of 0~10.\n")
        assert f"Here is the query:\n{QUERY}\n" in user["content"]
        match = re.fullmatch(r"<think>(.*)</think><answer>(\d+)</answer>", assistant["content"], re.DOTALL)
        assert match, assistant["content"]
        answers.add(int(match.group(2)))
    assert answers == {7, far}
    assert any(f"<think>The document is <b>about</b> purring.</think><answer>{far}</answer>" == e["messages"][1]["content"]
               for e in examples), "the edited rationale is the exported reasoning"

    # -- benchmark: a query's candidates arrive as a document list that the run uses -----------------
    page.click("button[role=tab]:has-text('Benchmark')")
    page.click("#erank-bench-open")
    _wait_text(page, "#erank-bench-info", "queries")
    _shot(page, "6-benchmark")
    _fill(page, "erank-bench-topk", "4")
    page.click("#erank-bench-load")
    page.wait_for_selector("#erank-doc-list-table", state="visible")
    _wait_text(page, "#erank-doc-list-info", "The run uses these 4 documents")
    listed = [page.locator(f'#erank-doc-list-table [data-testid="cell-{r}-0"]').inner_text().strip() for r in range(4)]
    assert all(listed), listed
    assert "{" not in page.locator("#erank-documents textarea").input_value(), "JSON was dumped into the box"
    _assert_no_server_path(page, "benchmark list", running_app.model_dir)
    page.click("#erank-run")
    _wait_text(page, "#erank-progress", r"done: 4 of 4 documents")
    judged = sorted(_cell(page, r, COL_ID).inner_text().strip() for r in range(4))
    assert judged == sorted(listed), "the run judged other documents than the list shows"
    qrel_cells = [_cell(page, r, COL_QREL).inner_text().strip() for r in range(4)]
    assert any(c.isdigit() for c in qrel_cells), f"no qrels shown beside the scores: {qrel_cells}"
    _shot(page, "7-benchmark-run")

    # Cancel (enabled only while running, keeps what is done) is tested with a gated engine in
    # test_jobs_browser.py: a random model may finish any run before a click lands.

    # -- a file the server cannot read: one message; the list and the results stay ----------------
    before = _panel(page)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "content": "x"}\n{broken\n', encoding="utf-8")
    page.locator("#erank-upload input[type=file]").set_input_files(str(bad))
    page.get_by_text(re.compile(r"line 2")).first.wait_for()
    assert _error_badges(page) == 0 and _panel(page) == before
    _wait_text(page, "#erank-doc-list-info", "The run uses these 4 documents")
    _close_toasts(page)
    page.locator('#erank-upload button[aria-label="Clear"]').click()
    page.wait_for_selector("#erank-doc-list-table", state="hidden")

    # -- an uploaded CSV with first-stage scores becomes the list ---------------------------------
    csv_path = tmp_path / "docs.csv"
    csv_path.write_text("id,content,score\nu1,cats purr,2.5\nu2,<b>bold</b> dogs,1.0\n", encoding="utf-8")
    page.locator("#erank-upload input[type=file]").set_input_files(str(csv_path))
    _wait_text(page, "#erank-doc-list-info", "The run uses these 2 documents from docs.csv")
    page.click("#erank-run")
    _wait_text(page, "#erank-progress", r"done: 2 of 2 documents")
    table = _table_text(page)
    assert "u1" in table and "<b>bold</b> dogs" in table and "2.500" in table
    _assert_no_server_path(page, "after upload", running_app.model_dir)

    assert not dialogs, f"a dialog fired: {dialogs}"
    context.close()
    if os.environ.get("ERANK_KEEP_APP_LOG"):
        shutil.copy(running_app.log, ARTIFACTS / "app.log")


def _open_app(browser, running_app):
    """(context, page, dialogs fired) on the app's page once its query box is there."""
    context = browser.new_context(viewport={"width": 1440, "height": 1200})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(running_app.url)
    page.wait_for_selector("#erank-query textarea")
    return context, page, dialogs


def _inert(page, where: str) -> None:
    """The hostile name (and documents) shown as text: no image, no script run, no Markdown."""
    assert page.locator('img[src="x"]').count() == 0, f"a name became an image in {where}"
    assert page.evaluate("() => window.__pwned === undefined"), f"a name ran script in {where}"
    assert page.locator("strong", has_text="bold").count() == 0, f"a name became Markdown in {where}"


def test_hostile_annotator_name_is_text_in_every_tab(browser, running_app):
    context, page, dialogs = _open_app(browser, running_app)
    _fill(page, "erank-annotator", HOSTILE_NAME)
    _fill(page, "erank-query", "hostile names")
    _fill(page, "erank-documents", "one\ntwo")
    _wait_text(page, "#erank-model-status", "ready")
    page.click("#erank-run")
    _wait_text(page, "#erank-progress", r"done: 2 of 2 documents")
    _select_row(page, 0)
    page.locator("#erank-detail").click()
    page.keyboard.press("4")
    _wait_text(page, "#erank-label-status", "saved ✓ score 4")

    _inert(page, "Rerank")
    assert page.locator("#erank-annotator").locator("textarea, input").first.input_value() == HOSTILE_NAME
    for tab in ("Benchmark", "Analyze", "Export"):
        page.click(f"button[role=tab]:has-text('{tab}')")
        if tab == "Analyze":
            _wait_text(page, "#erank-analyze-summary", re.escape("1 labels by " + HOSTILE_NAME))
        if tab == "Export":
            page.click("#erank-export-build")
            _wait_text(page, "#erank-export-message", "rows? in")
        _inert(page, tab)
        _shot(page, f"8-hostile-name-{tab.lower()}")
    page.click("button[role=tab]:has-text('Rerank')")
    page.reload()
    _wait_text(page, "#erank-labelled", "labelled 1 of 2")
    _inert(page, "Rerank after reload")
    assert not dialogs, f"a dialog fired: {dialogs}"
    context.close()


def test_agreement_and_adjudication_in_the_browser(browser, running_app):
    """Labels by two people (one with a hostile name) on a query: the Agreement tab counts them,
    the Adjudicate tab queues the document they disagree on, refuses a non-adjudicator with one
    toast that keeps the reason typed, and saves an adjudicator's final label as its own row."""
    from erank_studio.store import Store, teams
    from erank_studio.types import Document

    with Store(running_app.db_url) as store:
        q = store.upsert_query("team query <b>bold</b>", "team-src", "T1")
        store.add_documents(q, [Document("t1", f"first {SCRIPT}"), Document("t2", "second")])
        for doc, hostile, alice in (("t1", 9, 2), ("t2", 5, 4)):
            store.add_label(q, doc, HOSTILE_NAME, hostile)
            store.add_label(q, doc, "alice", alice)
        teams.grant_role(store, "carol")
    context, page, dialogs = _open_app(browser, running_app)

    page.click("button[role=tab]:has-text('Agreement')")
    _fill(page, "erank-agreement-qids", "T1")
    page.click("#erank-agreement-compute")
    _wait_text(page, "#erank-agreement-summary", re.escape("2 labelled documents · 2 annotators: " + HOSTILE_NAME))
    assert "Krippendorff's alpha (ordinal)" in page.locator("#erank-agreement-table").inner_text()
    _inert(page, "Agreement")
    _shot(page, "9-agreement")

    # Typed once the page has answered a request: the page's load handler restores the name this
    # browser saved (none) and would otherwise overwrite a name typed before it ran.
    page.click("button[role=tab]:has-text('Rerank')")
    _fill(page, "erank-annotator", HOSTILE_NAME)
    page.click("button[role=tab]:has-text('Adjudicate')")
    _wait_text(page, "#erank-adjudicate-role", re.escape(f"You ({HOSTILE_NAME}) can read the queue"))
    _wait_text(page, "#erank-adjudicate-queue", r"\bt1\b")
    page.locator('#erank-adjudicate-queue [data-testid="cell-0-1"]').click()
    _wait_text(page, "#erank-adjudicate-item", re.escape(f"Document t1 first {SCRIPT}"))
    page.locator("#erank-adjudicate-score").get_by_label("7", exact=True).check()
    _fill(page, "erank-adjudicate-reason", "half of it answers")
    # Disabled with the reason on the role line (issue 21), not refused after a click.
    assert page.locator("#erank-adjudicate-save").is_disabled()
    reason = page.locator("#erank-adjudicate-reason").locator("textarea, input").first
    assert reason.input_value() == "half of it answers"
    _inert(page, "Adjudicate")

    page.click("button[role=tab]:has-text('Rerank')")
    _fill(page, "erank-annotator", "carol")
    page.click("button[role=tab]:has-text('Adjudicate')")
    _wait_text(page, "#erank-adjudicate-role", re.escape("You (carol) are an adjudicator."))
    page.locator('#erank-adjudicate-queue [data-testid="cell-0-1"]').click()
    _wait_text(page, "#erank-adjudicate-item", re.escape("Document t1"))
    page.locator("#erank-adjudicate-score").get_by_label("7", exact=True).check()
    _fill(page, "erank-adjudicate-reason", "half of it answers")
    page.click("#erank-adjudicate-save")
    _wait_text(page, "#erank-adjudicate-status", re.escape("saved ✓ final label 7 for t1 by carol"))
    _wait_text(page, "#erank-adjudicate-item", re.escape("carol: final label 7 — half of it answers"))
    _shot(page, "9-adjudicated")
    with Store(running_app.db_url, read_only=True) as store:
        history = store.label_history(q, "t1")
        assert [(r.annotator, r.score, r.action) for r in history] == [
            (HOSTILE_NAME, 9, "set"), ("alice", 2, "set"), ("carol", 7, "adjudicate")]
        assert history[-1].note == "half of it answers"
    assert not dialogs, f"a dialog fired: {dialogs}"
    context.close()
