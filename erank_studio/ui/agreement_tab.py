"""The Agreement tab: how far the annotators agree with each other and with the model, over the
queries chosen (all, one benchmark source, or a list of query ids). The numbers are
``erank_studio.agreement.report`` over ``store.teams.items``, as ``python -m erank_studio
agreement`` prints them."""
from __future__ import annotations

import re

import gradio as gr
import pandas as pd

from .. import agreement
from ..store import teams
from . import render
from .context import Context

ALL_SOURCES = "all queries"


def source_choices(store) -> list[str]:
    """"all queries", then every benchmark source the store holds."""
    return [ALL_SOURCES, *sorted({q["source"] for q in store.queries() if q["source"]})]


def parse_query_ids(text: str | None) -> list[str] | None:
    """Query ids typed one per line or separated by spaces or commas (None: no restriction)."""
    ids = [q for q in re.split(r"[\s,]+", text or "") if q]
    return ids or None


def agreement_view(store, source: str | None, query_ids: str | None) -> tuple[str, pd.DataFrame]:
    """(summary line as Markdown, the coefficient table) for the chosen queries."""
    chosen = teams.items(store, source=None if source in (None, "", ALL_SOURCES) else source,
                         qids=parse_query_ids(query_ids))
    result = agreement.report(*teams.ratings(chosen))
    names = ", ".join(render.md_escape(n) for n in result["annotators"]) or "nobody"
    count = len(result["annotators"])
    summary = (f"{result['items']} labelled documents · {count} annotator{'' if count == 1 else 's'}: {names}. "
               "Pairs are compared over the documents both labelled, Krippendorff's alpha over those two or "
               "more labelled; **items** is how many each value rests on, '-' where it is undefined.")
    return summary, pd.DataFrame(agreement.table_rows(result), columns=agreement.TABLE_HEADERS)


def build(ctx: Context, tab: gr.Tab) -> None:
    with gr.Row():
        source = gr.Dropdown([ALL_SOURCES], value=ALL_SOURCES, label="Queries from", allow_custom_value=False,
                             elem_id="erank-agreement-source", scale=1)
        query_ids = gr.Textbox(label="Only these query ids (optional; spaces or commas)",
                               elem_id="erank-agreement-qids", scale=2)
        compute = gr.Button("Compute agreement", variant="primary", elem_id="erank-agreement-compute", scale=0)
    summary = gr.Markdown("", elem_id="erank-agreement-summary")
    table = gr.Dataframe(value=pd.DataFrame(columns=agreement.TABLE_HEADERS), interactive=False,
                         datatype=["str", "str", "str", "number"], elem_id="erank-agreement-table")

    def show(chosen_source, ids):
        try:
            text, frame = agreement_view(ctx.store, chosen_source, ids)
        except ValueError as error:
            gr.Warning(render.html_escape(f"Could not compute agreement: {error}"))
            return gr.skip()
        return text, frame

    def opened(chosen_source, ids):
        try:
            choices = source_choices(ctx.store)
        except ValueError as error:
            gr.Warning(render.html_escape(f"Could not read the store: {error}"))
            return gr.skip()
        chosen_source = chosen_source if chosen_source in choices else ALL_SOURCES
        return (gr.update(choices=choices, value=chosen_source), *show(chosen_source, ids))

    compute.click(show, [source, query_ids], [summary, table], api_visibility="private")
    tab.select(opened, [source, query_ids], [source, summary, table], api_visibility="private")
