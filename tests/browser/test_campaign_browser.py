"""The Label tab in a real browser (Debian's chromium through Playwright) against the app on
loopback, and the campaign API through gradio_client: a blind campaign sends nothing of the
model's to the page before the label (the DOM and every network payload are read), the view fits
one screen at 1440x900 and 1024x768, keys label and skip, labels land in the store with the
campaign's fields. Waits are for states of the page only."""
from __future__ import annotations

import re

import pytest
from campaign_data import make_run
from page_waits import ARTIFACTS, TIMEOUT_MS, wait_text

sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")

SECRET = "SECRET-REASONING"  # in every trace of the campaign's run (campaign_data traces say "thought N")

# Every fetch body and server-sent message the page receives, as it arrives (a clone of each
# response is read chunk by chunk, so streams are seen without waiting for their end).
CAPTURE_JS = """
window.__erankNet = [];
const originalFetch = window.fetch;
window.fetch = async (...args) => {
  const response = await originalFetch(...args);
  try {
    const reader = response.clone().body.getReader();
    const decoder = new TextDecoder();
    (async () => { for (;;) { const {done, value} = await reader.read(); if (done) break;
                              window.__erankNet.push(decoder.decode(value, {stream: true})); } })();
  } catch (e) {}
  return response;
};
const OriginalEventSource = window.EventSource;
if (OriginalEventSource) {
  window.EventSource = function (url, options) {
    const source = new OriginalEventSource(url, options);
    source.addEventListener("message", (event) => window.__erankNet.push(event.data));
    return source;
  };
  window.EventSource.prototype = OriginalEventSource.prototype;
}
"""


def _wait_text(page, selector: str, pattern: str) -> None:
    wait_text(page, selector, pattern, "campaign-failure")


def _blind_campaign(db_url: str, name: str, n_docs: int = 4, paragraphs: int = 1) -> None:
    from sqlalchemy import update

    from erank_studio.store.campaigns import setup
    from erank_studio.store.campaigns.tables import J
    from erank_studio.store import Store

    with Store(db_url) as store:
        _, run_id = make_run(store, n_docs, query=f"tidal energy storage {name}", source_query_id=name,
                              paragraphs=paragraphs)
        with store.write() as conn:
            conn.execute(update(J).where(J.c.run_id == run_id).values(trace=f"{SECRET} of the model",
                                                                      probability=0.8123, expected_score=7.654))
        setup.create(store, name, run_id=run_id, overlap=1, blind=True)


def _open_label_tab(page, url: str, campaign: str, person: str) -> None:
    page.goto(url)
    page.click("button[role=tab]:has-text('Label')")
    page.locator("#erank-label-campaign input").first.click()
    page.locator("[role=option]", has_text=campaign).first.click()
    box = page.locator("#erank-label-person").locator("textarea, input").first
    box.fill(person)
    box.press("Tab")
    page.click("#erank-label-start")
    _wait_text(page, "#erank-label-document", r"Document\s+d\d+\s+· item \d+")


def _inside(page, selector: str, height: int) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    assert 0 <= box["y"] and box["y"] + box["height"] <= height, f"{selector} lies outside the screen: {box}"


@pytest.mark.parametrize("width, height", [(1440, 900), (1024, 768)])
def test_the_label_view_fits_one_screen(chromium, running_app, width, height):
    name = f"fit{width}"
    _blind_campaign(running_app.db_url, name, paragraphs=80)  # a document far longer than the screen
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    _open_label_tab(page, running_app.url, name, "fitter")
    assert page.evaluate("window.scrollY") == 0
    for n in range(11):
        _inside(page, f"#erank-label-score-{n}", height)
    _inside(page, "#erank-label-skip", height)
    _inside(page, "#erank-label-guidelines h2", height)
    _inside(page, "#erank-label-rationale textarea", height)
    _inside(page, "#erank-label-note textarea", height)
    first_line = page.evaluate("""() => { const el = document.getElementById('erank-label-doc-text');
        const r = el.getBoundingClientRect(); const line = parseFloat(getComputedStyle(el).lineHeight);
        return r.top + line; }""")
    assert 0 < first_line <= height
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"label-view-{width}x{height}.png"))
    context.close()


def test_a_blind_campaign_sends_nothing_of_the_model_before_the_label(chromium, running_app):
    from sqlalchemy import select

    from erank_studio.store.campaigns.tables import L
    from erank_studio.store import Store

    _blind_campaign(running_app.db_url, "blindview", n_docs=3)
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(CAPTURE_JS)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    _open_label_tab(page, running_app.url, "blindview", "bea")
    first = page.inner_text("#erank-label-document")
    net = "".join(page.evaluate("window.__erankNet"))
    assert "tidal energy storage blindview" in net, "the capture sees the page's payloads"
    for secret in (SECRET, "0.8123", "7.654", "score_distribution"):
        assert secret not in net, f"{secret!r} reached the page before the label"
        assert secret not in page.content()
    assert page.inner_text("#erank-label-model").strip() == ""

    page.locator("#erank-label-guidelines").click()  # focus outside any text box: keys are shortcuts
    page.keyboard.press("6")
    _wait_text(page, "#erank-label-saved", r"Saved: item \d+ scored 6")
    _wait_text(page, "#erank-label-model", SECRET)  # revealed once labelled
    assert page.inner_text("#erank-label-document") != first  # advanced by itself
    net = "".join(page.evaluate("window.__erankNet"))
    assert net.count(SECRET) >= 1
    page.keyboard.press("s")
    _wait_text(page, "#erank-label-saved", r"Skipped item \d+")
    page.keyboard.press("t")
    _wait_text(page, "#erank-label-saved", r"scored 10")
    _wait_text(page, "#erank-label-document", r"Nothing left for you")
    with Store(running_app.db_url, read_only=True) as store, store.read() as conn:
        rows = conn.execute(select(L.c.score, L.c.blind, L.c.guideline_version, L.c.seconds)
                            .where(L.c.campaign_id.is_not(None)).order_by(L.c.id)).all()
    assert [(r.score, r.blind, r.guideline_version) for r in rows][-2:] == [(6, True, 1), (10, True, 1)]
    assert all(r.seconds is not None and r.seconds >= 0 for r in rows[-2:])
    context.close()


def test_the_campaign_api_through_gradio_client(running_app):
    gradio_client = pytest.importorskip("gradio_client")
    _blind_campaign(running_app.db_url, "apiblind", n_docs=2)
    client = gradio_client.Client(running_app.url, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/campaign_next", "/campaign_label", "/campaign_status", "/campaign_create"} <= set(endpoints)
    item = client.predict("apiblind", "ann", api_name="/campaign_next")
    assert "model" not in item and SECRET not in str(item) and "0.8123" not in str(item)
    saved = client.predict("apiblind", "ann", item["item"], 5, "", "", 3.0, 0, api_name="/campaign_label")
    assert saved["model"]["trace"].startswith(SECRET) and saved["seconds"] == 3.0
    status = client.predict("apiblind", api_name="/campaign_status")
    assert status["people"]["ann"]["done"] == 1
    from erank_studio.store import Store

    with Store(running_app.db_url) as store:
        _, run_id = make_run(store, 4, query="api filter", source_query_id="apifilter")  # d0..d3: 0 7 3 10
    made = client.predict(name="apifilter", run_id=run_id, overlap=1, model_min=7, labelled_by="nobody",
                          api_name="/campaign_create")
    assert made["items"] == 2 and made["origin"] == f"run {run_id} (m), filtered: model score 7..10, labelled by no one"


def test_the_rerank_filter_and_the_agreement_tabs_anchoring(chromium, running_app):
    """The Rerank table filtered by the model's score and shown whole again; the Agreement tab's
    anchoring report of a blind campaign beside one that showed the model, over the same item."""
    from erank_studio.store import Store
    from erank_studio.store.campaigns import setup, work
    from erank_studio.ui.render import COL_ID, COLUMNS

    with Store(running_app.db_url) as store:
        _, run_id = make_run(store, 6, query="filter and anchoring", source_query_id="fa")  # d0..d5: 0 7 3 10 6 2
        setup.create(store, "anchorblind", run_id=run_id, overlap=1, blind=True)
        setup.create(store, "anchorshown", run_id=run_id, overlap=1)
        for name, person, score in (("anchorblind", "ann", 8), ("anchorshown", "cy", 10)):
            work.label(store, name, person, work.next_item(store, name, person)["item"], score)  # d3 both times
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(running_app.url)
    page.locator("#erank-saved-runs input").first.click()
    page.locator("[role=option]", has_text=f"#{run_id} ·").first.click()
    _wait_text(page, "#erank-progress", rf"run #{run_id} · done")
    page.locator("#erank-results-filter").get_by_text("Filter the table").click()
    page.locator("#erank-filter-min input").first.click()  # the upper bound left at "any"
    page.locator("[role=option]", has_text="7").first.click()
    page.click("#erank-filter-apply")
    _wait_text(page, "#erank-filter-line", re.escape("Filtered (model score 7..10): 2 of 6 documents shown"))
    ids = f'#erank-results [data-col="{COLUMNS.index(COL_ID)}"][data-row]'
    page.wait_for_function("s => document.querySelectorAll(s).length === 2", arg=ids)
    assert [t.strip() for t in page.locator(ids).all_inner_texts()] == ["d3", "d1"]
    page.click("#erank-filter-clear")
    page.wait_for_function("s => document.querySelectorAll(s).length === 6", arg=ids)
    assert page.inner_text("#erank-filter-line").strip() == ""

    page.click("button[role=tab]:has-text('Agreement')")
    page.locator("#erank-agreement-campaign input").first.click()
    page.locator("[role=option]", has_text="anchorblind").first.click()
    _wait_text(page, "#erank-agreement-anchoring-summary", re.escape(
        "Campaign anchorblind: 1 blind label on 1 item, 1 label with the model's answer in view on 1 item; "
        "1 item has both"))
    table = page.inner_text("#erank-agreement-anchoring")
    assert "same items" in table and "model in view" in table
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "agreement-anchoring.png"), full_page=True)
    context.close()
