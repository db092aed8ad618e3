"""What a person sees follows the run and the person now shown, in a real browser (Debian's chromium
through Playwright) against the app with the gated engine (gated.py): opening run A then run B
and pressing Rerank judges B's documents with B's instruction and template, and nothing of the
benchmark list loaded before stays; one Save writes one label row and undo shows the store's
state in every box; status lines, counts and the queue follow the run and the annotator; a second
page names the run in progress and who started it; "only my labels" without a name is refused;
the API's refusals are one clear message without a server path. Waits are for states only;
screenshots of each view go to test-artifacts/."""
from __future__ import annotations

import re

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
gradio_client = pytest.importorskip("gradio_client")

from gated import fill, open_page, shot, start_gated_app, wait_text  # noqa: E402

from erank_studio.text_rules import text_doc_id  # noqa: E402
from erank_studio.ui import render  # noqa: E402

COL_HUMAN = render.COLUMNS.index(render.COL_HUMAN)
COL_DOC = render.COLUMNS.index(render.COL_DOC)

RUN_A = {"query": "why do moths fly to lights", "instruction": "Judge moth documents (instruction A).",
         "template": "paper", "documents": ["Moths steer by the moon.", "Lamps confuse moths."]}
RUN_B = {"query": "how do bees find flowers", "instruction": "Judge bee documents (instruction B).",
         "template": "erank", "documents": ["Bees see ultraviolet.", "Flowers smell sweet.", "Bees dance."]}
TEMPLATE_LABELS = {"paper": "paper, Figure 5", "erank": "ERank released code"}


@pytest.fixture(scope="module")
def gated_app(tmp_path_factory):
    yield from start_gated_app(tmp_path_factory.mktemp("open-run-app"))


@pytest.fixture(scope="module")
def browser(chromium):  # conftest's: Debian's chromium through Playwright
    return chromium


def _store(app):
    from erank_studio.store import Store

    return Store(app.db_url)


def _choose(page, elem_id: str, option: str) -> None:
    """Pick a dropdown option whose text contains ``option``."""
    page.locator(f"#{elem_id} input").first.click()
    page.locator("[role=option]", has_text=option).first.click()


def _value(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").locator("textarea, input").first.input_value()


def _open_settings(page) -> None:
    """The "Model and settings" accordion open (the template is in it)."""
    if not page.locator("#erank-template").is_visible():
        page.get_by_text("Model and settings").first.click()
        page.locator("#erank-template input").first.wait_for(state="visible")


def _run(page, app, run: dict) -> int:
    """A typed run judged to its end; its id."""
    _open_settings(page)
    fill(page, "erank-query", run["query"])
    fill(page, "erank-instruction", run["instruction"])
    _choose(page, "erank-template", TEMPLATE_LABELS[run["template"]])
    fill(page, "erank-documents", "\n".join(run["documents"]))
    wait_text(page, "#erank-model-status", "ready")
    page.click("#erank-run")
    n = len(run["documents"])
    wait_text(page, "#erank-progress", rf"running: 0 of {n}")
    app.release(n)
    wait_text(page, "#erank-progress", rf"done: {n} of {n}")
    return int(re.search(r"run #(\d+)", page.inner_text("#erank-progress")).group(1))


def _set_annotator(page, name: str) -> None:
    fill(page, "erank-annotator", name)


def _select_first_row(page) -> str:
    cell = page.locator(f'#erank-results [data-testid="cell-0-{render.COLUMNS.index(render.COL_ID)}"]')
    doc_id = cell.inner_text().strip()
    cell.click()
    wait_text(page, "#erank-detail", rf"Document\s+{re.escape(doc_id)}\b")
    return doc_id


def test_open_a_then_b_then_rerank_judges_b(browser, gated_app):
    context, page = open_page(browser, gated_app)
    run_a = _run(page, gated_app, RUN_A)
    run_b = _run(page, gated_app, RUN_B)

    # A benchmark query loaded: its list and benchmark context belong to it alone.
    page.click("button[role=tab]:has-text('Benchmark')")
    page.click("#erank-bench-open")
    wait_text(page, "#erank-bench-info", r"queries")
    page.click("#erank-bench-load")
    wait_text(page, "#erank-doc-list-info", r"documents\** from sample")
    shot(page, "open-run-0-benchmark-loaded")

    _choose(page, "erank-saved-runs", f"#{run_a} ·")
    wait_text(page, "#erank-doc-list-info", rf"2 documents\** from run #{run_a}")
    wait_text(page, "#erank-progress", rf"run #{run_a} · done")
    assert _value(page, "erank-query") == RUN_A["query"]
    assert _value(page, "erank-instruction") == RUN_A["instruction"]
    assert _value(page, "erank-template") == TEMPLATE_LABELS["paper"] + " wording"
    assert _value(page, "erank-preset") == "custom"  # no preset has this instruction
    shot(page, "open-run-1-run-a")

    _choose(page, "erank-saved-runs", f"#{run_b} ·")
    wait_text(page, "#erank-doc-list-info", rf"3 documents\** from run #{run_b}")
    assert _value(page, "erank-query") == RUN_B["query"]
    assert _value(page, "erank-instruction") == RUN_B["instruction"]
    assert _value(page, "erank-template").startswith(TEMPLATE_LABELS["erank"])
    assert "sample" not in page.inner_text("#erank-doc-list-info")
    shot(page, "open-run-2-run-b")

    page.click("#erank-run")
    wait_text(page, "#erank-progress", r"running: 0 of 3")
    gated_app.release(3)
    wait_text(page, "#erank-progress", r"done: 3 of 3")
    run_c = int(re.search(r"run #(\d+)", page.inner_text("#erank-progress")).group(1))
    shot(page, "open-run-3-rerank-after-b")
    with _store(gated_app) as store:
        info, judged_b, judged_c = store.run_info(run_c), store.run_judgments(run_b), store.run_judgments(run_c)
        assert store.query_text(info["query_id"]) == RUN_B["query"]
        assert info["query_id"] == store.run_info(run_b)["query_id"]
    assert info["instruction"] == RUN_B["instruction"] and info["template"] == "erank"
    assert sorted(j.doc_id for j in judged_c) == sorted(j.doc_id for j in judged_b)
    assert all(RUN_B["query"] in j.prompt_message and RUN_B["instruction"] in j.prompt_message for j in judged_c)

    # Compare's "Open B in Rerank" opens a run the same way
    page.click("button[role=tab]:has-text('Compare')")
    _choose(page, "erank-compare-b", f"#{run_a} ·")
    page.click("#erank-compare-open-b")
    wait_text(page, "#erank-doc-list-info", rf"2 documents\** from run #{run_a}")
    assert _value(page, "erank-instruction") == RUN_A["instruction"]
    assert page.locator("#erank-query").is_visible()  # the Rerank view is shown

    # ?run=N in the address too
    page.goto(f"{gated_app.url}?run={run_b}")
    wait_text(page, "#erank-doc-list-info", rf"3 documents\** from run #{run_b}")
    assert _value(page, "erank-instruction") == RUN_B["instruction"]
    context.close()


def _labelled(page, pattern: str) -> None:
    wait_text(page, "#erank-labelled", pattern)


def test_one_save_one_row_undo_shows_the_store_and_status_follows(browser, gated_app):
    context, page = open_page(browser, gated_app)
    run_a = _run(page, gated_app, RUN_A)
    run_b = _run(page, gated_app, RUN_B)
    _set_annotator(page, "una")
    doc_id = _select_first_row(page)
    with _store(gated_app) as store:
        query_id = store.run_info(run_b)["query_id"]

        def rows() -> int:
            return len(store.label_history(query_id, doc_id, "una"))

        page.click("#erank-score-7")
        wait_text(page, "#erank-label-status", rf"saved ✓ score 7 for {doc_id}")
        assert rows() == 1
        note = page.locator("#erank-note textarea")
        note.fill("checked against the source")
        page.click("#erank-save-text")  # the note box loses focus and the button is pressed
        wait_text(page, "#erank-label-status", rf"saved ✓ rationale and note for {doc_id}")
        _labelled(page, r"labelled 1 of 3.* current label 7")
        assert rows() == 2, [(r.score, r.note, r.action) for r in store.label_history(query_id, doc_id, "una")]
        page.click("#erank-save-text")  # nothing changed: nothing written
        wait_text(page, "#erank-label-status", rf"saved ✓ rationale and note for {doc_id}")
        assert rows() == 2
        shot(page, "open-run-4-saved-note")

        page.click("#erank-undo")
        wait_text(page, "#erank-label-status", rf"undone ✓ now 7 for {doc_id}")
        page.wait_for_function("() => document.querySelector('#erank-note textarea').value === ''")
        assert store.current_labels(query_id, "una")[doc_id].note is None  # the box shows the store
        _labelled(page, r"labelled 1 of 3.* current label 7")
        page.click("#erank-undo")
        wait_text(page, "#erank-label-status", rf"undone ✓ \(no label\) for {doc_id}")
        _labelled(page, r"labelled 0 of 3.* no label yet")
        assert doc_id not in store.current_labels(query_id, "una")
        shot(page, "open-run-5-undone")

        page.click("#erank-score-4")
        wait_text(page, "#erank-label-status", rf"saved ✓ score 4 for {doc_id}")
        # another person: their counts at once, the previous person's status line gone
        _set_annotator(page, "vic")
        _labelled(page, r"labelled 0 of 3.* no label yet")
        assert page.inner_text("#erank-label-status").strip() == ""
        _set_annotator(page, "una")
        _labelled(page, r"labelled 1 of 3.* current label 4")

        # another run opened: nothing of this one's status stays
        page.click("#erank-score-5")
        wait_text(page, "#erank-label-status", rf"saved ✓ score 5 for {doc_id}")
        _choose(page, "erank-saved-runs", f"#{run_a} ·")
        wait_text(page, "#erank-progress", rf"run #{run_a} · done")
        page.wait_for_function("() => document.querySelector('#erank-label-status').innerText.trim() === ''")
        shot(page, "open-run-6-other-run-opened")
    context.close()


def test_a_second_page_names_the_run_in_progress_and_who_started_it(browser, gated_app):
    first, page = open_page(browser, gated_app)
    _set_annotator(page, "una")
    fill(page, "erank-query", "a run seen from elsewhere")
    fill(page, "erank-documents", "one\ntwo")
    wait_text(page, "#erank-model-status", "ready")
    page.click("#erank-run")
    wait_text(page, "#erank-progress", r"running: 0 of 2")
    try:
        second, other = open_page(browser, gated_app)
        wait_text(other, "#erank-running-note", r"Run #\d+ is in progress \(0 of 2\), started by una")
        other.wait_for_function("() => !document.querySelector('#erank-cancel').disabled")
        # The page that started it shows its progress, not the note (waited for: under load the
        # note can show Gradio's own pending timer, "0.0s", for a moment while the poll is queued).
        page.wait_for_function("() => !/Run #/.test(document.querySelector('#erank-running-note').innerText)")
        shot(other, "open-run-7-second-page")
    finally:
        gated_app.release(2)  # a failure above must not leave the run holding the app for the next tests
    wait_text(page, "#erank-progress", r"done: 2 of 2")
    other.wait_for_function("() => document.querySelector('#erank-running-note').innerText.trim() === ''")
    other.wait_for_function("() => document.querySelector('#erank-cancel').disabled")
    first.close()
    second.close()


def test_only_my_labels_without_a_name_is_refused(browser, gated_app):
    context, page = open_page(browser, gated_app)
    wait_text(page, "#erank-model-status", "ready")
    page.click("button[role=tab]:has-text('Export')")
    assert page.locator("#erank-export-mine input").is_checked()
    page.click("#erank-export-build")
    wait_text(page, "#erank-export-message", r"'only my labels' needs your name")
    assert page.locator("#erank-export-download").is_disabled()
    shot(page, "open-run-8-export-refused")
    context.close()


@pytest.mark.parametrize("call", [
    {"args": ("a NUL \x00 in the query", "one document"), "api_name": "/rerank_documents",
     "says": r"query may not contain the NUL character"},
    {"args": (2**70, "d1", "una", 5), "api_name": "/label_document", "says": r"run_id must be a positive integer"},
    {"args": (), "kwargs": {"dataset": "../../etc/passwd"}, "api_name": "/label_queue",
     "says": r"holds no queries of dataset"},
])
def test_api_refusals_are_one_clear_message_without_a_server_path(gated_app, call):
    client = gradio_client.Client(gated_app.url, verbose=False)
    with pytest.raises(Exception) as caught:
        client.predict(*call["args"], **call.get("kwargs", {}), api_name=call["api_name"])
    message = str(caught.value)
    assert re.search(call["says"], message), message
    assert "upstream Gradio app" not in message
    assert gated_app.db_url.split(":///", 1)[1] not in message and "/tmp/" not in message


MOTHS = "why do moths fly to lights"


def test_a_label_stays_on_the_text_it_was_made_on(browser, gated_app):
    """Issue 19: two runs of one query with different typed documents; a label on the first run's
    first document shows on no document of the second run, and qrels hold that text alone."""
    from erank_studio.store import exports

    context, page = open_page(browser, gated_app)
    first = {"query": MOTHS, "instruction": "Judge moths.", "template": "erank",
             "documents": ["Moths navigate by keeping the moon at a fixed angle.", "Lamps are bright."]}
    second = {**first, "documents": ["Street lights attract many insects.", "Moths are nocturnal."]}
    _run(page, gated_app, first)
    _set_annotator(page, "una")
    page.locator(f'#erank-results [data-col="{COL_DOC}"][data-row]', has_text=first["documents"][0][:20]).click()
    wait_text(page, "#erank-document", re.escape(first["documents"][0][:30]))
    page.click("#erank-score-9")
    wait_text(page, "#erank-label-status", r"saved ✓ score 9")
    _labelled(page, r"labelled 1 of 2")

    _run(page, gated_app, second)
    _labelled(page, r"labelled 0 of 2")
    shot(page, "open-run-9-same-query-other-texts")
    you = [page.locator(f'#erank-results [data-testid="cell-{row}-{COL_HUMAN}"]').inner_text().strip()
           for row in range(2)]
    assert you == ["", ""], you
    with _store(gated_app) as store:
        qrels = exports.export_bytes(store, "qrels", exports.ExportFilter()).decode().splitlines()
    moth_lines = [line for line in qrels if line.split()[0] == str(_query_id(gated_app, MOTHS))]
    assert len(moth_lines) == 1, qrels
    assert moth_lines[0].split()[2] == text_doc_id(first["documents"][0])  # the labelled text's id
    context.close()


def _query_id(app, text: str) -> int:
    with _store(app) as store:
        return next(q["id"] for q in store.queries() if q["text"] == text)


def test_judge_with_erank_s_base_model_from_compare(browser, gated_app):
    """An ERank run's query and documents judged again by its base model through the Rerank
    path (a job, with progress), then offered as A (old) and B (new) in Compare."""
    from constructed_runs import DOCS, make_run

    with _store(gated_app) as store:
        _, old = make_run(store, source_query_id="base-q", model="Alibaba-NLP/ERank-4B", instruction="Judge it.")
    context, page = open_page(browser, gated_app)
    page.goto(f"{gated_app.url}?run={old}")
    wait_text(page, "#erank-progress", rf"run #{old} · done")
    page.click("button[role=tab]:has-text('Compare')")
    button = page.locator("#erank-compare-base")
    button.wait_for(state="visible")
    assert "Qwen3-4B" in button.inner_text()
    button.click()
    n = len(DOCS)
    wait_text(page, "#erank-progress", rf"running: 0 of {n}")
    _open_settings(page)
    assert "Qwen3-4B" in _value(page, "erank-model")
    gated_app.release(n)
    wait_text(page, "#erank-progress", rf"done: {n} of {n}")
    new = int(re.search(r"run #(\d+)", page.inner_text("#erank-progress")).group(1))
    shot(page, "open-run-10-base-model-judged")
    with _store(gated_app) as store:
        info_old, info_new = store.run_info(old), store.run_info(new)
        judged_new = store.run_judgments(new)
    assert info_new["query_id"] == info_old["query_id"] and info_new["instruction"] == "Judge it."
    assert sorted(j.doc_id for j in judged_new) == sorted(DOCS)
    page.click("button[role=tab]:has-text('Compare')")
    for elem_id, run in (("erank-compare-a", old), ("erank-compare-b", new)):
        page.wait_for_function("([sel, id]) => document.querySelector(sel).value.startsWith('#' + id + ' ')",
                               arg=[f"#{elem_id} input", run])
    # The new run was judged by the (gated) engine, no ERank model: no button for it.
    page.locator("#erank-compare-base").wait_for(state="hidden")
    context.close()
