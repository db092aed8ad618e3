"""The Analyze view's benchmark page in a real browser: pick a batch, read per-query nDCG@10 and the
means that ``evaluate`` prints, sort by a column, switch the mean's rule, see a batch without qrels
say so, and click a query to open its run in the Rerank view. Every wait is for a page state."""
from __future__ import annotations

import json
import os

import pytest
from batch_data import DATASET, MODEL, build_batch

from erank_studio.cli import main
from erank_studio.ui import benchmark_analyze

TIMEOUT_MS = int(os.environ.get("ERANK_BROWSER_TIMEOUT_MS", 180_000))
TABLE = "#erank-batch-queries"
SUMMARY = "#erank-batch-summary"
COLUMN = {name: i for i, name in enumerate(benchmark_analyze.QUERY_COLUMNS)}


def _evaluate(db_url: str, capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["evaluate", "--dataset", DATASET, "--model", MODEL, "--db", db_url, "--json", "-", *args]) == 0
    return json.loads(capsys.readouterr().out)


def _wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function("([sel, text]) => { const el = document.querySelector(sel);"
                           " return el && el.innerText.includes(text); }", arg=[selector, text], timeout=TIMEOUT_MS)


def _cells(page, column: str):
    """A column's cells in the order the table shows them (sorting moves rows, not their data-row)."""
    return page.locator(f'{TABLE} [data-col="{COLUMN[column]}"][data-row]')


def _column(page, column: str) -> list[str]:
    return [text.strip() for text in _cells(page, column).all_inner_texts()]


def _wait_first(page, query: str) -> None:
    page.wait_for_function(f"q => document.querySelector('{TABLE} [data-col=\"0\"][data-row]').innerText.trim() === q",
                           arg=query, timeout=TIMEOUT_MS)


def _pick(page, label: str) -> None:
    page.click("#erank-batch-choice input")
    page.locator("ul[role=listbox] li", has_text=label).first.click()


def _sort(page, column: str, how: str) -> None:
    header = page.locator(f'{TABLE} [data-testid="header-{COLUMN[column]}"]')
    header.hover()
    header.locator("button[aria-label='Open cell menu']").click()
    page.get_by_text(how, exact=True).click()


def test_benchmark_page_matches_evaluate_and_opens_runs(chromium, running_app, capsys):
    run_ids = build_batch(running_app.db_url)
    skip = _evaluate(running_app.db_url, capsys)
    zero = _evaluate(running_app.db_url, capsys, "--missing", "zero")
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(running_app.url)
    page.wait_for_selector("#erank-query textarea")
    page.click("button[role=tab]:has-text('Analyze')")
    page.click("button[role=tab]:has-text('Benchmark batch')")

    _pick(page, f"{DATASET} · {MODEL}")
    _wait_text(page, SUMMARY, "mean nDCG@10 against qrels")
    for system, name in benchmark_analyze.SYSTEM_COLUMNS.items():
        mean = skip["systems"][system]
        _wait_text(page, SUMMARY, f"{name} {mean['mean']:.4f} ({mean['n_queries']} queries)")
    assert _column(page, "query") == ["q1", "q2", "q3", "q4"]
    shown = dict(zip(_column(page, "query"), _column(page, "model")))
    per_query = skip["systems"]["model"]["per_query"]
    assert shown == {q: f"{per_query[q]:.4f}" if q in per_query else "" for q in shown}
    # A query's text is text: the stored "<b>bold</b>" shows as typed and makes no element.
    assert "<b>bold</b>" in _cells(page, "text").first.inner_text()
    assert page.locator(f"{TABLE} b").count() == 0

    # Sortable: the model's loss against the first stage, smallest first, then largest first.
    _sort(page, benchmark_analyze.COL_GAIN, "Sort descending")
    _wait_first(page, "q2")
    _sort(page, benchmark_analyze.COL_GAIN, "Sort ascending")
    _wait_first(page, "q1")

    # The other rule for the mean: every qrels query counts, 0 where the model has none.
    page.locator("#erank-batch-missing label", has_text="every qrels query").click()
    _wait_text(page, SUMMARY, f"model {zero['systems']['model']['mean']:.4f} ({zero['qrels_queries']} queries)")

    # A batch without qrels says so; its outcomes are still counted.
    _pick(page, f"plainset · {MODEL}")
    _wait_text(page, SUMMARY, "this batch has no qrels")
    _wait_text(page, "#erank-batch-failures", "no_answer")

    # Back to the batch, sorted so that q2 leads: a click on the row shown first opens q2's run.
    _pick(page, f"{DATASET} · {MODEL}")
    _wait_text(page, SUMMARY, "mean nDCG@10")
    _sort(page, benchmark_analyze.COL_GAIN, "Sort descending")
    _wait_first(page, "q2")
    _cells(page, "text").first.click()
    page.wait_for_selector("button[role=tab][aria-selected=true]:has-text('Rerank')")
    _wait_text(page, "#erank-progress", f"run #{run_ids['q2'][0]}")
    _wait_text(page, "#erank-progress", "4 documents")
    page.close()
