"""Label next and Compare in a real browser (Debian's chromium through Playwright) against the app
on loopback: open a constructed run, walk its entropy queue with the keyboard (a score key labels
and moves on, `s` skips), find each label in the store; compare it with a second run of the same
query and see both traces with their differences marked; rerun the open run's documents in one
click and find the new run offered for comparison. Waits are for states of the page only."""
from __future__ import annotations

import re

import pytest
from constructed_runs import DOCS, make_run
from page_waits import TIMEOUT_MS, wait_text

sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")

ANNOTATOR = "quinn"
THOUGHT_A = "the document <b>names</b> the cause directly"
THOUGHT_B = "the document hints at the cause"


def _wait_text(page, selector: str, pattern: str) -> None:
    wait_text(page, selector, pattern, "queue-compare-failure")


def _choose(page, elem_id: str, option: str) -> None:
    """Pick a dropdown option whose text contains ``option``."""
    page.locator(f"#{elem_id} input").first.click()
    page.locator("[role=option]", has_text=option).first.click()


def _key(page, key: str) -> None:
    page.locator("#erank-detail").click()  # focus outside any text box: keys are shortcuts
    page.keyboard.press(key)


def test_walk_the_queue_by_keyboard_then_compare_two_runs(chromium, running_app):
    from erank_studio import queue
    from erank_studio.store import Store

    with Store(running_app.db_url) as store:
        query_id, run_a = make_run(store, source_query_id="qc", thought=THOUGHT_A)
        _, run_b = make_run(store, source_query_id="qc", instruction="another instruction", thought=THOUGHT_B)
        order = [i.doc_id for i in queue.run_queue(store, run_a, "entropy", ANNOTATOR).items]
    n = len(order)

    context = chromium.new_context(viewport={"width": 1440, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(running_app.url)
    # The run list is filled by the page's load event, which also restores the annotator's name:
    # the name is typed after it, or the restore would blank it.
    _choose(page, "erank-saved-runs", f"#{run_a} ·")
    _wait_text(page, "#erank-progress", rf"run #{run_a} ")
    box = page.locator("#erank-annotator").locator("textarea, input").first
    box.fill(ANNOTATOR)
    box.press("Tab")

    # -- Label next: the entropy order, walked with the keyboard ---------------------------------
    _choose(page, "erank-queue-strategy", "highest uncertainty")
    _wait_text(page, "#erank-queue-status", rf"1 of {n} in queue · {n} left")
    _wait_text(page, "#erank-detail", rf"Document\s+{order[0]}\b")
    _key(page, "6")  # labels the current document and opens the next
    _wait_text(page, "#erank-queue-status", rf"2 of {n} in queue · {n - 1} left")
    _wait_text(page, "#erank-detail", rf"Document\s+{order[1]}\b")
    _key(page, "s")  # skip: no label, the next one
    _wait_text(page, "#erank-queue-status", rf"3 of {n} in queue · {n - 1} left")
    _wait_text(page, "#erank-detail", rf"Document\s+{order[2]}\b")
    _key(page, "t")  # 10
    _wait_text(page, "#erank-queue-status", rf"4 of {n} in queue · {n - 2} left")
    _wait_text(page, "#erank-detail", rf"Document\s+{order[3]}\b")
    with Store(running_app.db_url, read_only=True) as store:
        labels = {d: row.score for d, row in store.current_labels(query_id, ANNOTATOR).items()}
    assert labels == {order[0]: 6, order[2]: 10}, labels

    # -- Compare: both runs side by side, both traces with the changed words marked ----------------
    page.click("button[role=tab]:has-text('Compare')")
    _choose(page, "erank-compare-a", f"#{run_a} ·")
    _choose(page, "erank-compare-b", f"#{run_b} ·")
    page.click("#erank-compare-go")
    _wait_text(page, "#erank-compare-summary", r"Kendall tau")
    _wait_text(page, "#erank-compare-summary", r"differ in: instruction")
    _wait_text(page, "#erank-compare-trace-a", r"names")
    _wait_text(page, "#erank-compare-trace-b", r"hints at")
    assert page.locator("#erank-compare-trace-a del.erank-diff-del").count() > 0
    assert page.locator("#erank-compare-trace-b ins.erank-diff-ins").count() > 0
    assert "<b>names</b>" in page.inner_text("#erank-compare-trace-a"), "a trace's HTML must show as text"
    assert page.locator("#erank-compare-trace-a .erank-think b").count() == 0
    assert page.locator('#erank-compare-table [data-testid="cell-0-0"]').inner_text().strip() in order

    # -- Rerun the open run's documents in one click; Compare then offers old and new -------------
    page.click("button[role=tab]:has-text('Rerank')")
    # Opening run A restored its budget (4096 new tokens, the constructed run's): the tiny model
    # reruns with 8, as the app was started with.
    page.get_by_text("Model and settings").first.click()
    box = page.locator("#erank-max-new-tokens input").first
    box.fill("8")
    box.press("Tab")
    page.click("#erank-rerun")
    _wait_text(page, "#erank-doc-list-info", rf"{len(DOCS)} documents\*?\*? from run #{run_a}")
    _wait_text(page, "#erank-progress", rf"done: {len(DOCS)} of {len(DOCS)} documents")
    new_run = int(re.search(r"run #(\d+)", page.inner_text("#erank-progress")).group(1))
    assert new_run > run_b
    page.click("button[role=tab]:has-text('Compare')")
    for elem_id, run in (("erank-compare-a", run_a), ("erank-compare-b", new_run)):
        page.wait_for_function("([sel, id]) => document.querySelector(sel).value.startsWith('#' + id + ' ')",
                               arg=[f"#{elem_id} input", run])
    context.close()
