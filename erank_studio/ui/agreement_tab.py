"""The Agreement tab: how far the annotators agree with each other and with the model, over the
queries chosen (all, one benchmark source, or a list of query ids). The numbers are
``erank_studio.agreement.report`` over ``store.teams.items``, as ``python -m erank_studio
agreement`` prints them. Below, anchoring: a campaign's agreement with the model of blind labels
and of labels made with the model's answer in view, with counts (``store.campaigns.anchoring.report``,
as ``agreement --campaign NAME`` and the Label tab's progress panel show it)."""
from __future__ import annotations

import re

import gradio as gr
import pandas as pd

from .. import agreement
from ..store import teams
from ..store.campaigns import CampaignError, anchoring, lookup
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


def anchoring_table(result: dict) -> pd.DataFrame:
    """The anchoring report as the app's table (anchoring.HEADERS)."""
    return pd.DataFrame(anchoring.rows(result), columns=anchoring.HEADERS)


def anchoring_view(store, campaign: str | None) -> tuple[str, pd.DataFrame]:
    """(summary line as Markdown, the anchoring table) of a campaign."""
    if not campaign:
        return ("Choose a campaign: its blind labels and labels made with the model's answer in view "
                "(another campaign over the same items) are compared with the model.",
                pd.DataFrame(columns=anchoring.HEADERS))
    result = anchoring.report(store, campaign)
    every, same = result["all"], result["same_items"]
    blind, in_view, both = every["blind"], every["in_view"], same["blind"]["items"]
    summary = (f"Campaign {render.md_escape(result['campaign'])}: "
               f"{render.counted(blind['labels'], 'blind label')} on {render.counted(blind['items'], 'item')}, "
               f"{render.counted(in_view['labels'], 'label')} with the model's answer in view on "
               f"{render.counted(in_view['items'], 'item')}; {render.counted(both, 'item')} "
               f"{'has' if both == 1 else 'have'} both (**same items**, the fair comparison). "
               "'-' where a value is undefined.")
    return summary, anchoring_table(result)


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

    gr.Markdown("### Anchoring: how much seeing the model's answer moves people")
    with gr.Row():
        campaign = gr.Dropdown([], value=None, label="Campaign", allow_custom_value=False,
                               elem_id="erank-agreement-campaign", scale=2)
        anchor = gr.Button("Show anchoring", elem_id="erank-agreement-anchor", scale=0, min_width=160)
    anchoring_summary = gr.Markdown("", elem_id="erank-agreement-anchoring-summary")
    anchoring_frame = gr.Dataframe(value=pd.DataFrame(columns=anchoring.HEADERS), interactive=False,
                                   elem_id="erank-agreement-anchoring")

    def show_anchoring(name):
        try:
            return anchoring_view(ctx.store, name)
        except (CampaignError, ValueError) as error:
            gr.Warning(render.html_escape(f"Could not compute anchoring: {error}"))
            return gr.skip(), gr.skip()

    def campaigns(name):
        try:
            names = lookup.names(ctx.store)
        except ValueError as error:
            gr.Warning(render.html_escape(f"Could not read the store: {error}"))
            return gr.skip()
        return gr.update(choices=names, value=name if name in names else (names[0] if names else None))

    compute.click(show, [source, query_ids], [summary, table], api_visibility="private")
    tab.select(opened, [source, query_ids], [source, summary, table], api_visibility="private")
    anchor.click(show_anchoring, [campaign], [anchoring_summary, anchoring_frame], api_visibility="private")
    campaign.change(show_anchoring, [campaign], [anchoring_summary, anchoring_frame], api_visibility="private")
    tab.select(campaigns, [campaign], [campaign], api_visibility="private")
