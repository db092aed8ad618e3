"""The Label tab's panels below the labelling view: the campaign's progress and anchoring report,
search and filter over its items (or a run's documents), and creating campaigns and editing their
guidelines (admins only: the controls are disabled with the reason for everyone else)."""
from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from .. import queue
from ..store.campaigns import CampaignError, anchoring, lookup, progress, records, setup
from . import render
from .agreement_tab import anchoring_table
from . import person as acting
from .record_filter import record_filter, score_box
from .context import Context
from .roles_panel import admin_line, who_may_admin


def progress_view(store: Any, name: str | None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """(summary Markdown, people table, anchoring table) of the campaign."""
    if not name:
        return "Choose a campaign.", pd.DataFrame(columns=progress.PEOPLE_HEADERS), pd.DataFrame(columns=anchoring.HEADERS)
    status = progress.status(store, name)
    report = anchoring.report(store, name)
    summary = "\n\n".join(render.md_escape(line) for line in progress.summary_lines(status))
    return (summary, pd.DataFrame(progress.people_rows(status), columns=progress.PEOPLE_HEADERS),
            anchoring_table(report))


def find_view(store: Any, name: str | None, run_id: Any, person: str, text: str, model_min: Any, model_max: Any,
              disagreement: Any, status: str, labelled_by: str) -> tuple[pd.DataFrame, str]:
    """(the records found, a line saying how many and where)."""
    flt = record_filter(text, model_min, model_max, disagreement, status, labelled_by, person)
    if run_id not in (None, "", 0):
        found, where = records.run_records(store, int(run_id), flt), f"run #{int(run_id)}"
    elif name:
        found, where = records.campaign_records(store, name, flt), f"campaign {name}"
    else:
        raise CampaignError("choose a campaign, or give a run id")
    line = f"{len(found)} found in {render.md_escape(where)}" + (" (the first shown)" if len(found) >= flt.limit else "")
    return pd.DataFrame(records.table_rows(found), columns=records.HEADERS), line


def create_campaign(store: Any, person: str, name: str, run_id: Any, dataset: str | None, top_k: Any, overlap: Any,
                    blind: bool, strategy: str, lease_minutes: Any, guidelines_text: str | None, from_search: bool,
                    search_run: Any, *filters: Any) -> lookup.Campaign:
    """The form's campaign; ``from_search``: only the documents the Find filters (``filters``: text,
    model score from/to, disagreement, status, labelled by) match, over the form's run or dataset
    (the run searched when the form names neither)."""
    run = int(run_id) if run_id else None
    dataset = (dataset or "").strip() or None
    flt = None
    if from_search:
        flt = record_filter(*filters, person)
        if not flt.active:
            raise CampaignError("the search has no filter set: fill in the Find boxes, or untick 'only what the "
                                "search finds'")
        if run is None and dataset is None and search_run:
            run = int(search_run)
    return setup.create(store, name, run_id=run, dataset=dataset, top_k=int(top_k) if top_k else None,
                        overlap=int(overlap or 0), blind=bool(blind), guidelines_text=guidelines_text
                        if (guidelines_text or "").strip() else None, strategy=strategy,
                        lease_s=max(1, round(float(lease_minutes or 0) * 60)), record_filter=flt)


def build(ctx: Context, campaign: gr.Dropdown, person: gr.Textbox, tab: gr.Tab) -> None:
    store = ctx.store
    with gr.Accordion("Progress and anchoring", open=False, elem_id="erank-campaign-progress"):
        refresh = gr.Button("Refresh", size="sm", elem_id="erank-campaign-refresh")
        summary = gr.Markdown("", elem_id="erank-campaign-summary")
        people = gr.Dataframe(pd.DataFrame(columns=progress.PEOPLE_HEADERS), interactive=False,
                              elem_id="erank-campaign-people")
        gr.Markdown("Agreement with the model: labels made blind against labels made with the model's answer in "
                    "view (another campaign over the same items); **same items** is the fair comparison.")
        anchored = gr.Dataframe(pd.DataFrame(columns=anchoring.HEADERS), interactive=False,
                                elem_id="erank-campaign-anchoring")

    def show_progress(name):
        try:
            return progress_view(store, name)
        except (CampaignError, ValueError) as error:
            gr.Warning(render.html_escape(error))
            return gr.skip(), gr.skip(), gr.skip()

    refresh.click(show_progress, [campaign], [summary, people, anchored], api_visibility="private")

    with gr.Accordion("Find items", open=False, elem_id="erank-campaign-find"):
        with gr.Row():
            text = gr.Textbox(label="Text (query, document or id)", elem_id="erank-find-text", scale=3)
            run_id = gr.Number(label="…or a run id", precision=0, value=None, elem_id="erank-find-run", scale=1)
            model_min = score_box("Model score ≥", "erank-find-min")
            model_max = score_box("Model score ≤", "erank-find-max")
            gap = score_box("|human − model| ≥", "erank-find-gap")
        with gr.Row():
            status = gr.Dropdown(["", "done", "leased", "left", "labelled", "unlabelled"], value="", label="Status",
                                 elem_id="erank-find-status")
            labelled_by = gr.Dropdown(list(records.LABELLED_BY), value="", label="Labelled by",
                                      elem_id="erank-find-labelled-by")
            search = gr.Button("Search", elem_id="erank-find-go")
        found_line = gr.Markdown("", elem_id="erank-find-line")
        found = gr.Dataframe(pd.DataFrame(columns=records.HEADERS), interactive=False, elem_id="erank-find-table")

    def run_search(name, rid, who, *filters, request: gr.Request = None):
        try:
            return find_view(store, name, rid, acting.who(who, request), *filters)
        except (CampaignError, ValueError, TypeError) as error:
            gr.Warning(render.html_escape(error))
            return gr.skip(), gr.skip()

    search.click(run_search, [campaign, run_id, person, text, model_min, model_max, gap, status, labelled_by],
                 [found, found_line], api_visibility="private")

    with gr.Accordion("New campaign and guidelines (admins)", open=False, elem_id="erank-campaign-manage"):
        manage_why = gr.Markdown("", elem_id="erank-campaign-manage-why")
        with gr.Row():
            new_name = gr.Textbox(label="Name", elem_id="erank-new-name", scale=2)
            new_run = gr.Number(label="From run id", precision=0, value=None, elem_id="erank-new-run", scale=1)
            new_dataset = gr.Textbox(label="…or dataset", elem_id="erank-new-dataset", scale=1)
            new_top = gr.Number(label="Top k per query", precision=0, value=None, scale=1)
        with gr.Row():
            new_overlap = gr.Number(label="Labels per item (k)", precision=0, value=2, minimum=1, scale=1)
            new_blind = gr.Checkbox(label="Blind (the model's answer withheld until the label)", value=True, scale=2)
            new_strategy = gr.Dropdown(list(queue.STRATEGIES), value=setup.DEFAULT_STRATEGY, label="Order", scale=1)
            new_lease = gr.Number(label="Lease (minutes)", value=10, minimum=1, scale=1)
        new_from_search = gr.Checkbox(label="Only what the search finds: the documents of this run or dataset (or of "
                                      "the run searched above) that the Find filters match", value=False,
                                      elem_id="erank-new-from-search")
        new_guidelines = gr.Textbox(label="Guidelines (markdown; empty: the default 0..10 rubric; with an existing "
                                    "campaign chosen above, 'Save guidelines' stores a new version)", lines=4,
                                    elem_id="erank-new-guidelines")
        with gr.Row():
            create = gr.Button("Create campaign", variant="primary", interactive=False, elem_id="erank-new-create")
            save_guidelines = gr.Button("Save guidelines", interactive=False, elem_id="erank-guidelines-save")
        manage_line = gr.Markdown("", elem_id="erank-campaign-manage-line")

    def may_manage(who, request: gr.Request):
        _, reason = who_may_admin(who, request)
        allowed = reason is None
        return (admin_line(reason, request, "create campaigns and edit guidelines"),
                gr.update(interactive=allowed), gr.update(interactive=allowed))

    def do_create(who, name, rid, dataset, top, k, blind, strategy, lease, text, from_search, search_run, *filters,
                  request: gr.Request):
        _, reason = who_may_admin(who, request)
        try:
            if reason is not None:
                raise CampaignError(reason)
            made = create_campaign(store, acting.who(who, request), name, rid, dataset, top, k, blind, strategy, lease,
                                   text, from_search, search_run, *filters)
        except (CampaignError, ValueError, TypeError) as error:
            gr.Warning(render.html_escape(error))
            return gr.skip(), gr.skip()
        return (f"Created {render.md_escape(made.name)}: {made.n_items} items from {render.md_escape(made.origin)}.",
                gr.update(choices=lookup.names(store), value=made.name))

    def do_guidelines(who, name, text, request: gr.Request):
        _, reason = who_may_admin(who, request)
        try:
            if reason is not None:
                raise CampaignError(reason)
            if not name:
                raise CampaignError("choose the campaign first")
            version = setup.edit_guidelines(store, name, text or "")
        except (CampaignError, ValueError) as error:
            gr.Warning(render.html_escape(error))
            return gr.skip()
        return f"Guidelines version {version} of {render.md_escape(name)} saved; labels from now on record it."

    for event in (tab.select, person.change):
        event(may_manage, [person], [manage_why, create, save_guidelines], api_visibility="private")
    create.click(do_create, [person, new_name, new_run, new_dataset, new_top, new_overlap, new_blind, new_strategy,
                             new_lease, new_guidelines, new_from_search, run_id, text, model_min, model_max, gap,
                             status, labelled_by], [manage_line, campaign], api_visibility="private")
    save_guidelines.click(do_guidelines, [person, campaign, new_guidelines], [manage_line], api_visibility="private")
