"""Rerank a whole benchmark, query by query, with every judgment in the store as it arrives.

Resumable: what the store already holds for (query, model) is skipped, so a batch killed midway
and started again judges only what is missing (a judgment in flight when the process died was
never committed, and is judged on the restart). Failed judgments are retried on a restart.
At the end, TREC runs for the first stage, the model (rank_score) and the hybrid are written
from the store, so they cover earlier sessions' judgments too."""
from __future__ import annotations

import queue
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import metrics, prompt, runs, scoring, text_rules
from .data import Dataset
from .engines.base import CancelToken, Engine, batch_note
from .engines.writing import WritingProgress, progress_line, ticking
from .models import display_name
from .shards import Shard
from .store import Store
from .store.trec import write_qrels, write_run
from .types import STATUS_FAILED, GenerationSettings, Judgment

RUN_KINDS = ("first_stage", "model", "hybrid")
# Queries judged at once on OpenAI-compatible servers. The engine bounds the requests in flight per
# server (--concurrency); with one query at a time those slots empty while the query's last, longest
# documents finish, and 4 queries keep them full (more only queue for the same slots).
DEFAULT_QUERIES_IN_FLIGHT = 4
WRITING_EVERY_S = 1.0  # how often the progress bar's "writing ..." is refreshed between judgments


@dataclass
class BatchResult:
    dataset: str
    model: str
    queries: int = 0
    judged: int = 0  # judged in this session
    skipped: int = 0  # already in the store
    failed: int = 0  # candidates whose latest judgment failed
    seconds: float = 0.0
    runs: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    ndcg: dict[str, float] = field(default_factory=dict)

    @property
    def docs_per_s(self) -> float:
        return self.judged / self.seconds if self.seconds > 0 else 0.0


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("/")).strip("_") or "run"


def latest_judgments(store: Store, query_id: int, model: str) -> dict[str, tuple[int, Judgment]]:
    """doc_id -> (run_id, judgment): the latest judgment of each document by this model, a
    successful one preferred over a later failure."""
    runs = sorted((r for r in store.runs(query_id=query_id) if r.model == model), key=lambda r: r.id)
    latest: dict[str, tuple[int, Judgment]] = {}
    for run in runs:
        for j in store.run_judgments(run.id):
            held = latest.get(j.doc_id)
            if held is None or j.status != STATUS_FAILED or held[1].status == STATUS_FAILED:
                latest[j.doc_id] = (run.id, j)
    return latest


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    # rate_noinv: always documents per second (tqdm would flip to s/doc below 1 doc/s).
    return tqdm(total=total, unit="doc", desc="judging", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, smoothing=0.1,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]")


def queries_in_flight_for(engine: Engine, asked: int | None) -> tuple[int, str | None]:
    """How many queries' runs judge at once, and a note where the engine refuses what was asked.
    An engine whose generate calls may run side by side (``concurrent_requests``: the OpenAI
    engine's servers, vLLM's one scheduler) batches several queries' documents together. The
    transformers engine batches one call's documents in this process (two calls at once would
    compete for the same memory)."""
    if not getattr(engine, "concurrent_requests", False):
        note = (f"the {engine.name} engine judges one query at a time (--queries-in-flight {asked} applies to "
                "OpenAI-compatible servers and vLLM)") if asked and asked > 1 else None
        return 1, note
    return max(1, asked or DEFAULT_QUERIES_IN_FLIGHT), None


@dataclass
class _QueryWork:
    """One query of the batch: its candidates (first stage over the whole list) and, when some are
    still to judge, its run and the thread judging it."""

    position: int
    benchmark_qid: str
    query_id: int
    candidates: list
    run: runs.Run | None = None
    thread: threading.Thread | None = None


def _judge_query(work: _QueryWork, engine: Engine, store: Store, token: CancelToken, events: queue.Queue) -> None:
    """The query's run through the one run path, in its own thread: each judgment, then the end
    (None, or the exception that stopped it), go to the batch's thread."""
    try:
        for judgment in runs.execute(work.run, engine, store, token):
            events.put((work.position, judgment))
    except BaseException as error:  # handed to the batch's thread, which raises it
        events.put((work.position, _Ended(error)))
        return
    events.put((work.position, _Ended(None)))


@dataclass
class _Ended:
    error: BaseException | None


def rerank_dataset(
    dataset: Dataset,
    engine: Engine,
    store: Store,
    *,
    top_k: int = 100,
    limit: int | None = None,
    instruction: str | None = None,
    truncate_length: int = prompt.DEFAULT_TRUNCATE_LENGTH,
    settings: GenerationSettings | None = None,
    alpha: float = scoring.DEFAULT_ALPHA,
    out_dir: str | Path | None = None,
    progress: bool = True,
    cancel: CancelToken | None = None,
    on_judgment: Callable[[Judgment], Any] | None = None,
    template: str = prompt.DEFAULT_TEMPLATE,
    queries_in_flight: int = 1,
    shard: Shard | None = None,
) -> BatchResult:
    """Judge the top ``top_k`` candidates of every query (the first ``limit`` queries) with the
    prompt template called ``template`` (the released code's by default).

    Each query is one run (``runs``), judged in its own thread; up to ``queries_in_flight`` runs
    judge at once (see ``queries_in_flight_for``), so a server is sent the documents of several
    queries together. Judgments stream into the store from each run as they arrive; queries are
    prepared (and skipped where the store has them) in order; ``on_judgment`` and the progress
    bar are called from the caller's thread."""
    settings = settings or GenerationSettings()
    instruction = instruction or dataset.instruction
    model = engine.model
    queries = dataset.queries()[: limit if limit is not None else None]
    queries = shard.select(queries) if shard is not None else queries  # --shard K/N: its 1/N
    result = BatchResult(dataset=dataset.name, model=model, queries=len(queries))
    qrels_rows = [(q.query_id, d, r) for q in queries for d, r in dataset.qrels(q.query_id).items()]
    if qrels_rows:
        store.add_qrels(qrels_rows, source=dataset.name)
    rankings: dict[str, dict[str, dict[str, float]]] = {kind: {} for kind in RUN_KINDS}
    started = time.perf_counter()
    bar = _progress(len(queries) * top_k, progress)
    # The batch's own stop (a failed run or Ctrl-C ends the other runs too), under the caller's.
    stop = CancelToken(parent=cancel)
    writing = WritingProgress()
    events: queue.Queue = queue.Queue()
    active: dict[int, _QueryWork] = {}
    waiting = iter(enumerate(queries, start=1))
    failure: BaseException | None = None

    def prepare(position: int, query) -> _QueryWork:
        text = text_rules.normalise_query(query.text)
        query_id = store.upsert_query(text, source=dataset.name, source_query_id=query.query_id)
        # The first stage over the whole candidate list, before any is skipped, so a resumed
        # query's BM25 scores are the ones of its first session.
        candidates, _ = runs.prepare_documents(text, dataset.candidates(query.query_id, top_k))
        done = store.judged_doc_ids(query_id, model)
        todo = [d for d in candidates if d.doc_id not in done]
        result.skipped += len(candidates) - len(todo)
        bar.total -= top_k - len(todo)
        work = _QueryWork(position, query.query_id, query_id, candidates)
        if todo:
            spec = runs.RunSpec(
                query=text, documents=todo, instruction=instruction, template=template,
                truncate_length=truncate_length, settings=settings, alpha=alpha,
                source=dataset.name, source_query_id=query.query_id,
            )
            work.run = runs.start(store, engine, spec)
        return work

    latest = [0]  # the last query started (read by the ticker's thread)

    def show() -> None:
        # Between judgments too (a ticker), so a batch whose documents take minutes still moves.
        line = progress_line(writing.snapshot(), bar.n, bar.total, time.perf_counter() - started,
                             settings.max_new_tokens)
        bar.set_postfix_str(f"query {latest[0]}/{len(queries)}, skipped {result.skipped}{batch_note(engine)}"
                            + (f", {line}" if line else ""))

    try:
        with ticking(WRITING_EVERY_S, show):
            while True:
                while len(active) < queries_in_flight and failure is None and not stop.cancelled:
                    position, query = next(waiting, (None, None))
                    if query is None:
                        break
                    work = prepare(position, query)
                    latest[0] = position
                    show()
                    bar.refresh()
                    if work.run is None:
                        _collect(store, work.query_id, work.benchmark_qid, work.candidates, model, alpha, rankings,
                                 result)
                        continue
                    # Judgments committed in small batches (count or a fraction of a second): a
                    # crash loses at most that batch, which a restart judges again.
                    token = CancelToken(parent=stop, writing=writing.scope())
                    work.thread = threading.Thread(target=_judge_query, args=(work, engine, store, token, events),
                                                   daemon=True, name=f"erank-batch-query-{position}")
                    active[position] = work
                    work.thread.start()
                if not active:
                    break
                position, item = events.get()
                if isinstance(item, _Ended):
                    work = active.pop(position)
                    work.thread.join()
                    if item.error is not None:
                        failure = failure or item.error
                        stop.cancel()
                    else:
                        _collect(store, work.query_id, work.benchmark_qid, work.candidates, model, alpha, rankings,
                                 result)
                    continue
                result.judged += 1
                bar.update(1)
                if on_judgment is not None:
                    on_judgment(item)
    finally:
        if active:  # Ctrl-C or a failure in this thread: the runs in flight end cancelled
            stop.cancel()
            for work in active.values():
                work.thread.join()
        bar.close()
        result.seconds = time.perf_counter() - started
    if failure is not None:
        raise failure
    # In the dataset's order, whichever query finished first.
    result.runs = {kind: {q.query_id: by_query[q.query_id] for q in queries if q.query_id in by_query}
                   for kind, by_query in rankings.items()}
    qrels = {q.query_id: dataset.qrels(q.query_id) for q in queries}
    if any(qrels.values()):
        for kind in RUN_KINDS:
            mean, _ = metrics.ndcg_at_10(result.runs[kind], qrels)
            result.ndcg[kind] = mean
    if out_dir is not None:
        result.files = write_runs(out_dir, dataset.name, model, result.runs, qrels)
    return result


def _collect(store, query_id, benchmark_qid, candidates, model, alpha, runs, result) -> None:
    """The query's three rankings from the store; hybrid scores written back to the store."""
    latest = latest_judgments(store, query_id, model)
    judged = [(d, latest[d.doc_id]) for d in candidates if d.doc_id in latest]
    result.failed += sum(1 for _, (_, j) in judged if j.status == STATUS_FAILED)
    runs["first_stage"][benchmark_qid] = {
        d.doc_id: float(d.first_stage_score) for d in candidates if d.first_stage_score is not None
    }
    runs["model"][benchmark_qid] = {d.doc_id: j.rank_score for d, (_, j) in judged if j.rank_score is not None}
    hybrid = scoring.hybrid([d.first_stage_score for d, _ in judged], [j.rank_score for _, (_, j) in judged], alpha)
    runs["hybrid"][benchmark_qid] = {d.doc_id: h for (d, _), h in zip(judged, hybrid) if h is not None}
    by_run: dict[int, dict[str, float | None]] = {}
    for (d, (run_id, j)), h in zip(judged, hybrid):
        if j.hybrid_score != h:
            by_run.setdefault(run_id, {})[d.doc_id] = h
    for run_id, values in by_run.items():
        store.set_hybrid_scores(run_id, values, alpha)


def write_runs(
    out_dir: str | Path,
    dataset: str,
    model: str,
    runs: dict[str, dict[str, dict[str, float]]],
    qrels: dict[str, dict[str, int]] | None = None,
) -> dict[str, Path]:
    """TREC run files ``<dataset>.<model>.<kind>.run`` (and ``<dataset>.qrels``); ties in
    score are broken by doc_id so the files are reproducible."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    tags = {"first_stage": "first_stage", "model": "erank", "hybrid": "hybrid"}
    for kind, run in runs.items():
        rows = []
        for qid in run:
            ranked = sorted(run[qid].items(), key=lambda x: (-x[1], x[0]))
            rows += [(qid, d, rank, s, tags.get(kind, kind)) for rank, (d, s) in enumerate(ranked, start=1)]
        # The model by the name people know it by (a local folder's last part, not its path).
        name = (f"{slug(dataset)}.first_stage.run" if kind == "first_stage"
                else f"{slug(dataset)}.{slug(display_name(model))}.{kind}.run")
        files[kind] = out / name
        write_run(files[kind], rows)
    rows = [(q, d, r) for q, docs in (qrels or {}).items() for d, r in docs.items()]
    if rows:
        files["qrels"] = out / f"{slug(dataset)}.qrels"
        write_qrels(files["qrels"], rows)
    return files
