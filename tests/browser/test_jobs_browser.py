"""Runs that outlive the tab, in a real browser (Debian's chromium through Playwright) against the
app on loopback: a reload mid-run re-attaches and the run finishes; a Cancel from a second browser
context cancels a run started in the first (and one started through the API); an API run with an
out-of-range max_new_tokens is refused and stores nothing.

The app runs with a gated engine: each document waits until the test drops a file in a folder,
so "mid-run" is a state the test creates, never a race against the machine's speed (rows arriving
one by one are checked here for that reason)."""
from __future__ import annotations

import os
import re
import time

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium) - browser tests skipped",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
gradio_client = pytest.importorskip("gradio_client")

from gated import TIMEOUT_MS, start_gated_app  # noqa: E402
from gated import fill as _fill  # noqa: E402
from gated import open_page as _page  # noqa: E402
from gated import rows as _rows  # noqa: E402
from gated import shot as _shot  # noqa: E402
from gated import wait_text as _wait_text  # noqa: E402

N_DOCS = 6


@pytest.fixture(scope="module")
def gated_app(tmp_path_factory):
    yield from start_gated_app(tmp_path_factory.mktemp("gated-app"))


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _start_run(page, query: str) -> None:
    _fill(page, "erank-query", query)
    _fill(page, "erank-documents", "\n".join(f"document {i} for {query}" for i in range(N_DOCS)))
    _wait_text(page, "#erank-model-status", "ready")
    page.click("#erank-run")


def _start_with_one_done(page, gated_app, query: str) -> None:
    """A run of N_DOCS started in ``page`` with its first document judged, the rest waiting."""
    _start_run(page, query)
    gated_app.release(1)
    _wait_text(page, "#erank-progress", rf"running: 1 of {N_DOCS}")


def _assert_cancelled_with_one_judged(gated_app) -> None:
    latest = gated_app.runs()[0]
    assert latest.status == "cancelled" and latest.n_judgments == 1


def test_the_page_shows_tokens_so_far_for_a_document_being_written(browser, gated_app):
    context, page = _page(browser, gated_app)
    _start_run(page, "which document is written")
    # No document finished, yet the run is seen to move: the gated engine has written 7 tokens of
    # the document it waits on (the gated app's budget is 8 new tokens).
    _wait_text(page, "#erank-progress",
               rf"running: 0 of {N_DOCS}[\s\S]*writing 1 document: 7 tokens so far \(longest 7 of 8\)")
    _shot(page, "jobs-writing-progress")
    gated_app.release(N_DOCS)
    _wait_text(page, "#erank-progress", rf"done: {N_DOCS} of {N_DOCS}")
    assert "writing" not in page.locator("#erank-progress").inner_text()
    context.close()


def test_a_reload_mid_run_reattaches_and_the_run_finishes(browser, gated_app):
    context, page = _page(browser, gated_app)
    _start_run(page, "reload mid-run")
    gated_app.release(2)
    _wait_text(page, "#erank-progress", rf"running: 2 of {N_DOCS}")
    page.reload()
    page.wait_for_selector("#erank-query textarea")
    # the new page follows the same run: what is done, then the rest as it comes
    _wait_text(page, "#erank-progress", rf"running: 2 of {N_DOCS} documents .* run #\d+")
    _wait_rows(page, 2)
    _shot(page, "jobs-1-reattached")
    gated_app.release(N_DOCS - 2)
    _wait_text(page, "#erank-progress", rf"done: {N_DOCS} of {N_DOCS}")
    assert _rows(page) == N_DOCS
    assert gated_app.runs()[0].status == "done" and gated_app.runs()[0].n_judgments == N_DOCS
    assert "Traceback" not in page.content()
    context.close()


def _wait_rows(page, n: int) -> None:
    page.wait_for_function("n => document.querySelectorAll('#erank-results [data-col=\"1\"][data-row]').length == n",
                           arg=n)


def test_rows_arrive_one_by_one_in_the_page_that_started_the_run(browser, gated_app):
    """Each judgment reaches the table while the run goes on (one released document at a time),
    also one that came too soon after the last update to be sent with it."""
    context, page = _page(browser, gated_app)
    _start_run(page, "rows one by one")
    for done in range(1, N_DOCS):
        gated_app.release(1)
        _wait_text(page, "#erank-progress", rf"running: {done} of {N_DOCS}")
        _wait_rows(page, done)
    gated_app.release(1)
    _wait_text(page, "#erank-progress", rf"done: {N_DOCS} of {N_DOCS}")
    _wait_rows(page, N_DOCS)
    assert "Traceback" not in page.content()
    context.close()


def test_cancel_in_the_page_that_started_the_run_keeps_what_is_done(browser, gated_app):
    context, page = _page(browser, gated_app)
    _start_with_one_done(page, gated_app, "cancel here")
    assert page.locator("#erank-cancel").is_enabled()
    # the elapsed time ticks while the run waits on a document
    first = page.locator("#erank-progress .erank-elapsed").inner_text()
    page.wait_for_function("t => { const e = document.querySelector('#erank-progress .erank-elapsed');"
                           " return e && e.innerText !== t; }", arg=first)
    page.click("#erank-cancel")
    _wait_text(page, "#erank-progress", rf"cancelled: 1 of {N_DOCS}")
    page.wait_for_function("document.querySelector('#erank-cancel').disabled")
    assert _rows(page) == 1
    _assert_cancelled_with_one_judged(gated_app)
    context.close()


def test_a_cancel_from_another_browser_cancels_the_run(browser, gated_app):
    first, page = _page(browser, gated_app)
    _start_with_one_done(page, gated_app, "cancel from elsewhere")
    second, other = _page(browser, gated_app)
    other.click("#erank-cancel")
    other.get_by_text(re.compile(r"Cancelling run #\d+ \(started elsewhere\)")).first.wait_for()
    _wait_text(page, "#erank-progress", rf"cancelled: 1 of {N_DOCS}")
    _shot(page, "jobs-2-cancelled-from-elsewhere")
    _assert_cancelled_with_one_judged(gated_app)
    first.close()
    second.close()


def test_a_browser_cancels_a_run_started_through_the_api(browser, gated_app):
    client = gradio_client.Client(gated_app.url, verbose=False)
    job = client.submit("api run to cancel", "\n".join(f"api document {i}" for i in range(N_DOCS)),
                        api_name="/rerank_documents")
    gated_app.release(1)
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not any(m.get("n_judged", 0) >= 1 for m in job.outputs()):  # a state: one judgment streamed
        assert time.monotonic() < deadline, f"the API run never streamed a judgment: {job.outputs()}"
        time.sleep(0.1)
    context, page = _page(browser, gated_app)
    page.click("#erank-cancel")
    page.get_by_text(re.compile(r"Cancelling run #\d+ \(started elsewhere\)")).first.wait_for()
    result = job.result(timeout=TIMEOUT_MS / 1000)
    assert result["status"] == "cancelled" and result["n_judged"] == 1
    assert [item["doc_id"] for item in result["judgments"]] == [m["doc_id"] for o in job.outputs() for m in o["new"]]
    context.close()


def test_an_api_run_with_an_out_of_range_max_new_tokens_is_refused(gated_app):
    before = len(gated_app.runs())
    client = gradio_client.Client(gated_app.url, verbose=False)
    with pytest.raises(Exception, match=r"max_new_tokens must be a whole number from 1 to \d+"):
        client.predict("too long", "one document", max_new_tokens=100_000_000, api_name="/rerank_documents")
    with pytest.raises(Exception, match=r"alpha must be a number from 0 to 1"):
        client.predict("bad alpha", "one document", alpha=5, api_name="/rerank_documents")
    assert len(gated_app.runs()) == before  # nothing stored
