"""Progress inside documents: the documents an engine is writing now and their tokens so far.

A judgment arrives only when its document is finished, and a document can take minutes (ERank
writes ~400 tokens of reasoning, a model that never closes its answer writes to its budget), so a
run's count of judged documents can sit still for a long time while the engine works. Engines
report here as they write (the transformers loop every few decode steps, the OpenAI-compatible
engine when a request is sent; ``judge.judge`` closes each document when its generation comes
back, for every engine), and the page and the CLI read one line from it (``progress_line``).

The tracker travels on the run's ``CancelToken`` (``writing_of``), so the engines' interface is
unchanged and engines that report nothing still work. Thread-safe: the OpenAI engine reports from
its worker threads, and a batch with several queries in flight shares one tracker (each run has
its own ``WritingScope``, so document positions of different runs never collide)."""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)

# The transformers loop reports every this many decode steps: one lock a report, not one a token.
REPORT_EVERY_STEPS = 4
MIN_RATE_S = 1.0  # seconds of writing before a rate (and an estimate from it) is shown


@dataclass(frozen=True)
class WritingSnapshot:
    """What the engines are writing at one moment."""

    documents: int  # being written now
    tokens_now: int  # tokens so far of the documents being written
    longest: int  # the most tokens one of them has so far
    written: int  # every token written since the tracker started (finished documents included)
    seconds: float  # since the first document began

    @property
    def tokens_per_s(self) -> float:
        """0 in the first second: a rate over a few milliseconds says nothing."""
        return self.written / self.seconds if self.seconds >= MIN_RATE_S else 0.0


class WritingProgress:
    """Documents being written, by (scope, position), with their tokens so far."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._now: dict[tuple[int, int], int] = {}
        self._finished_tokens = 0
        self._began: float | None = None
        self._scopes = itertools.count()

    def scope(self) -> WritingScope:
        """The reporter for one run's documents (its positions are its own)."""
        return WritingScope(self, next(self._scopes))

    def _begin(self, key: tuple[int, int]) -> None:
        with self._lock:
            if self._began is None:
                self._began = self._clock()
            self._now.setdefault(key, 0)

    def _tokens(self, keys: Mapping[tuple[int, int], int]) -> None:
        with self._lock:
            if self._began is None:
                self._began = self._clock()
            self._now.update(keys)

    def _end(self, key: tuple[int, int], tokens: int) -> None:
        with self._lock:
            so_far = self._now.pop(key, 0)
            self._finished_tokens += max(int(tokens), so_far)

    def snapshot(self) -> WritingSnapshot:
        with self._lock:
            now = list(self._now.values())
            seconds = 0.0 if self._began is None else self._clock() - self._began
            return WritingSnapshot(documents=len(now), tokens_now=sum(now), longest=max(now, default=0),
                                   written=self._finished_tokens + sum(now), seconds=seconds)


class WritingScope:
    """One run's reporter: ``begin`` when a document starts, ``tokens`` as it grows, ``end`` when its
    generation is handed back. A scope without a tracker (``NO_WRITING``) does nothing."""

    def __init__(self, tracker: WritingProgress | None, scope: int = 0) -> None:
        self._tracker, self._scope = tracker, scope

    def begin(self, *indices: int) -> None:
        if self._tracker is not None:
            for index in indices:
                self._tracker._begin((self._scope, index))

    def tokens(self, counts: Mapping[int, int]) -> None:
        """Tokens so far, by document position."""
        if self._tracker is not None and counts:
            self._tracker._tokens({(self._scope, i): int(n) for i, n in counts.items()})

    def end(self, index: int, tokens: int = 0) -> None:
        if self._tracker is not None:
            self._tracker._end((self._scope, index), tokens)


NO_WRITING = WritingScope(None)


def writing_of(cancel: object) -> WritingScope:
    """The reporter the run's token carries, or one that does nothing."""
    scope = getattr(cancel, "writing", None)
    return scope if isinstance(scope, WritingScope) else NO_WRITING


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def time_left(done: int, total: int, elapsed_s: float, snapshot: WritingSnapshot, budget: int | None) -> str:
    """The estimate of the time left: from the pace of finished documents once there are some,
    before that an upper bound from the token rate and the budget (every document written to it)."""
    left = total - done
    if left <= 0:
        return ""
    if done > 0 and elapsed_s > 0:
        return f"about {_duration(elapsed_s / done * left)} left"
    if budget and snapshot.tokens_per_s > 0:
        bound = (left * budget - snapshot.tokens_now) / snapshot.tokens_per_s
        return f"at most {_duration(bound)} left" if bound >= 1 else ""
    return ""


def progress_line(snapshot: WritingSnapshot, done: int, total: int, elapsed_s: float,
                  budget: int | None = None) -> str:
    """"writing 4 documents: 812 tokens so far (longest 240 of 1024) · 38.2 tokens/s · about 3 min
    left", or "" while nothing is being written. Plain text of numbers only."""
    if snapshot.documents == 0:
        return ""
    noun = "document" if snapshot.documents == 1 else "documents"
    head = f"writing {snapshot.documents} {noun}"
    if snapshot.tokens_now:  # none where the engine hears of tokens only with each answer (a server's)
        longest = f"longest {snapshot.longest}" + (f" of {budget}" if budget else "")
        head += f": {snapshot.tokens_now} tokens so far ({longest})"
    parts = [head]
    if snapshot.tokens_per_s > 0:
        parts.append(f"{snapshot.tokens_per_s:.1f} tokens/s")
    left = time_left(done, total, elapsed_s, snapshot, budget)
    if left:
        parts.append(left)
    return " · ".join(parts)


@contextmanager
def ticking(every_s: float, report: Callable[[], object]) -> Iterator[None]:
    """Call ``report`` every ``every_s`` seconds from a daemon thread while the block runs (a CLI's
    progress between judgments, which come only when documents finish)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                report()
            except Exception:  # a progress line that fails must never stop or clutter the run
                log.debug("progress report failed", exc_info=True)

    thread = threading.Thread(target=loop, daemon=True, name="erank-writing-ticker")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s + 1)
