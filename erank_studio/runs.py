"""A run's life, written once: what to judge (``RunSpec``), how it ends (``RunStatus``), and the one
generator (``execute``) that records the run, writes its judgments in batches, applies the hybrid
and finishes it. The web app's job (and so its HTTP API), ``rerank`` (with or without ``--save``),
the batch and the Python API all go through here, so one event gives one stored status wherever
the run was started:

- every document judged                         -> ``done``
- the cancel token set, the generator closed    -> ``cancelled``
  (a page or API client that went away, Ctrl-C)
- an exception from the engine (or the judging) -> ``failed`` (and the exception goes on)
- the process died while it ran                 -> ``interrupted`` (set later by the store)

Inputs go through ``text_rules``' one rule here (``prepare``), and the first stage through
``judge.ensure_first_stage`` (BM25 over the whole list when any document has no score, with a
note saying so), so the prompt the model reads is the same bytes from every entry point."""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum

from . import judge, parse, prompt, scoring, text_rules
from .engines.base import FINISH_CANCELLED, CancelToken, Engine
from .types import Document, GenerationSettings, Judgment

log = logging.getLogger(__name__)


class RunStatus(str, Enum):
    """A run's status as stored (the store's ``validation.RUN_STATUSES`` lists the same values)."""

    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value


@dataclass
class RunSpec:
    """What to judge and how: everything a run is recorded with."""

    query: str
    documents: list[Document]
    instruction: str = prompt.DEFAULT_INSTRUCTION
    template: str = prompt.DEFAULT_TEMPLATE
    truncate_length: int = prompt.DEFAULT_TRUNCATE_LENGTH
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    alpha: float = scoring.DEFAULT_ALPHA
    # The benchmark query this is (e.g. "bright/biology", "59"), None for a typed query.
    source: str | None = None
    source_query_id: str | None = None


@dataclass
class Run:
    """A prepared run: its spec after the input rules, and (once recorded) its ids and status."""

    spec: RunSpec
    model: str
    engine: str
    # What the person should know about the list, e.g. that BM25 replaced a partial first stage.
    note: str | None = None
    run_id: int | None = None
    query_id: int | None = None
    status: RunStatus = RunStatus.RUNNING
    judgments: list[Judgment] = field(default_factory=list)


def partial_first_stage_note(documents: Sequence[Document]) -> str | None:
    """The note for a list where only some documents carry a first-stage score (else None)."""
    missing = sum(1 for d in documents if d.first_stage_score is None)
    if 0 < missing < len(documents):
        return (f"{missing} of {len(documents)} documents had no first-stage score, so BM25 scored the "
                "whole list and the given scores were not used")
    return None


def prepare_documents(query: str, documents: Sequence[Document]) -> tuple[list[Document], str | None]:
    """Copies of ``documents`` under the input rule, with first-stage scores by the one rule, and
    the note about a partial first stage (``query`` must already be normalised)."""
    docs = [dataclasses.replace(d, text=text_rules.normalise_document(d.text)) for d in documents]
    note = partial_first_stage_note(docs)
    return judge.ensure_first_stage(query, docs), note


def prepare(spec: RunSpec, engine: Engine) -> Run:
    """The run ``spec`` describes, under the input rules; nothing is stored."""
    query = text_rules.normalise_query(spec.query)
    documents, note = prepare_documents(query, spec.documents)
    normalised = dataclasses.replace(spec, query=query, documents=documents,
                                     instruction=text_rules.normalise_instruction(spec.instruction))
    return Run(spec=normalised, model=engine.model, engine=engine.name, note=note)


def record(store, run: Run, chat_template_source: str | None = None) -> Run:
    """Store the query (with its benchmark id) and the run, ``running``."""
    spec = run.spec
    run.query_id = store.upsert_query(spec.query, source=spec.source, source_query_id=spec.source_query_id)
    run.run_id = store.start_run(
        run.query_id, spec.documents, model=run.model, engine=run.engine, instruction=spec.instruction,
        truncate_length=spec.truncate_length, generation=spec.settings, alpha=spec.alpha,
        template=spec.template, chat_template_source=chat_template_source,
    )
    return run


def start(store, engine: Engine, spec: RunSpec) -> Run:
    """``prepare`` then, with a store, ``record``."""
    run = prepare(spec, engine)
    return record(store, run, engine.chat_template_source) if store is not None else run


def _cancelled_placeholder(judgment: Judgment, cancel: CancelToken | None) -> bool:
    """A document the cancel stopped before it was judged: not a judgment."""
    return (cancel is not None and cancel.cancelled and judgment.failure == parse.ENGINE_ERROR
            and judgment.failure_detail == FINISH_CANCELLED)


def execute(
    run: Run,
    engine: Engine,
    store=None,
    cancel: CancelToken | None = None,
    judge_fn: Callable[..., Iterator[Judgment]] = judge.judge,
) -> Iterator[Judgment]:
    """Judge the run's documents, yielding each judgment as it arrives (appended to
    ``run.judgments``). With a store (the run recorded by ``start``), judgments are committed in
    small batches (the store's JudgmentWriter: a crash loses at most that batch) and, however the
    loop ends, the hybrid is applied once over the list, saved with the run's alpha, and the run
    finished with its status (see the module docstring). ``judge_fn`` is ``judge.judge`` or a
    wrapper of it (the app's GPU lease)."""
    spec = run.spec
    writer = store.judgment_writer(run.run_id) if store is not None else None
    status, ended = RunStatus.FAILED, False
    try:
        for judgment in judge_fn(engine, spec.query, spec.documents, spec.instruction, spec.truncate_length,
                                 spec.settings, cancel, template=spec.template):
            if _cancelled_placeholder(judgment, cancel):
                continue
            if writer is not None:
                writer.add(judgment)
            run.judgments.append(judgment)
            yield judgment
        status = RunStatus.CANCELLED if cancel is not None and cancel.cancelled else RunStatus.DONE
        ended = True
    except Exception:
        status = RunStatus.FAILED
        raise
    except BaseException:  # GeneratorExit (the caller stopped reading), KeyboardInterrupt
        status = RunStatus.CANCELLED
        raise
    finally:
        run.status = status
        judge.apply_hybrid(run.judgments, spec.alpha)
        if store is not None:
            _finish(store, run, writer, raise_errors=ended)


def _finish(store, run: Run, writer, raise_errors: bool) -> None:
    """Flush the judgments, save the hybrid and the status. A store that fails here loses at most
    the last batch; the run row then stays ``running`` until the store marks it interrupted. The
    error is raised when nothing else is (else logged, so the first cause is what is seen)."""
    first_error: Exception | None = None
    try:
        writer.close()
    except Exception as error:
        log.warning("run #%s: %d judgments could not be saved: %s", run.run_id, writer.pending, error)
        first_error = error
    try:
        if run.judgments:
            store.set_hybrid_scores(run.run_id, {j.doc_id: j.hybrid_score for j in run.judgments}, run.spec.alpha)
        store.finish_run(run.run_id, run.status.value)
    except Exception as error:
        log.warning("run #%s: could not save its end: %s", run.run_id, error)
        first_error = first_error or error
    if first_error is not None and raise_errors:
        raise first_error
