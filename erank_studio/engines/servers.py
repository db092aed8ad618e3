"""Several OpenAI-compatible servers behind one engine: which server judges a query, how many
requests each takes at once, and what happens when one fails.

Routing: every document of one query (one ``generate`` call) goes to one server, so the query's
shared prompt prefix stays in that server's prefix cache (vLLM's automatic prefix caching, the
extra one-token requests for P(0..10) included). The server is the first of the query's own
order of the servers (rendezvous hashing of the query prefix: deterministic, and a failed server
moves only its own queries). When several queries are in flight, a server already holding more
than ``BALANCE_SLACK`` over its even share of the documents in flight passes the query on to the
next in that order (consistent hashing with bounded loads), so hashing a few dozen queries onto
a few servers cannot leave one server idle while another queues.

Failure: a request that fails for a reason of the server's (no connection, timeout, HTTP 5xx,
401/403/404/429, after the openai client's own retries) marks the server failed; its documents
go to the next server in the query's order, and the failed server is skipped for
``retry_after_s`` seconds, then tried again. Every move is noted (``ServerPool.notes``) and logged."""
from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 16  # requests in flight per server
RETRY_FAILED_AFTER_S = 60.0
BALANCE_SLACK = 0.25
# Statuses that say the server, not the document, is the problem. 400/413/422 (a prompt too long,
# a bad field) fail only their document.
SERVER_STATUSES = {401, 403, 404, 408, 429}


class BaseURLError(ValueError):
    """A --base-url list that cannot be used; the message says why in one line."""


def parse_base_urls(value: str | Sequence[str]) -> list[str]:
    """``URL1,URL2,...`` (or a list) -> the distinct URLs, without trailing slashes, in order."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    urls: list[str] = []
    for part in parts:
        url = str(part).strip().rstrip("/")
        if not url:
            continue
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise BaseURLError(f"base URL {url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
        if url not in urls:
            urls.append(url)
    if not urls:
        raise BaseURLError("no base URL given (e.g. http://127.0.0.1:8000/v1, or several separated by commas)")
    return urls


def is_server_failure(error: BaseException) -> bool:
    """Whether a failed request says the server is unusable (rather than this one document)."""
    import openai

    if isinstance(error, openai.APIConnectionError):  # refused, reset, DNS, timeouts
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code >= 500 or error.status_code in SERVER_STATUSES
    return False


class ServerFailed(RuntimeError):
    """Raised by a request that failed for a reason of the server's (see ``is_server_failure``)."""


def route_key(message: str, template: str) -> str:
    """What every prompt of a query shares (template head, instruction, query): the message up
    to the template's words before the document, so one query keeps one key whichever of its
    documents are asked. A query that itself contains those words is cut there: still the same
    key for all its documents, since a document only comes after them."""
    from ..prompt import template_text

    try:
        head = template_text(template).split("{doc}")[0]
    except ValueError:
        return message
    marker = head[head.rfind("}") + 1 :]  # between the query and the document
    cut = message.find(marker) if marker else -1
    return message[:cut] if cut >= 0 else message


def _weight(key: str, url: str) -> int:
    return int.from_bytes(hashlib.sha1(f"{url}\n{key}".encode("utf-8", "replace")).digest()[:8], "big")


@dataclass(eq=False)
class Server:
    url: str
    client: Any  # openai.OpenAI
    slots: threading.BoundedSemaphore
    load: int = 0  # documents routed here and not finished
    in_flight: int = 0  # requests sent and not answered
    judged: int = 0  # documents it answered
    failed_at: float | None = None
    failure: str | None = None
    failures: int = 0


@dataclass
class ServerPool:
    servers: list[Server]
    retry_after_s: float = RETRY_FAILED_AFTER_S
    notes: list[str] = field(default_factory=list)
    moves: dict[tuple[str, str], int] = field(default_factory=dict)  # (failed, took over) -> documents
    lock: threading.Lock = field(default_factory=threading.Lock)

    def is_healthy(self, server: Server) -> bool:
        """Not failed, or failed longer than ``retry_after_s`` ago (then it is tried again)."""
        return server.failed_at is None or time.monotonic() - server.failed_at >= self.retry_after_s

    def order(self, key: str) -> list[Server]:
        """The query's own order of the servers (rendezvous hashing)."""
        return sorted(self.servers, key=lambda s: _weight(key, s.url), reverse=True)

    def choose(self, key: str, size: int, exclude: Sequence[Server] = ()) -> Server | None:
        """The server for ``size`` documents of the query ``key`` (counted in its load) among
        those not in ``exclude``: a healthy one, else (every one failed lately) the first in
        the query's order, since a failure may have been the document's; None if none is left."""
        with self.lock:
            allowed = [s for s in self.order(key) if s not in exclude]
            candidates = [s for s in allowed if self.is_healthy(s)]
            if not candidates:
                if not allowed:
                    return None
                allowed[0].load += size
                return allowed[0]
            total = sum(s.load for s in candidates) + size
            cap = max(size, math.ceil(total / len(candidates) * (1.0 + BALANCE_SLACK)))
            chosen = next((s for s in candidates if s.load + size <= cap), None)
            if chosen is None:
                chosen = min(candidates, key=lambda s: s.load)
            chosen.load += size
            return chosen

    def release(self, server: Server, size: int = 1) -> None:
        with self.lock:
            server.load -= size

    def fail(self, server: Server, reason: str) -> None:
        if len(self.servers) == 1:  # nowhere else to go: each document keeps its own error
            return
        with self.lock:
            paused = server.failed_at is not None and time.monotonic() - server.failed_at < self.retry_after_s
            again = server.failures > 0
            server.failed_at = time.monotonic()
            server.failure = reason
            server.failures += 1
            note = f"server {server.url} failed ({reason}); its documents go to the other servers"
            if not again:
                self.notes.append(note)
        if not paused:  # the first failure, or one after a pause: once a minute at most, not per document
            log.log(logging.INFO if again else logging.WARNING, note)

    def moved(self, source: Server, target: Server) -> None:
        """One document of ``source`` (which failed) judged by ``target``."""
        with self.lock:
            self.moves[(source.url, target.url)] = self.moves.get((source.url, target.url), 0) + 1

    def sent(self, server: Server) -> None:
        with self.lock:
            server.in_flight += 1

    def answered(self, server: Server, failed: bool = False) -> None:
        """A request to ``server`` came back (``failed``: the server failed it)."""
        with self.lock:
            server.in_flight -= 1
            if failed:
                return
            server.judged += 1
            if server.failed_at is not None:  # back after its pause
                server.failed_at = None
                self.notes.append(f"server {server.url} answers again")

    def report(self) -> list[str]:
        """What happened to the servers, for the user: failures, and whose documents went where."""
        with self.lock:
            moved = [f"{n} document(s) of {a} judged by {b}" for (a, b), n in self.moves.items()]
            return list(self.notes) + moved

    def describe(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"url": s.url, "judged": s.judged, "in_flight": s.in_flight, "failures": s.failures,
                 "last_failure": s.failure}
                for s in self.servers
            ]
