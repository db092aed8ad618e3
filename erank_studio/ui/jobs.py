"""Runs as server-side jobs: a run judges in its own thread, so a browser tab that reloads or
closes does not stop it; any page (or API client) follows it and any session can cancel it.

One job at a time (the model is shared: an engine batches one run's documents, and two runs at
once would compete for the same GPU memory). A second start while one runs raises ``RunBusy``;
callers wait for ``wait_idle`` and try again.

Nothing here imports gradio: the job manager is tested directly (tests/ui/test_jobs.py)."""
from __future__ import annotations

import contextvars
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .. import judge, runs
from ..engines.base import CancelToken, Engine
from ..engines.writing import WritingProgress, progress_line
from ..store import Store
from ..types import Judgment
from . import session
from .session import RunView

log = logging.getLogger(__name__)

FOLLOW_TICK_S = 1.0  # a follower hears from the job at least this often (elapsed time, disconnects)


class RunBusy(RuntimeError):
    """Another run holds the model."""

    def __init__(self, job: RunJob) -> None:
        super().__init__(f"run #{job.run_id} is in progress ({job.judged} of {job.n_documents} documents)")
        self.job = job


@dataclass
class RunJob:
    """One run in progress. Only the job's thread changes ``view``; followers read the judgments
    through ``since`` and keep their own copies."""

    view: RunView
    owner: str
    token: CancelToken = field(default_factory=CancelToken)
    started: float = field(default_factory=time.monotonic)
    error: str | None = None
    # What the engine is writing now (tokens so far), heard through the token.
    writing: WritingProgress = field(default_factory=WritingProgress)
    # Why the run's budget is not the one asked for (the demo model's), shown while it runs.
    note: str | None = None
    _judged: int = 0
    _finished: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        if self.token.writing is None:
            self.token.writing = self.writing.scope()

    def writing_line(self) -> str:
        """The documents being written, their tokens so far, tokens/s and the time left ("" while
        none is being written)."""
        run = self.view.run
        budget = run.spec.settings.max_new_tokens if run is not None else None
        return progress_line(self.writing.snapshot(), self._judged, self.n_documents, self.elapsed(), budget)

    @property
    def run_id(self) -> int:
        return int(self.view.run_id or 0)

    @property
    def n_documents(self) -> int:
        return len(self.view.documents)

    @property
    def judged(self) -> int:
        return self._judged

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def status(self) -> str:
        return self.view.status if self._finished else runs.RunStatus.RUNNING.value

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def cancel(self) -> None:
        self.token.cancel()

    def since(self, seen: int) -> list[Judgment]:
        """The judgments after the first ``seen`` (the job's own objects: copy before changing)."""
        with self._cond:
            return self.view.judgments[seen:self._judged]

    def wait(self, seen: int, timeout: float) -> None:
        """Return once there are more than ``seen`` judgments, the job finished, or ``timeout`` passed."""
        with self._cond:
            self._cond.wait_for(lambda: self._judged > seen or self._finished, timeout)

    def follow(self, seen: int = 0, tick: float = FOLLOW_TICK_S) -> Iterator[list[Judgment]]:
        """The judgments new since the last step (possibly none, every ``tick`` seconds) until the
        job ends; the last step holds everything that was left."""
        while True:
            self.wait(seen, tick)
            finished = self._finished  # read before the slice: a finished job has nothing more to add
            new = self.since(seen)
            seen += len(new)
            yield new
            if finished:
                return

    def follower_view(self) -> RunView:
        """A view of the run for one follower: the job's metadata and copies of what is judged so
        far, so that a page re-ranking its copy never changes what the job saves."""
        return dataclasses.replace(self.view, judgments=copy_judgments(self.since(0)), status=self.status)

    def _progress(self) -> None:
        with self._cond:
            self._judged = len(self.view.judgments)
            self._cond.notify_all()

    def _finish(self) -> None:
        with self._cond:
            self._judged = len(self.view.judgments)
            self._finished = True
            self._cond.notify_all()


def copy_judgments(judgments: list[Judgment]) -> list[Judgment]:
    return [dataclasses.replace(j) for j in judgments]


class JobManager:
    """Starts runs in a thread, one at a time, and knows the one in progress."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._current: RunJob | None = None
        self._idle = threading.Condition()

    def current(self) -> RunJob | None:
        """The job in progress, or None."""
        job = self._current
        return job if job is not None and not job.finished else None

    def job(self, run_id: int | None) -> RunJob | None:
        """The job in progress if it is run ``run_id``."""
        job = self.current()
        return job if job is not None and run_id is not None and job.run_id == int(run_id) else None

    def start(
        self,
        engine: Engine,
        spec: runs.RunSpec,
        *,
        owner: str,
        judge_fn: Callable[..., Iterator[Judgment]] = judge.judge,
        note: str | None = None,
    ) -> RunJob:
        """Record the run ``spec`` describes and start judging it in a thread, for ``owner`` (a
        page's session, or the API), with ``note`` shown while it runs; raises ``RunBusy`` while
        another runs (nothing is stored then)."""
        with self._idle:
            running = self.current()
            if running is not None:
                raise RunBusy(running)
            view = session.start_run(self._store, engine, spec)
            job = self._current = RunJob(view=view, owner=owner, note=note)
        # The caller's context travels with the thread (Gradio's request, which ZeroGPU's lease reads).
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(self._work, job, engine, judge_fn),
                         daemon=True, name=f"erank-run-{job.run_id}").start()
        return job

    def _work(self, job: RunJob, engine: Engine, judge_fn: Callable[..., Iterator[Judgment]]) -> None:
        try:
            for _ in session.stream_judgments(self._store, engine, job.view, cancel=job.token,
                                              judge_fn=judge_fn):
                job._progress()
        except Exception as error:  # an engine crash: what was judged is saved; followers are told
            log.warning("run #%s stopped: %s", job.run_id, error)
            job.error = str(error) or type(error).__name__
        finally:
            job._finish()
            with self._idle:
                self._idle.notify_all()

    def cancel(self) -> RunJob | None:
        """Cancel the job in progress (whoever started it); the job it cancelled, or None."""
        job = self.current()
        if job is not None:
            job.cancel()
        return job

    def wait_idle(self, timeout: float) -> bool:
        """True once no job runs (at most ``timeout`` seconds)."""
        with self._idle:
            return self._idle.wait_for(lambda: self.current() is None, timeout)
