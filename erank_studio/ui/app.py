"""The ERank Studio web app: ``build_app(store, provider, defaults) -> gr.Blocks``.

Tabs: Rerank (with the trace and annotation panel), Benchmark, Analyze, Compare, Agreement,
Adjudicate, Export. Named API endpoints (for gradio_client): ``/rerank_documents``,
``/label_document``, ``/run_labels``, ``/label_queue``, ``/compare_runs``."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from .. import compare as run_comparison
from .. import prompt
from .. import queue as label_order
from ..engines.base import CancelToken
from ..store import Store
from ..types import Judgment
from . import (
    adjudication_tab,
    agreement_tab,
    analyze,
    campaign_api,
    campaign_tab,
    annotate,
    benchmark,
    compare_tab,
    doc_input,
    export_tab,
    render,
    rerank_tab,
    run_limits,
    session,
)
from .context import Context, Defaults, ModelChoiceLocked, provider_for
from .engine_provider import EngineProvider
from .gpu import judge_fn
from .jobs import RunJob
from .server import store_label
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
            f"to the store (`{store_label(ctx.store.url)}`).")


def build_app(store: Store, provider: EngineProvider | None = None, defaults: Defaults | None = None) -> gr.Blocks:
    defaults = defaults or Defaults.from_env()
    ctx = Context(store=store, provider=provider or provider_for(defaults), defaults=defaults)

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
        rerank_tab.wire(ctx, ui, saved)
        annotate.wire(ctx, ui, buttons)
        compare_tab.wire_rerun(ctx, ui, compare_ui)
        _wire_model_status(ctx, ui)
        _wire_identity(ctx, ui, saved, demo)
        _api(ctx)
        campaign_api.register(ctx.store)
    return demo


def _wire_model_status(ctx: Context, ui: rerank_tab.RerankUI) -> None:
    timer = gr.Timer(1.0)

    # With model choice off, whatever a page sends, only the operator's model is looked at or loaded.
    def poll(model, engine_name, base_url):
        model, engine_name, base_url = ctx.engine_choice(model, engine_name, base_url, strict=False)
        engine, error, _ = ctx.provider.wait(model, engine_name, base_url, 0)
        status = ctx.provider.status(model, engine_name, base_url)
        done = engine is not None or error is not None
        return status, rerank_tab.warning_text(engine) if engine else "", gr.Timer(active=not done)

    timer.tick(poll, [ui.model, ui.engine, ui.base_url], [ui.model_status, ui.engine_warning, timer],
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
        progress = (f"run #{view.run_id} · {session.status_text(view.status)} · {len(view.judgments)} documents"
                    if view.run_id else "")
        # Nothing to restore leaves the box alone: a name typed while the page was loading stays.
        return (name or gr.skip(), gr.update(choices=choices, value=run_id), *values, view.query or gr.skip(),
                view.alpha, progress)

    restored = demo.load(restore, [saved, ui.sort_by],
                         [ui.annotator, ui.saved_runs, ui.view, ui.table, ui.detail, ui.document, ui.trace,
                          ui.rationale, ui.note, ui.labelled, ui.query, ui.alpha, ui.progress],
                         api_visibility="private")
    # The run this browser started may still be going (the page was reloaded or reopened): follow it.
    restored.then(rerank_tab.make_attach_handler(ctx), [saved, ui.annotator, ui.sort_by],
                  [ui.view, ui.table, ui.detail, ui.document, ui.trace, ui.rationale, ui.note, ui.labelled,
                   ui.progress, ui.model_status, ui.engine_warning],
                  api_visibility="private", concurrency_id=rerank_tab.ATTACH_QUEUE,
                  concurrency_limit=rerank_tab.RUN_QUEUE_LIMIT, show_progress="hidden")

    if ctx.defaults.on_spaces:
        def from_profile(profile: gr.OAuthProfile | None):
            return profile.username if profile is not None else gr.skip()

        demo.load(from_profile, None, ui.annotator, api_visibility="private")

    def remember(name, saved_value):
        saved_value = dict(saved_value or {})
        saved_value["annotator"] = (name or "").strip()
        return saved_value

    ui.annotator.change(remember, [ui.annotator, saved], saved, api_visibility="private")


API_TICK_S = 5.0  # an API stream hears from the run at least this often (so a gone client is noticed)
LOAD_WAIT_S = 600


def api_rerank(ctx: Context):
    """The ``/rerank_documents`` function (also what bench/ times without a server)."""

    def rerank_documents(query: str, documents: str, instruction: str = "", max_new_tokens: int = 0,
                         alpha: float = 0.2, truncate_length: int = 2048, force_answer: bool = False,
                         model: str = "", engine: str = "", base_url: str = "",
                         template: str = prompt.DEFAULT_TEMPLATE, request: gr.Request = None) -> Iterator[dict]:
        """Rerank documents (the documents box's formats) for a query. Streams messages with the
        judgments new since the last message (``new``); the last message (status not "running")
        also holds the whole ranked list (``judgments``). ``max_new_tokens`` 0 means the server's
        default; ``model``/``engine``/``base_url`` empty mean the app's current model (choosing
        another is refused on a public server); ``template`` is the prompt template. The run is
        cancelled if the client disconnects."""
        if not (query or "").strip():
            raise gr.Error("query is empty")
        if template not in prompt.TEMPLATES:
            raise gr.Error(f"template must be one of {', '.join(prompt.TEMPLATES)}, not {render.html_escape(repr(template))}")
        try:
            docs = doc_input.parse_text(documents)
        except doc_input.DocumentInputError as error:
            raise gr.Error(render.html_escape(error)) from None
        d = ctx.defaults
        max_new = max_new_tokens if max_new_tokens not in (0, None, "") else d.max_new_tokens
        numbers = rerank_tab.checked_numbers(ctx, alpha, truncate_length, max_new)
        try:
            choice = ctx.engine_choice(model or None, engine or None, base_url or None)
        except ModelChoiceLocked as error:
            raise gr.Error(str(error)) from None
        token = CancelToken()
        deadline = time.monotonic() + LOAD_WAIT_S
        loaded = None
        for step in rerank_tab.engine_for_run(ctx, *choice, token):
            if not isinstance(step, str):
                loaded = step
            elif time.monotonic() > deadline:
                raise gr.Error("the model is still loading; try again")
        numbers = rerank_tab.checked_numbers(ctx, alpha, truncate_length, max_new, loaded)
        job = None
        for step in rerank_tab.start_job(ctx, loaded, token, query=query.strip(),
                                         instruction=(instruction or "").strip() or prompt.DEFAULT_INSTRUCTION,
                                         documents=docs, truncate_length=numbers.truncate_length,
                                         settings=run_limits.settings_for(numbers, force_answer, loaded),
                                         alpha=numbers.alpha, owner="api", template=template,
                                         judge_fn=judge_fn()):
            if not isinstance(step, str):
                job = step
        try:
            yield from stream_job(job, tick=API_TICK_S)
        except GeneratorExit:  # the client went away: nobody reads this run any more
            job.cancel()
            raise

    return rerank_documents


def stream_job(job: RunJob, tick: float = API_TICK_S) -> Iterator[dict[str, Any]]:
    """The API's messages for a job: increments, then the final ranked list once."""
    n_judged = 0
    for new in job.follow(0, tick):
        n_judged += len(new)
        if job.finished:
            break
        yield _message(job, new, n_judged, None)
    yield _message(job, new, n_judged, ranked_items(job.view.judgments))


def _message(job: RunJob, new: list[Judgment], n_judged: int, ranked: list[dict] | None) -> dict[str, Any]:
    return {"run_id": job.run_id, "query_id": job.view.query_id, "status": job.status if ranked is not None
            else "running", "n_documents": job.n_documents, "n_judged": n_judged,
            "new": [judgment_item(j) for j in new], "judgments": ranked,
            **({"error": job.error} if ranked is not None and job.error else {})}


def judgment_item(j: Judgment) -> dict[str, Any]:
    """A judgment as the API sends it (without rank and hybrid: they depend on the whole list)."""
    return {"doc_id": j.doc_id, "score": j.score, "probability": j.probability, "rank_score": j.rank_score,
            "first_stage_score": j.first_stage_score, "status": j.status, "failure": j.failure,
            "output_tokens": j.output_tokens, "raw_output": j.raw_output, "truncated": j.truncated,
            "score_distribution": j.score_distribution, "expected_score": j.expected_score,
            "score_entropy": j.score_entropy}


def ranked_items(judgments: list[Judgment]) -> list[dict[str, Any]]:
    """The judgments in rank_score order (failures last), with their rank and hybrid score."""
    return [{**judgment_item(j), "rank": rank, "hybrid_score": j.hybrid_score}
            for rank, j in enumerate(render.ranked(judgments, render.SORT_RANK), start=1)]


def _api(ctx: Context) -> None:
    """Endpoints for programs (gradio_client). They use the app's current model."""
    traces = RunTraces(ctx.store)

    def label_document(run_id: int, doc_id: str, annotator: str, score: int, rationale: str = "", note: str = "",
                       request: gr.Request = None) -> dict:
        """Save a person's 0..10 label for a document of a run; returns the label. With password
        auth on, the label is the signed-in user's whatever ``annotator`` says."""
        annotator = getattr(request, "username", None) or annotator
        try:
            query_id = int(ctx.store.run_info(int(run_id))["query_id"])
            trace = traces.trace(int(run_id), str(doc_id)) if (rationale or "").strip() else ""
            row = session.add_label_for_query(ctx.store, query_id, str(doc_id), annotator, int(score),
                                              rationale, note, trace)
        except (TypeError, ValueError) as error:
            raise gr.Error(render.html_escape(error)) from None
        return {"label_id": row.id, "query_id": row.query_id, "doc_id": row.doc_id, "annotator": row.annotator,
                "score": row.score, "rationale": row.rationale, "note": row.note}

    def run_labels(run_id: int, annotator: str) -> dict:
        """A run's judgments (ranked) with this annotator's current labels."""
        try:
            view = session.open_run(ctx.store, int(run_id))
        except (TypeError, ValueError) as error:
            raise gr.Error(render.html_escape(error)) from None
        scores = session.label_scores(ctx.store, view, annotator)
        items = [{**item, "human": scores.get(item["doc_id"])} for item in ranked_items(view.judgments)]
        return {"run_id": view.run_id, "query_id": view.query_id, "status": view.status or "running",
                "n_documents": len(view.documents), "judgments": items}

    def label_queue(run_id: int = 0, annotator: str = "", strategy: str = "entropy", dataset: str = "",
                    model: str = "", request: gr.Request = None) -> dict:
        """The order to label unlabelled documents in (as the CLI's ``queue``): one run's
        (``run_id``) or a benchmark batch's (``dataset``, with ``model`` when several judged it).
        ``strategy``: entropy, first_stage, qrels or rank. Unlabelled by ``annotator`` (the
        signed-in user with password auth; anyone when empty)."""
        annotator = getattr(request, "username", None) or (annotator or "").strip()
        try:
            if (dataset or "").strip():
                order = label_order.batch_queue(ctx.store, dataset.strip(), strategy, annotator or None,
                                                (model or "").strip() or None)
            elif run_id:
                order = label_order.run_queue(ctx.store, int(run_id), strategy, annotator or None)
            else:
                raise ValueError("give a run_id, or a dataset for a benchmark batch")
        except (TypeError, ValueError) as error:
            raise gr.Error(render.html_escape(error)) from None
        return order.to_dict()

    def compare_runs(run_a: int, run_b: int, annotator: str = "") -> dict:
        """Two runs of the same query side by side (as the CLI's ``compare --json``): per document
        both scores and ranks, Kendall tau and Spearman, nDCG@10 of each vs qrels and labels."""
        try:
            return run_comparison.compare_runs(ctx.store, int(run_a), int(run_b),
                                               (annotator or "").strip() or None).to_dict()
        except (TypeError, ValueError) as error:
            raise gr.Error(render.html_escape(error)) from None

    gr.api(api_rerank(ctx), api_name="rerank_documents", concurrency_id=rerank_tab.RUN_QUEUE,
           concurrency_limit=rerank_tab.RUN_QUEUE_LIMIT)
    gr.api(label_document, api_name="label_document")
    gr.api(run_labels, api_name="run_labels")
    gr.api(label_queue, api_name="label_queue")
    gr.api(compare_runs, api_name="compare_runs")


class RunTraces:
    """Each run's traces by document, read once per run (a label's rationale is kept only when it
    differs from the trace); a few recent runs are kept."""

    KEEP = 8

    def __init__(self, store) -> None:
        self._store = store
        self._runs: dict[int, dict[str, str]] = {}

    def trace(self, run_id: int, doc_id: str) -> str:
        traces = self._runs.get(run_id)
        if traces is None or doc_id not in traces:  # new, or a run still judging
            traces = {j.doc_id: (j.trace or "") for j in self._store.run_judgments(run_id)}
            self._runs.pop(run_id, None)
            self._runs[run_id] = traces
            while len(self._runs) > self.KEEP:
                self._runs.pop(next(iter(self._runs)))
        return traces.get(doc_id, "")
