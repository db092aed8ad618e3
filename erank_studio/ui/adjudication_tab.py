"""The Adjudicate tab: the queue of documents whose annotators' labels differ by at least K
points, and, for a person with the adjudicator role, setting the final label with a reason.
The role is checked by the store (``store.teams.adjudicate``) for the signed-in user, or the
name typed in Annotator when the app runs without sign-in."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from ..store import teams
from . import render, roles_panel
from .person import who
from .context import Context
from .rerank_tab import RerankUI

DISPUTED_COLUMNS = ["query", "doc_id", "gap", "labels", "model", "final"]
DEFAULT_GAP = 3


@dataclass
class Picked:
    """The queue as shown (to map a clicked row to its item) and the item picked."""

    keys: list[tuple[int, str]]
    selected: tuple[int, str] | None = None


def disputed_view(store, min_gap: int, include_adjudicated: bool) -> tuple[pd.DataFrame, Picked]:
    chosen = teams.disputed_items(store, int(min_gap), include_adjudicated=bool(include_adjudicated))
    rows = [{"query": it.qid, "doc_id": it.doc_id, "gap": it.gap,
             "labels": " · ".join(f"{name} {score}" for name, score in sorted(it.scores.items())),
             "model": "-" if it.model_score is None else str(it.model_score),
             "final": f"{it.adjudication.score} ({it.adjudication.adjudicator})" if it.adjudication else ""}
            for it in chosen]
    return pd.DataFrame(rows, columns=DISPUTED_COLUMNS), Picked([(it.query_id, it.doc_id) for it in chosen])


def item_markdown(store, query_id: int, doc_id: str) -> str:
    """The query, the document and every label row of it (escaped: all of it is people's or
    documents' text)."""
    docs = {d.doc_id: d for d in store.documents_for_query(query_id)}
    text = docs[doc_id].text if doc_id in docs else ""
    lines = [f"**Query** {render.md_escape(render.snippet(store.query_text(query_id), 300))}", "",
             f"**Document {render.md_escape(doc_id)}** {render.md_escape(render.snippet(text, 600))}", "",
             "**Labels** (every row, oldest first):"]
    for row in store.label_history(query_id, doc_id):
        what = "final label" if row.action == "adjudicate" else ("undo" if row.action == "undo" else "label")
        score = "none" if row.score is None else str(row.score)
        note = f" — {render.md_escape(row.note)}" if row.note else ""
        lines.append(f"- {render.md_escape(row.annotator)}: {what} {score}{note}")
    return "\n".join(lines)


def set_final(store, picked: Picked | None, adjudicator: str, score, reason: str, rationale: str) -> str:
    """Commit the final label of the picked item; raises ValueError with a one-line message."""
    if picked is None or picked.selected is None:
        raise ValueError("pick a document in the queue first")
    if score in (None, ""):
        raise ValueError("choose the final score")
    query_id, doc_id = picked.selected
    row = teams.adjudicate(store, query_id, doc_id, adjudicator, int(score), reason,
                           (rationale or "").strip() or None)
    return f"saved ✓ final label {row.score} for {render.md_escape(doc_id)} by {render.md_escape(row.annotator)}"


def build(ctx: Context, ui: RerankUI, tab: gr.Tab) -> None:
    gr.Markdown("Documents whose annotators' labels differ by at least K points. An adjudicator sets the "
                "final label with a reason; it is saved at once as its own row, and every annotator's "
                "label stays. Exports take it with `--resolve adjudicated`.")
    with gr.Row():
        gap = gr.Dropdown([str(k) for k in range(1, 11)], value=str(DEFAULT_GAP), label="K: labels apart by at least",
                          elem_id="erank-adjudicate-gap", scale=1)
        done_too = gr.Checkbox(value=False, label="include documents already adjudicated",
                               elem_id="erank-adjudicate-all", scale=1)
        load = gr.Button("Load queue", elem_id="erank-adjudicate-load", scale=0)
    role = gr.Markdown("", elem_id="erank-adjudicate-role")
    table = gr.Dataframe(value=pd.DataFrame(columns=DISPUTED_COLUMNS), interactive=False,
                         datatype=["str", "str", "number", "str", "str", "str"], elem_id="erank-adjudicate-queue")
    picked = gr.State(None)
    item = gr.Markdown("", elem_id="erank-adjudicate-item")
    with gr.Row():
        final = gr.Radio([str(k) for k in range(11)], value=None, label="Final score",
                         elem_id="erank-adjudicate-score", scale=2)
        reason = gr.Textbox(label="Reason (required)", elem_id="erank-adjudicate-reason", scale=2)
    rationale = gr.Textbox(label="Rationale for the SFT target (optional)", lines=3,
                           elem_id="erank-adjudicate-rationale")
    save = gr.Button("Set final label", variant="primary", elem_id="erank-adjudicate-save", interactive=False)
    status = gr.Markdown("", elem_id="erank-adjudicate-status")

    def role_line(name: str) -> str:
        if not name:
            return "Type your name in Annotator (Rerank tab) or sign in to adjudicate."
        if teams.has_role(ctx.store, name):
            return f"You ({render.md_escape(name)}) are an adjudicator."
        return (f"You ({render.md_escape(name)}) can read the queue; setting final labels needs the "
                "adjudicator role (`python -m erank_studio roles grant NAME`).")

    def refresh(k, include, annotator, request: gr.Request):
        try:
            frame, state = disputed_view(ctx.store, int(k), include)
            line = role_line(who(annotator, request))
        except ValueError as error:
            gr.Warning(render.html_escape(f"Could not read the queue: {error}"))
            return gr.skip()
        # Disabled with the reason on the role line, rather than refused after a click.
        return frame, state, line, "", gr.update(interactive=teams.has_role(ctx.store, who(annotator, request)))

    outputs = [table, picked, role, item, save]
    load.click(refresh, [gap, done_too, ui.annotator], outputs, api_visibility="private")
    tab.select(refresh, [gap, done_too, ui.annotator], outputs, api_visibility="private")

    def on_pick(state: Picked | None, evt: gr.SelectData):
        if state is None or evt.index is None or evt.index[0] >= len(state.keys):
            return gr.skip()
        state.selected = state.keys[evt.index[0]]
        try:
            return state, item_markdown(ctx.store, *state.selected)
        except ValueError as error:
            gr.Warning(render.html_escape(error))
            return gr.skip()

    table.select(on_pick, [picked], [picked, item], api_visibility="private")

    def on_save(state: Picked | None, score, why, edited, k, include, annotator, request: gr.Request):
        try:
            message = set_final(ctx.store, state, who(annotator, request), score, why, edited)
            frame, fresh = disputed_view(ctx.store, int(k), include)
            shown = item_markdown(ctx.store, *state.selected)  # now with the final label's row
        except ValueError as error:  # refused (role, reason, score): one toast, the boxes keep their text
            gr.Warning(render.html_escape(error))
            return gr.skip()
        return message, frame, fresh, shown, "", ""

    save.click(on_save, [picked, final, reason, rationale, gap, done_too, ui.annotator],
               [status, table, picked, item, reason, rationale], api_visibility="private")
    roles_panel.build(ctx, ui.annotator, tab)
