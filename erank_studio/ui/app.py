"""The ERank Studio web app: ``build_app(store, provider, defaults) -> gr.Blocks``.

Tabs: Rerank (with the trace and annotation panel), Benchmark, Analyze, Export. Named API
endpoints (for gradio_client): ``/rerank_documents``, ``/label_document``, ``/run_labels``."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gradio as gr

from .. import prompt
from ..store import Store
from ..types import GenerationSettings
from . import analyze, annotate, benchmark, doc_input, export_tab, rerank_tab, session
from .context import Context, Defaults
from .engine_provider import EngineProvider
from .gpu import judge_fn
from .session import RunView

ASSETS = Path(__file__).resolve().parents[2] / "assets"
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
    """What ``Blocks.launch`` needs besides host and port: CSS, the shortcut script, auth."""
    css = (ASSETS / "style.css").read_text(encoding="utf-8") if (ASSETS / "style.css").exists() else ""
    js = (ASSETS / "shortcuts.js").read_text(encoding="utf-8") if (ASSETS / "shortcuts.js").exists() else ""
    kwargs: dict[str, Any] = {"css": css, "head": f"<script>{js}</script>" if js else None}
    pairs = parse_auth(auth)
    if pairs:
        kwargs["auth"] = pairs
        kwargs["auth_message"] = "ERank Studio: sign in; your labels are saved under your user name."
    return kwargs


def _header(ctx: Context) -> str:
    return (f"# {TITLE}\nRerank with ERank (`<think>` reasoning, an integer 0–10, rank_score = N × P(N)), "
            "inspect every trace, label documents, analyze and export. Everything is saved at once "
            f"to the store (`{_store_name(ctx.store.url)}`).")


def _store_name(url: str) -> str:
    # A SQLite file by its name: the server's folders are nobody's business on the page.
    if url.startswith("sqlite:///"):
        return "sqlite: " + Path(url[len("sqlite:///"):]).name
    return _safe_url(url)


def _safe_url(url: str) -> str:
    # Never show a password that may sit in a database URL.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url


def build_app(store: Store, provider: EngineProvider | None = None, defaults: Defaults | None = None) -> gr.Blocks:
    defaults = defaults or Defaults.from_env()
    if provider is None:
        provider = EngineProvider(**({"batch_size": defaults.batch_size} if defaults.batch_size else {}))
    ctx = Context(store=store, provider=provider, defaults=defaults)
    provider.start(defaults.model, defaults.engine, defaults.base_url)  # load while the page opens

    with gr.Blocks(title=TITLE) as demo:
        saved = gr.BrowserState({"annotator": "", "run_id": None}, storage_key=BROWSER_KEY)
        with gr.Row():
            gr.Markdown(_header(ctx))
            if defaults.on_spaces:
                gr.LoginButton()
        with gr.Tabs() as tabs:
            with gr.Tab("Rerank", id=RERANK_TAB, elem_id="erank-tab-rerank"):
                ui = rerank_tab.build(ctx)
                buttons = annotate.build_panel(ctx, ui)
            with gr.Tab("Benchmark", id="benchmark", elem_id="erank-tab-benchmark"):
                benchmark.build(ctx, ui, tabs, RERANK_TAB)
            with gr.Tab("Analyze", id="analyze", elem_id="erank-tab-analyze") as analyze_tab:
                analyze.build(ctx, ui, analyze_tab)
            with gr.Tab("Export", id="export", elem_id="erank-tab-export"):
                export_tab.build(ctx, ui)
        rerank_tab.wire(ctx, ui, saved)
        annotate.wire(ctx, ui, buttons)
        _wire_model_status(ctx, ui)
        _wire_identity(ctx, ui, saved, demo)
        _api(ctx)
    return demo


def _wire_model_status(ctx: Context, ui: rerank_tab.RerankUI) -> None:
    timer = gr.Timer(1.0)

    def poll(model, engine_name, base_url):
        engine, error, _ = ctx.provider.wait(model, engine_name, base_url, 0)
        status = ctx.provider.status(model, engine_name, base_url)
        done = engine is not None or error is not None
        return status, rerank_tab.warning_text(engine) if engine else "", gr.Timer(active=not done)

    timer.tick(poll, [ui.model, ui.engine, ui.base_url], [ui.model_status, ui.engine_warning, timer],
               api_visibility="private", show_progress="hidden")

    def switch(model, engine_name, base_url):
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
        run_id = saved_value.get("run_id")
        choices = session.run_choices(ctx.store)
        view = RunView()
        if run_id is not None:
            try:
                view = session.open_run(ctx.store, int(run_id))
                if view.judgments:
                    view.selected = view.order(sort_by)[0]
            except Exception:  # the run is gone (another store): start empty
                view, run_id = RunView(), None
        values = rerank_tab.detail_values(ctx, view, name, sort_by)
        progress = (f"run #{view.run_id} · {view.status} · {len(view.judgments)} documents"
                    if view.run_id else "")
        return (name, gr.update(choices=choices, value=run_id), *values, view.query or gr.skip(),
                view.alpha, progress)

    demo.load(restore, [saved, ui.sort_by],
              [ui.annotator, ui.saved_runs, ui.view, ui.table, ui.detail, ui.document, ui.trace, ui.rationale,
               ui.note, ui.labelled, ui.query, ui.alpha, ui.progress], api_visibility="private")

    if ctx.defaults.on_spaces:
        def from_profile(profile: gr.OAuthProfile | None):
            return profile.username if profile is not None else gr.skip()

        demo.load(from_profile, None, ui.annotator, api_visibility="private")

    def remember(name, saved_value):
        saved_value = dict(saved_value or {})
        saved_value["annotator"] = (name or "").strip()
        return saved_value

    ui.annotator.change(remember, [ui.annotator, saved], saved, api_visibility="private")


def _api(ctx: Context) -> None:
    """Endpoints for programs (gradio_client). They use the app's current model."""

    def rerank_documents(query: str, documents: str, instruction: str = "", max_new_tokens: int = 0,
                         alpha: float = 0.2, truncate_length: int = 2048,
                         force_answer: bool = False) -> dict:
        """Rerank documents (the documents box's formats) for a query; streams the ranked list."""
        if not (query or "").strip():
            raise gr.Error("query is empty")
        try:
            docs = doc_input.parse_text(documents)
        except doc_input.DocumentInputError as error:
            raise gr.Error(str(error)) from None
        d = ctx.defaults
        deadline = time.monotonic() + 600
        engine = None
        while engine is None:
            engine, error, _ = ctx.provider.wait(d.model, d.engine, d.base_url, 1.0)
            if error:
                raise gr.Error(f"model could not be loaded: {error}")
            if time.monotonic() > deadline:
                raise gr.Error("the model is still loading; try again")
        settings = GenerationSettings(max_new_tokens=int(max_new_tokens or d.max_new_tokens),
                                      force_answer=bool(force_answer) or not engine.is_reranker)
        view = session.start_run(ctx.store, engine, query.strip(),
                                 (instruction or "").strip() or prompt.DEFAULT_INSTRUCTION, docs,
                                 truncate_length=int(truncate_length), settings=settings, alpha=float(alpha))
        token = ctx.new_cancel(f"api-{view.run_id}")
        for view in session.stream_judgments(ctx.store, engine, view, truncate_length=int(truncate_length),
                                             settings=settings, cancel=token, judge_fn=judge_fn()):
            yield _run_json(view)
        yield _run_json(view)

    def label_document(run_id: int, doc_id: str, annotator: str, score: int, rationale: str = "", note: str = "",
                       request: gr.Request = None) -> dict:
        """Save a person's 0..10 label for a document of a run; returns the label. With password
        auth on, the label is the signed-in user's whatever ``annotator`` says."""
        annotator = getattr(request, "username", None) or annotator
        try:
            view = session.open_run(ctx.store, int(run_id))
            row = session.add_label(ctx.store, view, str(doc_id), annotator, int(score), rationale, note)
        except ValueError as error:
            raise gr.Error(str(error)) from None
        return {"label_id": row.id, "query_id": row.query_id, "doc_id": row.doc_id, "annotator": row.annotator,
                "score": row.score, "rationale": row.rationale, "note": row.note}

    def run_labels(run_id: int, annotator: str) -> dict:
        """A run's judgments with this annotator's current labels."""
        try:
            view = session.open_run(ctx.store, int(run_id))
        except ValueError as error:
            raise gr.Error(str(error)) from None
        out = _run_json(view)
        scores = session.label_scores(ctx.store, view, annotator)
        for item in out["judgments"]:
            item["human"] = scores.get(item["doc_id"])
        return out

    gr.api(rerank_documents, api_name="rerank_documents", concurrency_id=rerank_tab.RUN_QUEUE,
           concurrency_limit=1)
    gr.api(label_document, api_name="label_document")
    gr.api(run_labels, api_name="run_labels")


def _run_json(view: RunView) -> dict[str, Any]:
    ranked = [j.doc_id for j in sorted(view.judgments, key=lambda j: (j.rank_score is None, -(j.rank_score or 0)))]
    items = []
    for j in view.judgments:
        items.append({
            "doc_id": j.doc_id, "rank": ranked.index(j.doc_id) + 1, "score": j.score, "probability": j.probability,
            "rank_score": j.rank_score, "first_stage_score": j.first_stage_score, "hybrid_score": j.hybrid_score,
            "status": j.status, "failure": j.failure, "output_tokens": j.output_tokens, "raw_output": j.raw_output,
            "truncated": j.truncated,
        })
    items.sort(key=lambda item: item["rank"])
    return {"run_id": view.run_id, "query_id": view.query_id, "status": view.status or "running",
            "n_documents": len(view.documents), "judgments": items}
