"""The whole scenario in a real browser (Debian's chromium through Playwright) against the app on
loopback: run five documents with a tiny model and watch rows arrive, open a trace, label two
documents with the keyboard, reload and find the labels, download the SFT export. Documents that
hold HTML must show as text and fire nothing. Screenshots of each view go to test-artifacts/."""
from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium) - browser tests skipped",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")

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
TIMEOUT_MS = 30_000
RECORD_PROGRESS = """
() => {
  window.__erank = {progress: [], rows: []};
  const target = document.querySelector('#erank-progress');
  new MutationObserver(() => {
    window.__erank.progress.push(target.innerText);
    window.__erank.rows.push(document.querySelectorAll('#erank-results [data-col="1"][data-row]').length);
  }).observe(target, {subtree: true, childList: true, characterData: true});
}
"""


def _fill(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id}").locator("textarea, input").first
    box.fill(value)
    box.press("Tab")  # commit the value (number boxes update on change)
    page.wait_for_timeout(200)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _wait_text(page, selector: str, pattern: str, timeout: int = TIMEOUT_MS) -> None:
    try:
        page.wait_for_function(
            "([sel, pat]) => { const el = document.querySelector(sel); return el && new RegExp(pat).test(el.innerText); }",
            arg=[selector, pattern], timeout=timeout,
        )
    except sync_api.TimeoutError:
        shown = page.locator(selector).inner_text() if page.locator(selector).count() else "(missing)"
        pytest.fail(f"{selector} never matched {pattern!r}; it shows {shown!r}")


def _cell(page, row: int, col: int):
    return page.locator(f'#erank-results [data-testid="cell-{row}-{col}"]')


def _table_text(page) -> str:
    return page.locator("#erank-results").inner_text()


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

    # -- bad input gets a message, not a traceback ----------------------------------------------
    page.click("#erank-run")
    page.get_by_text("Type a query first.").first.wait_for()
    _fill(page, "erank-query", QUERY)
    _fill(page, "erank-documents", '{"id": "a", "content": "x"}\n{broken')
    page.click("#erank-run")
    page.get_by_text(re.compile(r"line 2: is not valid JSON")).first.wait_for()
    assert "Traceback" not in page.content()

    # -- run: five documents, streamed ------------------------------------------------------
    _fill(page, "erank-annotator", "alice")
    _fill(page, "erank-query", QUERY)
    _fill(page, "erank-documents", "\n".join(DOCUMENTS))
    page.get_by_text("Model and settings").click()
    _fill(page, "erank-max-new-tokens", "24")
    page.locator("#erank-force input").check()
    _wait_text(page, "#erank-model-status", "ready")
    page.evaluate(RECORD_PROGRESS)
    page.click("#erank-run")
    _wait_text(page, "#erank-progress", r"done: 5 of 5 documents")
    seen = page.evaluate("window.__erank")
    partial = [t for t in seen["progress"] if re.search(r"running: [1-4] of 5", t)]
    assert partial, f"no partial progress seen while streaming: {seen['progress']}"
    assert any(0 < n < 5 for n in seen["rows"]), f"rows did not arrive one by one: {seen['rows']}"
    assert re.search(r"\d+\.\d s", page.inner_text("#erank-progress"))  # elapsed time shown

    table = _table_text(page)
    assert SCRIPT in table and IMG in table, "HTML in documents must show as text"
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("script", has_text="alert(1)").count() == 0
    _shot(page, "1-rerank-results")

    # -- alpha and the hybrid toggle re-rank at once (no model call) ------------------------------
    by_rank = [_cell(page, r, 1).inner_text().strip() for r in range(5)]
    page.locator("#erank-sort label", has_text="hybrid").click()
    page.locator("#erank-alpha input[type=number]").fill("1")
    page.locator("#erank-alpha input[type=number]").press("Enter")
    _wait_text(page, "#erank-results", "d1")
    page.wait_for_function("document.querySelector('#erank-results [data-testid=\"cell-0-1\"]').innerText.trim() === 'd1'")
    assert page.inner_text("#erank-progress").startswith("done: 5 of 5")  # no new run
    page.locator("#erank-alpha input[type=number]").fill("0.2")
    page.locator("#erank-alpha input[type=number]").press("Enter")
    page.locator("#erank-sort label", has_text="rank_score").click()
    page.wait_for_function("document.querySelector('#erank-results [data-testid=\"cell-0-1\"]').innerText.trim() === "
                           + json.dumps(by_rank[0]))

    # -- inspect: open the first row's trace ------------------------------------------------
    first_doc = _cell(page, 0, 1).inner_text().strip()
    _cell(page, 0, 2).click()
    _wait_text(page, "#erank-detail", re.escape(f"Document {first_doc}").replace(r"\ ", r"\s+"))
    trace = page.locator("#erank-trace textarea").input_value()
    assert trace.strip(), "the trace box is empty"
    document = page.locator("#erank-document textarea").input_value()
    assert document in DOCUMENTS
    _shot(page, "2-trace")

    # -- label two documents with the keyboard ----------------------------------------------
    page.locator("#erank-detail").click()  # focus outside any text box
    page.keyboard.press("7")
    _wait_text(page, "#erank-label-status", "saved ✓ score 7")
    page.keyboard.press("j")
    _wait_text(page, "#erank-detail", r"row 2 of 5")
    second_doc = _cell(page, 1, 1).inner_text().strip()
    page.keyboard.press("3")
    _wait_text(page, "#erank-label-status", "saved ✓ score 3")
    _wait_text(page, "#erank-labelled", "labelled 2 of 5")
    _fill(page, "erank-rationale", "The document is <b>about</b> purring.")
    _fill(page, "erank-note", "edited by hand")
    page.locator("#erank-detail").click()  # leaving the box saves it
    _wait_text(page, "#erank-label-status", "saved ✓ rationale and note")
    _shot(page, "3-annotate")
    assert not dialogs, f"a dialog fired: {dialogs}"

    # -- reload: the labels are still there (UI and store file) --------------------------------
    page.reload()
    page.wait_for_selector("#erank-query textarea")
    _wait_text(page, "#erank-labelled", "labelled 2 of 5")
    table = _table_text(page)
    assert re.search(r"\b7\b", table) and re.search(r"\b3\b", table)
    store = Store(running_app.db_url)
    try:
        run = store.runs()[0]
        labels = store.current_labels(run.query_id, "alice")
    finally:
        store.close()
    assert {d: r.score for d, r in labels.items()} == {first_doc: 7, second_doc: 3}
    assert labels[second_doc].note == "edited by hand"
    assert labels[second_doc].rationale == "The document is <b>about</b> purring."

    # -- analyze, benchmark views ------------------------------------------------------------
    page.click("button[role=tab]:has-text('Analyze')")
    _wait_text(page, "#erank-analyze-summary", "2 labels by alice")
    page.wait_for_timeout(1500)  # let plotly draw
    _shot(page, "4-analyze")

    # -- export: download the SFT data --------------------------------------------------------
    page.click("button[role=tab]:has-text('Export')")
    page.click("#erank-export-build")
    _wait_text(page, "#erank-export-message", "2 rows in sft-messages")
    with page.expect_download() as download_info:
        page.click("#erank-export-download")
    path = tmp_path / "sft.jsonl"
    download_info.value.save_as(path)
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
    assert answers == {7, 3}
    assert any("<think>The document is <b>about</b> purring.</think><answer>3</answer>" == e["messages"][1]["content"]
               for e in examples), "the edited rationale is the exported reasoning"

    page.click("button[role=tab]:has-text('Benchmark')")
    page.click("#erank-bench-open")
    _wait_text(page, "#erank-bench-info", "queries")
    _shot(page, "6-benchmark")
    _fill(page, "erank-bench-topk", "4")
    page.click("#erank-bench-load")
    page.wait_for_function("document.querySelector('#erank-query textarea').value.length > 0 && "
                           "document.querySelector('#erank-query textarea').value !== " + json.dumps(QUERY))
    assert page.locator("#erank-documents textarea").input_value().startswith('{"id"')
    page.click("#erank-run")
    _wait_text(page, "#erank-progress", r"done: 4 of 4 documents")
    qrel_cells = [_cell(page, r, 10).inner_text().strip() for r in range(4)]
    assert any(c.isdigit() for c in qrel_cells), f"no qrels shown beside the scores: {qrel_cells}"
    _shot(page, "7-benchmark-run")

    # -- Cancel stops a run and keeps what is done ---------------------------------------------
    page.get_by_text("Model and settings").click()  # closed again after the reload
    _fill(page, "erank-max-new-tokens", "600")
    page.click("#erank-run")
    _wait_text(page, "#erank-progress", r"running: [1-3] of 4")
    page.click("#erank-cancel")
    _wait_text(page, "#erank-progress", r"cancelled: [1-3] of 4")
    store = Store(running_app.db_url)
    try:
        last = store.runs()[0]
        assert last.status == "cancelled" and 1 <= last.n_judgments <= 3
    finally:
        store.close()
    # -- an uploaded CSV with first-stage scores ------------------------------------------------
    csv_path = tmp_path / "docs.csv"
    csv_path.write_text("id,content,score\nu1,cats purr,2.5\nu2,<b>bold</b> dogs,1.0\n", encoding="utf-8")
    _fill(page, "erank-max-new-tokens", "8")
    page.locator("#erank-upload input[type=file]").set_input_files(str(csv_path))
    page.get_by_text("docs.csv").first.wait_for()
    page.click("#erank-run")
    _wait_text(page, "#erank-progress", r"done: 2 of 2 documents")
    table = _table_text(page)
    assert "u1" in table and "<b>bold</b> dogs" in table and "2.5" in table

    assert not dialogs, f"a dialog fired: {dialogs}"
    context.close()
    if os.environ.get("ERANK_KEEP_APP_LOG"):
        shutil.copy(running_app.log, ARTIFACTS / "app.log")
