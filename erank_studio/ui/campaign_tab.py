"""The Label tab: one campaign item at a time, on one screen (1024x768 and up): the query, the
document with the query's terms marked, the score buttons 0..10, rationale and note on the left;
the campaign's guidelines and the model's judgment (only where the campaign shows it, or once the
person has labelled a blind item) on the right. Labelling saves and brings the next item at once;
keys 0-9, t = 10, s = skip (assets/campaign.css, the key script below).

Everything the page receives comes from campaigns.payload: in a blind campaign no component value
sent before the label carries the model's judgment (the item waits in a gr.State, which stays on
the server)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gradio as gr

from ..store.campaigns import CampaignError, lookup, work
from . import campaign_panels, render
from . import person as acting
from .context import Context

CSS = Path(__file__).resolve().parents[2] / "assets" / "campaign.css"
SCORES = range(11)
_WORD = re.compile(r"\w{3,}", re.UNICODE)
_STOP = {"the", "and", "for", "with", "what", "how", "why", "who", "are", "was", "does", "did", "from", "that",
         "this", "which", "when", "where", "into", "about", "can", "not", "you", "your", "its"}

# Keys: installed once when the tab is first shown; each key clicks the button with that id, and
# only while it is visible (another tab's buttons keep their own keys, assets/shortcuts.js).
KEYS_JS = """() => {
  if (window.erankLabelKeys) return;
  window.erankLabelKeys = true;
  const keys = {"t": "erank-label-score-10", "s": "erank-label-skip"};
  for (let d = 0; d <= 9; d++) keys[String(d)] = "erank-label-score-" + d;
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const el = document.activeElement;
    const tag = ((el && el.tagName) || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || (el && el.isContentEditable)) return;
    const holder = keys[event.key] && document.getElementById(keys[event.key]);
    const button = holder && (holder.tagName === "BUTTON" ? holder : holder.querySelector("button"));
    if (!button || button.offsetParent === null || button.disabled) return;
    event.preventDefault();
    button.click();
  }, true);
}"""


def query_terms(query: str) -> list[str]:
    """The query's words worth marking (3+ characters, not a stop word), longest first."""
    words = {w.lower() for w in _WORD.findall(query or "")} - _STOP
    return sorted(words, key=lambda w: (-len(w), w))


def highlight(text: str, query: str, limit: int = render.DOCUMENT_DISPLAY_CHARS) -> str:
    """``text`` escaped, with the query's terms in <mark> (matched on the raw text, each piece
    escaped on its own, so no markup of the document ever reaches the page)."""
    text = text[:limit]
    terms = query_terms(query)
    if not terms:
        return render.html_escape(text)
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")", re.IGNORECASE)
    parts = pattern.split(text)
    return "".join(f"<mark>{render.html_escape(p)}</mark>" if i % 2 else render.html_escape(p)
                   for i, p in enumerate(parts))


def item_html(item: dict[str, Any] | None) -> tuple[str, str]:
    """(query line, document box) of an item payload, escaped."""
    if item is None:
        return "", '<div class="erank-label-doc erank-muted">Nothing to label: choose a campaign and press Start.</div>'
    query = (f'<div><span class="erank-label-q">Query {render.html_escape(item["query_key"])}:</span> '
             f'{render.html_escape(item["query"])}</div>')
    title = f'<div class="erank-doc-title">{render.html_escape(item["title"])}</div>' if item.get("title") else ""
    note = ""
    if len(item["document"]) > render.DOCUMENT_DISPLAY_CHARS:
        note = (f'<div class="erank-callout erank-callout-warn">The first {render.DOCUMENT_DISPLAY_CHARS:,} of '
                f'{len(item["document"]):,} characters are shown.</div>')
    document = (f'<div class="erank-pane-title">Document <code>{render.html_escape(item["doc_id"])}</code> · item '
                f'{item["item"]}</div>{note}{title}<div class="erank-label-doc" id="erank-label-doc-text">'
                f'{highlight(item["document"], item["query"])}</div>')
    return query, document


def model_html(model: dict[str, Any] | None, heading: str = "The model's judgment") -> str:
    """The model's judgment (score, P(N), E[N], rank, first-stage score, trace), escaped."""
    if model is None:
        return ""

    def num(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    trace = render.html_escape(model.get("trace") or "(no trace)")
    return (f'<div class="erank-label-model"><b>{render.html_escape(heading)}</b>: score {num(model["score"])} · '
            f'P(N) {num(model["probability"])} · E[N] {num(model["expected_score"])} · rank {num(model["rank"])} · '
            f'first stage {num(model["first_stage_score"])}<div class="erank-label-trace">{trace}</div></div>')


def _progress(store: Any, name: str, person: str) -> str:
    from ..store.campaigns import progress

    result = progress.status(store, name)
    mine = result["people"].get(person, {"done": 0})
    o = result["overall"]
    return (f"{render.md_escape(person)}: {mine['done']} labelled · campaign: {o['done']} of {o['items']} items done, "
            f"{o['leased']} in hand, {o['left']} left")


def build(ctx: Context, tab: gr.Tab) -> None:
    store = ctx.store
    css = CSS.read_text(encoding="utf-8") if CSS.exists() else ""
    # The tab's own style sheet (a <style> applies wherever it sits; its box is hidden, assets/campaign.css).
    gr.HTML(f"<style>{css}</style>", padding=False, elem_id="erank-label-style")
    current = gr.State(None)  # the item payload on screen (server side only)
    with gr.Row(equal_height=False, elem_id="erank-label-controls"):
        campaign = gr.Dropdown([], label="Campaign", elem_id="erank-label-campaign", scale=2, allow_custom_value=False)
        person = gr.Textbox(label="Your name", value=ctx.defaults.annotator, elem_id="erank-label-person", scale=2)
        with gr.Column(scale=2, min_width=200):
            start = gr.Button("Start labelling", variant="primary", size="md", elem_id="erank-label-start")
            progress_line = gr.Markdown("", elem_id="erank-label-progress")
    with gr.Row():
        with gr.Column(scale=3, min_width=520):
            query = gr.HTML("", elem_id="erank-label-query", padding=False)
            with gr.Row(elem_classes=["erank-label-scores"]):
                score_buttons = [gr.Button(str(n), size="sm", elem_id=f"erank-label-score-{n}", min_width=0)
                                 for n in SCORES]
                skip_button = gr.Button("skip (s)", size="sm", variant="secondary", elem_id="erank-label-skip",
                                        min_width=0)
            document = gr.HTML(item_html(None)[1], elem_id="erank-label-document", padding=False)
            with gr.Row(elem_id="erank-label-notes"):
                rationale = gr.Textbox(label="Rationale", show_label=False, placeholder="Rationale (optional)", lines=1,
                                       max_lines=3, elem_id="erank-label-rationale")
                note = gr.Textbox(label="Note", show_label=False, placeholder="Note (optional)", lines=1, max_lines=3,
                                  elem_id="erank-label-note")
            saved = gr.HTML("", elem_id="erank-label-saved", padding=False)
        with gr.Column(scale=2, min_width=300):
            guidelines = gr.Markdown("", elem_id="erank-label-guidelines")
            model = gr.HTML("", elem_id="erank-label-model", padding=False)
            last = gr.State(None)  # (campaign, item) of the blind label just saved: its trace may be kept
            keep = gr.Button("Keep the model's reasoning as my rationale", size="sm", visible=False,
                             elem_id="erank-label-keep")

    def show(name: str, who: str, item: dict | None, message: str = "") -> tuple:
        q, d = item_html(item)
        text = item["guidelines"]["text"] if item else ""
        if item is None and name and who:
            d = '<div class="erank-label-doc erank-muted">Nothing left for you in this campaign. Thank you!</div>'
        shown = model_html(item.get("model")) if item else ""
        return (item, q, d, text, shown, message, _progress(store, name, who) if name and who else "", "", "")

    outputs = [current, query, document, guidelines, model, saved, progress_line, rationale, note]

    def ask(name, annotator, request: gr.Request):
        who = acting.who(annotator, request)
        if not name or not who:
            gr.Warning("Choose a campaign and type your name first.")
            return (gr.skip(),) * len(outputs)
        try:
            return show(name, who, work.next_item(store, name, who))
        except (CampaignError, ValueError) as error:
            gr.Warning(render.html_escape(error))
            return (gr.skip(),) * len(outputs)

    def choose(score: int):
        def label(name, annotator, item, why, text, request: gr.Request):
            who = acting.who(annotator, request)
            if not item:
                gr.Warning("Press Start to get an item first.")
                return (gr.skip(),) * (len(outputs) + 2)
            try:
                result = work.label(store, name, who, item["item"], score, why or None, text or None)
                after = work.next_item(store, name, who)
            except (CampaignError, ValueError) as error:
                gr.Warning(render.html_escape(error))
                return (gr.skip(),) * (len(outputs) + 2)
            message = f'<div class="erank-callout">Saved: item {item["item"]} scored {score}.</div>'
            values = show(name, who, after, message)
            revealed = model_html(result["model"], f"Item {item['item']}: the model said") if item["blind"] else ""
            shown = values[4] or revealed
            blind_kept = (name, item["item"]) if item["blind"] and result["model"] else None
            return (*values[:4], shown, *values[5:], blind_kept, gr.update(visible=blind_kept is not None))
        return label

    for n, button in zip(SCORES, score_buttons):
        button.click(choose(n), [campaign, person, current, rationale, note], [*outputs, last, keep],
                     api_visibility="private")

    def skip(name, annotator, item, request: gr.Request):
        who = acting.who(annotator, request)
        if not item:
            return (gr.skip(),) * len(outputs)
        try:
            work.skip(store, name, who, item["item"])
            return show(name, who, work.next_item(store, name, who), f'<div class="erank-callout">Skipped item {item["item"]}.</div>')
        except (CampaignError, ValueError) as error:
            gr.Warning(render.html_escape(error))
            return (gr.skip(),) * len(outputs)

    def keep_trace(annotator, kept, request: gr.Request):
        if not kept:
            return gr.update(visible=False), gr.skip()
        try:
            work.keep_trace(store, kept[0], acting.who(annotator, request), kept[1])
        except (CampaignError, ValueError) as error:
            gr.Warning(render.html_escape(error))
            return gr.skip(), gr.skip()
        return gr.update(visible=False), f'<div class="erank-callout">Item {kept[1]}: the model\'s reasoning is kept.</div>'

    def opened(name):
        names = lookup.names(store)
        return gr.update(choices=names, value=name if name in names else (names[0] if names else None))

    campaign_panels.build(ctx, campaign, person, tab)
    start.click(ask, [campaign, person], outputs, api_visibility="private")
    skip_button.click(skip, [campaign, person, current], outputs, api_visibility="private")
    keep.click(keep_trace, [person, last], [keep, saved], api_visibility="private")
    tab.select(opened, [campaign], [campaign], api_visibility="private")
    tab.select(None, None, None, js=KEYS_JS)  # a separate event: js beside a fn would replace its inputs
