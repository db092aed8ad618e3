"""The app's HTTP API for programs (gradio_client): ``/rerank_documents``, ``/label_document``,
``/run_labels``, ``/label_queue`` and ``/compare_runs``. They use the app's current model and the
same run path and store calls as the page.

Every refusal is one ``gr.Error`` with a sentence a caller can act on (never Gradio's "upstream
app has raised an exception"), and no message names a server path: the store shows as the page
names it (store_names.store_label)."""
from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import gradio as gr

from .. import compare as run_comparison
from .. import prompt, runs, text_rules
from .. import queue as label_order
from ..engines.base import CancelToken
from ..store import validation
from ..results import ECHO_CHARS, RerankResult, ranked, result_of
from ..types import Document, Judgment
from . import doc_input, render, run_limits, run_progress, session
from .context import Context, ModelChoiceLocked
from .gpu import judge_fn
from .jobs import RunJob
from .store_names import store_label

API_TICK_S = 5.0  # an API stream hears from the run at least this often (so a gone client is noticed)
LOAD_WAIT_S = 600


def without_store_path(message: str, store_url: str | None) -> str:
    """A message about the store with its URL (and the file it names) replaced by the store's
    public name: a caller learns which store, never where it lies on the server."""
    if store_url:
        message = message.replace(store_url, store_label(store_url))
        path = store_url.split(":///", 1)[-1] if store_url.startswith("sqlite:") else ""
        if path:
            message = message.replace(path, store_label(store_url))
    return message


@contextmanager
def refusals(ctx: Context) -> Iterator[None]:
    """Input the store or a checker refuses (ValueError and its kin, an integer too large for the
    database) becomes one clear API message."""
    try:
        yield
    except gr.Error:
        raise
    except (TypeError, ValueError, OverflowError) as error:
        raise gr.Error(render.html_escape(without_store_path(str(error), ctx.store.url))) from None


def run_id_of(value: Any) -> int:
    """A run id from a caller: a positive integer the store can hold, else one clear message."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return validation.positive_int(value, "run_id")


def checked_text(value: Any, field: str) -> str:
    """Text a caller sent that the store can keep (no NUL, no lone surrogate), else one message."""
    if not isinstance(value, str):
        raise gr.Error(f"{field} must be text")
    why = text_rules.problem(value)
    if why:
        raise gr.Error(f"{field} {why}")
    return value


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
        query = checked_text(query or "", "query")
        instruction = checked_text(instruction or "", "instruction")
        if not query.strip():
            raise gr.Error("query is empty")
        if template not in prompt.TEMPLATES:
            raise gr.Error(f"template must be one of {', '.join(prompt.TEMPLATES)}, not {render.html_escape(repr(template))}")
        try:
            docs = doc_input.parse_text(documents)
        except doc_input.DocumentInputError as error:
            raise gr.Error(render.html_escape(error)) from None
        d = ctx.defaults
        # 0 or empty: the budget the loaded model gets (the operator's, else the model's own).
        max_new = max_new_tokens if max_new_tokens not in (0, None, "") else None
        numbers = run_progress.checked_numbers(ctx, alpha, truncate_length, max_new)
        try:
            choice = ctx.engine_choice(model or None, engine or None, base_url or None)
        except ModelChoiceLocked as error:
            raise gr.Error(str(error)) from None
        token = CancelToken()
        deadline = time.monotonic() + LOAD_WAIT_S
        loaded = None
        for step in run_progress.engine_for_run(ctx, *choice, token):
            if not isinstance(step, str):
                loaded = step
            elif time.monotonic() > deadline:
                raise gr.Error("the model is still loading; try again")
        max_new = max_new or run_limits.model_budget(loaded, d.max_new_tokens)
        numbers = run_progress.checked_numbers(ctx, alpha, truncate_length, max_new, loaded)
        job = None
        with refusals(ctx):
            spec = runs.RunSpec(
                query=query.strip(), documents=docs, instruction=instruction.strip() or prompt.DEFAULT_INSTRUCTION,
                template=template, truncate_length=numbers.truncate_length,
                settings=run_limits.settings_for(numbers, force_answer, loaded), alpha=numbers.alpha,
            )
            for step in run_progress.start_job(ctx, loaded, token, spec, owner=run_progress.API_OWNER,
                                               judge_fn=judge_fn()):
                if not isinstance(step, str):
                    job = step
        try:
            yield from stream_job(job, docs, tick=API_TICK_S)
        except GeneratorExit:  # the client went away: nobody reads this run any more
            job.cancel()
            raise

    return rerank_documents


def stream_job(job: RunJob, given: Sequence[Document] = (), tick: float = API_TICK_S) -> Iterator[dict[str, Any]]:
    """The API's messages for a job: increments, then the final ranked list once. ``given``: the
    documents as the caller sent them (the run's own copies stand in for any not there)."""
    documents = {**job.view.documents, **{d.doc_id: d for d in given}}
    n_judged = 0
    for new in job.follow(0, tick):
        n_judged += len(new)
        if job.finished:
            break
        yield _message(job, new, n_judged, documents, final=False)
    yield _message(job, new, n_judged, documents, final=True)


def _message(job: RunJob, new: list[Judgment], n_judged: int, documents: Mapping[str, Document],
             final: bool) -> dict[str, Any]:
    judged = job.view.documents
    return {"run_id": job.run_id, "query_id": job.view.query_id, "status": job.status if final else "running",
            "n_documents": job.n_documents, "n_judged": n_judged,
            "new": [_result(j, documents, judged).to_dict(max_content_chars=ECHO_CHARS) for j in new],
            "judgments": ranked_items(job.view.judgments, documents, judged) if final else None,
            "note": job.view.note, **({"error": job.error} if final and job.error else {})}


def ranked_items(judgments: list[Judgment], documents: Mapping[str, Document],
                 judged: Mapping[str, Document] | None = None) -> list[dict[str, Any]]:
    """The judgments in rank_score order (failures last), each with its ``rank`` and hybrid score.
    ``documents``: as given; ``judged``: the run's copies (BM25's scores where BM25 scored the
    list), ``documents`` themselves where they are the run's own (a stored run)."""
    found = [_result(j, documents, documents if judged is None else judged, hybrid=True) for j in judgments]
    return [r.to_dict(rank=rank, max_content_chars=ECHO_CHARS) for rank, r in enumerate(ranked(found), start=1)]


def _result(j: Judgment, documents: Mapping[str, Document], judged: Mapping[str, Document],
            hybrid: bool = False) -> RerankResult:
    """A judgment as the API sends it: the Python API's result (``results.RerankResult``), so an
    API row, a CLI line and ``Reranker.rerank``'s ``to_dict()`` are the same dict. The rank and
    the hybrid score come only with the final list: they depend on the whole of it."""
    return result_of(j, documents.get(j.doc_id) or {"id": j.doc_id}, judged.get(j.doc_id), hybrid=hybrid)


def register(ctx: Context) -> None:
    """The named endpoints, inside the app's ``gr.Blocks``."""
    traces = RunTraces(ctx.store)

    def label_document(run_id: int, doc_id: str, annotator: str, score: int, rationale: str = "", note: str = "",
                       request: gr.Request = None) -> dict:
        """Save a person's 0..10 label for a document of a run; returns the label. With password
        auth on, the label is the signed-in user's whatever ``annotator`` says."""
        annotator = getattr(request, "username", None) or annotator
        with refusals(ctx):
            run_id = run_id_of(run_id)
            query_id = int(ctx.store.run_info(run_id)["query_id"])
            trace = traces.trace(run_id, str(doc_id)) if (rationale or "").strip() else ""
            row = session.add_label_for_query(ctx.store, query_id, str(doc_id), annotator,
                                              validation.label_score(score), rationale, note, trace)
        return {"label_id": row.id, "query_id": row.query_id, "doc_id": row.doc_id, "annotator": row.annotator,
                "score": row.score, "rationale": row.rationale, "note": row.note}

    def run_labels(run_id: int, annotator: str) -> dict:
        """A run's judgments (ranked) with this annotator's current labels."""
        with refusals(ctx):
            view = session.open_run(ctx.store, run_id_of(run_id))
            scores = session.label_scores(ctx.store, view, annotator)
        items = [{**item, "human": scores.get(item["doc_id"])}
                 for item in ranked_items(view.judgments, view.documents)]
        return {"run_id": view.run_id, "query_id": view.query_id, "status": view.status or "running",
                "n_documents": len(view.documents), "judgments": items}

    def label_queue(run_id: int = 0, annotator: str = "", strategy: str = "entropy", dataset: str = "",
                    model: str = "", request: gr.Request = None) -> dict:
        """The order to label unlabelled documents in (as the CLI's ``queue``): one run's
        (``run_id``) or a benchmark batch's (``dataset``, with ``model`` when several judged it).
        ``strategy``: entropy, first_stage, qrels or rank. Unlabelled by ``annotator`` (the
        signed-in user with password auth; anyone when empty)."""
        annotator = getattr(request, "username", None) or (annotator or "").strip()
        with refusals(ctx):
            if (dataset or "").strip():
                order = label_order.batch_queue(ctx.store, dataset.strip(), strategy, annotator or None,
                                                (model or "").strip() or None)
            elif run_id:
                order = label_order.run_queue(ctx.store, run_id_of(run_id), strategy, annotator or None)
            else:
                raise ValueError("give a run_id, or a dataset for a benchmark batch")
        return order.to_dict()

    def compare_runs(run_a: int, run_b: int, annotator: str = "") -> dict:
        """Two runs of the same query side by side (as the CLI's ``compare --json``): per document
        both scores and ranks, Kendall tau and Spearman, nDCG@10 of each vs qrels and labels."""
        with refusals(ctx):
            return run_comparison.compare_runs(ctx.store, run_id_of(run_a), run_id_of(run_b),
                                               (annotator or "").strip() or None).to_dict()

    gr.api(api_rerank(ctx), api_name="rerank_documents", concurrency_id=run_progress.RUN_QUEUE,
           concurrency_limit=run_progress.RUN_QUEUE_LIMIT)
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
