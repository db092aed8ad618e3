"""Judgments written in small batches: one fsync'd commit per judgment costs more than a fast
engine's judging (100-800 commits/s against 3,000-17,000 rows/s batched), so a run's judgments
are buffered and committed every ``max_rows`` judgments or ``max_delay_s`` seconds after the
oldest unsaved one, whichever comes first. A crash loses at most that batch (a resumed batch
judges those documents again). Labels never go through here: a person's label is committed the
moment it is given (``Store.add_label``)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Protocol

from ..types import Judgment


class JudgmentSink(Protocol):
    """Where a batch goes: the store (``Store.add_judgments``, one transaction a batch). A
    protocol, so that this module needs nothing of the store's and the two import no cycle."""

    def add_judgments(self, run_id: int, judgments: Iterable[Judgment]) -> int: ...

DEFAULT_MAX_ROWS = 32
DEFAULT_MAX_DELAY_S = 0.25


class JudgmentWriter:
    """``add(judgment)`` buffers; a batch is committed when it holds ``max_rows`` judgments, or
    ``max_delay_s`` after its first judgment arrived (a timer thread, so a slow engine does not
    keep a judgment unsaved until the next one), on ``flush()`` and on ``close()`` / leaving the
    ``with`` block (also on an exception there). A failed timed flush is raised by the next
    ``add`` / ``flush`` / ``close``; the judgments stay buffered for another try."""

    def __init__(self, store: JudgmentSink, run_id: int, *, max_rows: int = DEFAULT_MAX_ROWS,
                 max_delay_s: float = DEFAULT_MAX_DELAY_S) -> None:
        if max_rows < 1 or max_delay_s < 0:
            raise ValueError("max_rows must be at least 1 and max_delay_s not negative")
        self.store = store
        self.run_id = run_id
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self.written = 0
        self._pending: list[Judgment] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._oldest = 0.0

    @property
    def pending(self) -> int:
        """Judgments received but not yet committed."""
        return len(self._pending)

    def add(self, judgment: Judgment) -> None:
        self._raise_timer_error()
        if self._closed:
            raise ValueError("this judgment writer is closed")
        with self._lock:
            self._pending.append(judgment)
            if len(self._pending) == 1:
                self._oldest = time.monotonic()
            due = len(self._pending) >= self.max_rows or time.monotonic() - self._oldest >= self.max_delay_s
            if due:
                self._flush_locked()
            elif self._timer is None:
                self._timer = threading.Timer(self.max_delay_s, self._timed_flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> int:
        """Commit what is buffered now; returns how many judgments were committed."""
        self._raise_timer_error()
        with self._lock:
            return self._flush_locked()

    def close(self) -> None:
        """Flush and stop the timer. Safe to call twice."""
        try:
            self.flush()
        finally:
            self._closed = True
            self._cancel_timer()

    def __enter__(self) -> JudgmentWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _flush_locked(self) -> int:
        self._cancel_timer()
        if not self._pending:
            return 0
        batch = list(self._pending)
        self.store.add_judgments(self.run_id, batch)  # raises: the batch stays for another try
        del self._pending[: len(batch)]
        self.written += len(batch)
        return len(batch)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            if self._timer is not threading.current_thread():
                self._timer.cancel()
            self._timer = None

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
            try:
                self._flush_locked()
            except BaseException as error:  # noqa: BLE001 - handed to the caller's next call
                self._error = error

    def _raise_timer_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
