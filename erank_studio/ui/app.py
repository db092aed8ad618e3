"""The ERank Studio web app: ``build_app(store, provider, defaults) -> gr.Blocks``.

Tabs: Rerank (with the trace and annotation panel), Benchmark, Analyze, Compare, Agreement,
Adjudicate, Export; the named API endpoints for gradio_client (``/rerank_documents`` and the rest)
are registered from ui/api.py."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from .. import docfiles
from ..store import Store
from . import (
    adjudication_tab,
    agreement_tab,
    analyze,
    campaign_api,
    campaign_tab,
    annotate,
    api,
    benchmark,
    compare_tab,
    export_tab,
    opened_run,
    person,
    queue_panel,
    rerank_tab,
    run_limits,
    run_progress,
    session,
)
from .context import Context, Defaults, provider_for
from .engine_provider import EngineProvider
from .session import RunView
from .store_names import store_label

ASSETS = Path(__file__).resolve().parents[2] / "assets"
MAX_UPLOAD_BYTES = docfiles.MAX_FILE_BYTES
TITLE = "ERank Studio"
BROWSER_KEY = "erank-studio"
RERANK_TAB = "rerank"


def parse_auth(value: str | None) -> list[tuple[str, str]] | None:
    """``ERANK_AUTH="alice:secret,bob:pw"`` -> [("alice", "secret"), ("bob", "pw")]; None when unset."""
    if not value or not value.strip():
        return None
    pairs = []
    for item in value.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise ValueError("ERANK_AUTH must look like 'user:password,other:password'")
        pairs.append((user, password))
    return pairs


def launch_kwargs(auth: str | None = None) -> dict[str, Any]:
    """What ``Blocks.launch`` needs besides host and port: CSS, the shortcut script, the upload
    bound, auth."""
    css = (ASSETS / "style.css").read_text(encoding="utf-8") if (ASSETS / "style.css").exists() else ""
    js = (ASSETS / "shortcuts.js").read_text(encoding="utf-8") if (ASSETS / "shortcuts.js").exists() else ""
    # Uploads are bounded by what the document readers take (a bigger file is refused by Gradio
    # before it is written to disk, not read and then refused).
    kwargs: dict[str, Any] = {"css": css, "head": f"<script>{js}</script>" if js else None,
                              "max_file_size": MAX_UPLOAD_BYTES}
    pairs = parse_auth(auth)
    if pairs:
        kwargs["auth"] = pairs
        kwargs["auth_message"] = "ERank Studio: sign in; your labels are saved under your user name."
    return kwargs


def _header(ctx: Context) -> str:
    return (f"# {TITLE}\nRerank with ERank (`<think>` reasoning, an integer 0–10, rank_score = N × P(N)), "
            "inspect every trace, label documents, analyze and export. Everything is saved at once "
            f"to the store (`{store_label(ctx.store.url)}`).")


def build_app(store: Store, provider: EngineProvider | None = None, defaults: Defaults | None = None) -> gr.Blocks:
    defaults = defaults or Defaults.from_env()
    ctx = Context(store=store, provider=provider or provider_for(defaults), defaults=defaults)

    with gr.Blocks(title=TITLE) as demo:
        saved = gr.BrowserState({"annotator": "", "run_id": None}, storage_key=BROWSER_KEY)
        with gr.Row():
            gr.Markdown(_header(ctx))
            if defaults.hf_sign_in:
                gr.LoginButton()
        with gr.Tabs() as tabs:
            with gr.Tab("Rerank", id=RERANK_TAB, elem_id="erank-tab-rerank"):
                ui = rerank_tab.build(ctx)
            with gr.Tab("Benchmark", id="benchmark", elem_id="erank-tab-benchmark"):
                benchmark.build(ctx, ui, tabs, RERANK_TAB)
            with gr.Tab("Analyze", id="analyze", elem_id="erank-tab-analyze") as analyze_tab:
                analyze.build(ctx, ui, analyze_tab, tabs, RERANK_TAB, saved)
            with gr.Tab("Compare", id="compare", elem_id="erank-tab-compare") as compare_tab_:
                compare_ui = compare_tab.build(ctx, ui, compare_tab_)
            with gr.Tab("Agreement", id="agreement", elem_id="erank-tab-agreement") as agreement_view:
                agreement_tab.build(ctx, agreement_view)
            with gr.Tab("Adjudicate", id="adjudicate", elem_id="erank-tab-adjudicate") as adjudicate_view:
                adjudication_tab.build(ctx, ui, adjudicate_view)
            with gr.Tab("Label", id="label", elem_id="erank-tab-label") as label_view:
                campaign_tab.build(ctx, label_view)
            with gr.Tab("Export", id="export", elem_id="erank-tab-export"):
                export_tab.build(ctx, ui)
        rerank_tab.wire(ctx, ui)
        run_progress.wire(ctx, ui, saved)
        opened_run.wire(ctx, ui, saved)
        annotate.wire(ctx, ui)
        compare_tab.wire_rerun(ctx, ui, compare_ui)
        compare_tab.wire_open(ctx, ui, compare_ui, tabs, RERANK_TAB, saved)
        compare_tab.wire_base_model(ctx, ui, compare_ui, tabs, RERANK_TAB)
        _wire_model_status(ctx, ui)
        _wire_identity(ctx, ui, saved, demo)
        api.register(ctx)
        campaign_api.register(ctx.store)
    return demo


def _wire_model_status(ctx: Context, ui: rerank_tab.RerankUI) -> None:
    timer = gr.Timer(1.0)
    # The budget this page last filled in itself: a box still showing it (or empty) follows the
    # loaded model; a number the person typed, or a reopened run's, is left alone.
    filled_budget = gr.State(run_limits.initial_budget(ctx.defaults.max_new_tokens))

    # With model choice off, whatever a page sends, only the operator's model is looked at or loaded.
    def poll(model, engine_name, base_url, shown_budget, filled):
        model, engine_name, base_url = ctx.engine_choice(model, engine_name, base_url, strict=False)
        engine, error, _ = ctx.provider.wait(model, engine_name, base_url, 0)
        status = ctx.provider.status(model, engine_name, base_url)
        done = engine is not None or error is not None
        out = {ui.model_status: status, ui.engine_warning: run_progress.warning_text(engine) if engine else "",
               timer: gr.Timer(active=not done)}
        budget = run_limits.box_budget(engine, ctx.defaults.max_new_tokens, shown_budget, filled)
        if budget is not None:
            out[ui.max_new_tokens] = gr.update(value=budget,
                                               info=run_limits.budget_info(engine, ctx.defaults.max_new_tokens))
            out[filled_budget] = budget
        return out

    timer.tick(poll, [ui.model, ui.engine, ui.base_url, ui.max_new_tokens, filled_budget],
               [ui.model_status, ui.engine_warning, timer, ui.max_new_tokens, filled_budget],
               api_visibility="private", show_progress="hidden")

    def switch(model, engine_name, base_url):
        model, engine_name, base_url = ctx.engine_choice(model, engine_name, base_url, strict=False)
        ctx.provider.start(model, engine_name, base_url)
        return ctx.provider.status(model, engine_name, base_url), "", gr.Timer(active=True)

    for trigger in (ui.model.change, ui.engine.change):
        trigger(switch, [ui.model, ui.engine, ui.base_url], [ui.model_status, ui.engine_warning, timer],
                api_visibility="private")


def _wire_identity(ctx: Context, ui: rerank_tab.RerankUI, saved: gr.BrowserState, demo: gr.Blocks) -> None:
    """Who labels: the Hugging Face user on Spaces, the signed-in user with password auth, else the
    name typed (remembered in the browser). Also reopens the run this browser had open."""

    def restore(saved_value, sort_by, request: gr.Request):
        saved_value = dict(saved_value or {})
        name = getattr(request, "username", None) or saved_value.get("annotator") or ctx.defaults.annotator or ""
        # ?run=N in the address opens that run; else the run this browser had open.
        run_id = run_in_address(request) or saved_value.get("run_id")
        out = {ui.annotator: name or gr.skip(),  # a name typed while the page was loading stays
               ui.saved_runs: gr.update(choices=session.run_choices(ctx.store), value=None)}
        if run_id is None:
            return out
        try:
            view = session.open_run(ctx.store, int(run_id))
        except Exception:  # the run is gone (another store): start empty
            return out
        return {**out, **opened_run.updates(ctx, ui, view, name, sort_by), saved: opened_run.remembered(saved_value,
                                                                                                          run_id)}

    restored = demo.load(restore, [saved, ui.sort_by], [ui.annotator, *opened_run.outputs(ui), saved],
                         api_visibility="private")
    # The run this browser started may still be going (the page was reloaded or reopened): follow it.
    restored.then(run_progress.make_attach_handler(ctx, ui), [saved, ui.annotator, ui.sort_by],
                  [*ui.detail_outputs, ui.progress, ui.model_status, ui.engine_warning],
                  api_visibility="private", concurrency_id=run_progress.ATTACH_QUEUE,
                  concurrency_limit=run_progress.RUN_QUEUE_LIMIT, show_progress="hidden")

    if ctx.defaults.hf_sign_in:
        def from_profile(profile: gr.OAuthProfile | None):
            return profile.username if profile is not None else gr.skip()

        demo.load(from_profile, None, ui.annotator, api_visibility="private")

    def remember(name, saved_value):
        saved_value = dict(saved_value or {})
        saved_value["annotator"] = (name or "").strip()
        return saved_value

    ui.annotator.change(remember, [ui.annotator, saved], saved, api_visibility="private")

    def another_person(view: RunView, name, sort_by, request: gr.Request):
        """The table's "you" column, the counts and the label boxes are the new person's at once;
        the last label's status line and a Label next order were the previous person's."""
        name = person.who(name, request)
        return {**rerank_tab.detail_updates(ctx, ui, view, name, sort_by), ui.label_status: "",
                **queue_panel.reset(ui.queue)}

    # change, not input: a name set by the page (sign-in, the browser's memory) counts as well.
    ui.annotator.change(another_person, [ui.view, ui.annotator, ui.sort_by],
                       [*ui.detail_outputs, ui.label_status, *ui.queue.outputs], api_visibility="private",
                       trigger_mode="always_last", show_progress="hidden", concurrency_id=annotate.QUEUE,
                       concurrency_limit=1)


def run_in_address(request: gr.Request | None) -> int | None:
    """The run named by ``?run=N`` in the page's address, if any (anything else is ignored)."""
    value = (getattr(request, "query_params", None) or {}).get("run") if request is not None else None
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
