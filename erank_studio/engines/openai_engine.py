"""The OpenAI-compatible engine: any server that speaks chat completions with logprobs
(``vllm serve``, SGLang, llama.cpp's server, a hosted endpoint).

All documents of a request go out at once, ``concurrency`` at a time per server, and each comes
back the moment its response does. Timeouts and retries are the openai client's own
(``timeout=``, ``max_retries=``); a document whose request still fails becomes a failed
Generation with the reason, never an exception that stops the other documents.

Several servers (``base_url="URL1,URL2"``): each query goes to one of them and a failed server's
documents go to the others (servers.py); ``extra["server"]`` of each generation names the one
that judged it."""
from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from ..prompt import Prompt
from ..types import GenerationSettings
from .base import (
    EngineUnavailable,
    FINISH_CANCELLED,
    FINISH_ERROR,
    FINISH_LENGTH,
    FINISH_STOP,
    CancelToken,
    Generation,
    ScoreDigits,
    forcing_suffix,
)
from .forcing import DIGITS, digit_token_ids, forced_distribution
from .score_reading import read_score_digits
from .token_spans import byte_spans
from .servers import (
    DEFAULT_CONCURRENCY,
    RETRY_FAILED_AFTER_S,
    BaseURLError,
    Server,
    ServerFailed,
    ServerPool,
    is_server_failure,
    parse_base_urls,
    route_key,
)
from .tokenizers import CHAT_TEMPLATE_SERVER
from .writing import writing_of

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
PROBE_TIMEOUT_S = 5.0
FORCE_TOP_LOGPROBS = 20  # the most OpenAI's API (and vLLM's default max_logprobs) allows
# Alternatives per generated token: ERank's released code asks for 20; the top 20 at the score
# give the digits' probabilities there when all ten are among them (an extra step otherwise).
TOP_LOGPROBS = 20
_CANCEL_POLL_S = 0.1
_SPECIAL_LOOKING = re.compile(r"^(<\|[^<>]*\|>|</?s>|<eos>|<end_of_turn>)$")


class ServerUnavailable(EngineUnavailable):
    """The OpenAI-compatible server cannot be used; the message says why, for the user."""


def _first_env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _error_message(error: BaseException, base_url: str) -> str:
    import openai

    if isinstance(error, openai.APITimeoutError):
        return f"the request to {base_url} timed out"
    if isinstance(error, openai.APIConnectionError):
        return f"cannot reach the server at {base_url}: {error.__cause__ or error}"
    if isinstance(error, openai.APIStatusError):
        return f"the server at {base_url} answered HTTP {error.status_code}: {error.message}"
    return f"{type(error).__name__}: {error}"


class OpenAIEngine:
    name = "openai"
    # Its generate calls may run side by side (each its own requests): a batch judges several
    # queries at once through one engine (batch.queries_in_flight_for).
    concurrent_requests = True

    def __init__(
        self,
        model: str | None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout_s: float = 600.0,
        max_retries: int = 3,
        tokenizer: Any = None,
        is_reranker: bool = True,
        warning: str | None = None,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
        retry_failed_after_s: float = RETRY_FAILED_AFTER_S,
    ) -> None:
        try:
            urls = parse_base_urls(
                base_url
                or _first_env("ERANK_OPENAI_BASE_URL", "ERANK_BASE_URL", "OPENAI_BASE_URL")
                or DEFAULT_BASE_URL
            )
        except BaseURLError as error:
            raise ServerUnavailable(str(error)) from None
        self.base_url = ",".join(urls)
        self.api_key = api_key or _first_env("ERANK_OPENAI_API_KEY", "OPENAI_API_KEY") or "EMPTY"
        self.concurrency = max(1, int(concurrency))
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.is_reranker = is_reranker
        model, down = self._check_servers(urls, model, probe_timeout_s)
        self.model = model
        self._pool = ServerPool([self._server(url) for url in urls], retry_after_s=retry_failed_after_s)
        for server in self._pool.servers:
            if server.url in down:
                self._pool.fail(server, down[server.url])
        self.tokenizer, problem = self._load_tokenizer(tokenizer, model)
        # The server renders the messages with its own template; the local tokenizer only
        # measures and truncates.
        self.chat_template_source = CHAT_TEMPLATE_SERVER
        unreachable = [f"{url} does not answer ({why}); the other servers take its queries"
                       for url, why in down.items()]
        notes = [w for w in (warning, problem, *unreachable) if w]
        self.warning = " ".join(notes) if notes else None
        self._digits = digit_token_ids(self.tokenizer) if self.tokenizer is not None else None
        self._exact_forcing = True  # until the server refuses vLLM's logprob_token_ids
        special = getattr(self.tokenizer, "all_special_tokens", None) if self.tokenizer is not None else None
        self._special_tokens = set(special or [])

    # -- setup ------------------------------------------------------------------------------

    def _server(self, url: str) -> Server:
        import httpx
        import openai

        # One pool of connections per server, shared by the worker threads, sized for them.
        limits = httpx.Limits(max_connections=self.concurrency + 2, max_keepalive_connections=self.concurrency + 2)
        client = openai.OpenAI(
            base_url=url,
            api_key=self.api_key,
            timeout=self.timeout_s,
            max_retries=self.max_retries,
            http_client=httpx.Client(limits=limits, timeout=self.timeout_s),
        )
        return Server(url=url, client=client, slots=threading.BoundedSemaphore(self.concurrency))

    def _check_servers(
        self, urls: list[str], model: str | None, probe_timeout_s: float
    ) -> tuple[str, dict[str, str]]:
        """The model to ask for, and the servers that do not answer (url -> why). Every server
        that answers must serve the model (another model's judgments would be mixed in); one
        that does not answer is left to the others, unless none answers."""
        with ThreadPoolExecutor(max_workers=len(urls)) as probes:
            outcomes = list(probes.map(lambda url: self._probe(url, probe_timeout_s), urls))
        # why each silent server is silent: the connection error itself where there is one
        down = {url: str(outcome.__cause__ or outcome) for url, outcome in zip(urls, outcomes)
                if isinstance(outcome, Exception)}
        served = {url: outcome for url, outcome in zip(urls, outcomes) if not isinstance(outcome, Exception)}
        if not served:
            if len(urls) == 1:
                raise outcomes[0]
            raise ServerUnavailable("none of the servers answers: " + "; ".join(f"{u} ({why})" for u, why in down.items()))
        if not model:
            first = next(iter(served))
            if not served[first]:
                raise ServerUnavailable(f"the server at {first} lists no models; name one")
            model = served[first][0]
        for url, models in served.items():
            if models and model not in models:
                raise ServerUnavailable(
                    f"the server at {url} does not serve {model!r}; it serves: " + ", ".join(models)
                )
        return model, down

    def _probe(self, base_url: str, probe_timeout_s: float) -> list[str] | ServerUnavailable:
        try:
            return self._served_models(base_url, probe_timeout_s)
        except ServerUnavailable as error:
            return error

    def _served_models(self, base_url: str, probe_timeout_s: float) -> list[str]:
        """The server's model ids, asked with a short timeout so a dead server fails fast."""
        import httpx

        url = f"{base_url}/models"
        try:
            response = httpx.get(
                url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=probe_timeout_s
            )
        except httpx.HTTPError as error:
            raise ServerUnavailable(
                f"no OpenAI-compatible server answers at {base_url} ({type(error).__name__}: "
                f"{error}); start one (e.g. vllm serve MODEL) or set base_url / ERANK_OPENAI_BASE_URL"
            ) from error
        if response.status_code != 200:
            raise ServerUnavailable(
                f"GET {url} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            return [str(entry["id"]) for entry in response.json().get("data", [])]
        except Exception as error:  # not an OpenAI-style listing
            raise ServerUnavailable(f"GET {url} did not return an OpenAI model list") from error

    @staticmethod
    def _load_tokenizer(path: Any, model: str) -> tuple[Any | None, str | None]:
        """``path``: a tokenizer folder (or an already loaded tokenizer); else the model's own
        tokenizer if it is on this machine; else none, and a warning that says what that costs."""
        from transformers import AutoTokenizer

        if path is not None and not isinstance(path, (str, os.PathLike)):
            return path, None
        if path:
            return AutoTokenizer.from_pretrained(path), None
        try:
            return AutoTokenizer.from_pretrained(model, local_files_only=True), None
        except Exception:
            return None, (
                f"No tokenizer for {model} on this machine: query and document lengths are not "
                "measured or truncated here (the server sees them whole), and answer forcing is "
                "off. Pass tokenizer=<folder> to fix this."
            )

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "concurrency": self.concurrency,
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
            "tokenizer": getattr(self.tokenizer, "name_or_path", None),
            "servers": self._pool.describe(),
            "server_notes": self._pool.report(),
        }

    def server_report(self) -> list[str]:
        """Lines for the user: which server failed and whose documents went where (empty when
        every server answered)."""
        return self._pool.report()

    # -- generation -------------------------------------------------------------------------

    def _request(
        self, server: Server, index: int, prompt: Prompt, settings: GenerationSettings, cancel: CancelToken | None
    ) -> Generation:
        """One document on ``server``; raises ServerFailed where the server, not the document,
        is the problem (the caller moves the document to another server)."""
        if cancel is not None and cancel.cancelled:
            return Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
        started = time.perf_counter()
        # Sent whole (not streamed): the document counts as being written from here, and its
        # tokens arrive with the answer.
        writing_of(cancel).begin(index)
        try:
            response = server.client.chat.completions.create(
                model=self.model,
                messages=prompt.messages(),  # the truncated message; the server renders the chat
                max_tokens=settings.max_new_tokens,
                temperature=settings.temperature,
                top_p=settings.top_p,
                seed=settings.seed,
                logprobs=True,
                top_logprobs=TOP_LOGPROBS,
            )
        except Exception as error:  # one document's failure must not stop the others
            if is_server_failure(error):
                raise ServerFailed(_error_message(error, server.url)) from error
            return Generation(
                index=index, text="", finish_reason=FINISH_ERROR,
                error=_error_message(error, server.url), latency_s=time.perf_counter() - started,
            )
        latency = time.perf_counter() - started
        try:
            choice = response.choices[0]
            content = list(choice.logprobs.content or []) if choice.logprobs is not None else []
            text = choice.message.content or ""
            if choice.finish_reason == "stop" and content and self._is_stop_token(content[-1].token, text):
                content.pop()  # vLLM lists the EOS that ended the output; it is not in the text
            usage = response.usage
            generation = Generation(
                index=index,
                text=text,
                pieces=[entry.token for entry in content],
                # The server's bytes of each token place it in the text (a character written as
                # several byte tokens has one piece per byte, none of which spells it).
                spans=byte_spans([bytes(entry.bytes) if getattr(entry, "bytes", None) is not None else None
                                  for entry in content], text) if content else None,
                logprobs=[float(entry.logprob) for entry in content],
                finish_reason=FINISH_LENGTH if choice.finish_reason == "length" else FINISH_STOP,
                prompt_tokens=int(usage.prompt_tokens) if usage else 0,
                output_tokens=int(usage.completion_tokens) if usage else len(content),
                latency_s=latency,
            )
        except Exception as error:
            return Generation(
                index=index, text="", finish_reason=FINISH_ERROR, latency_s=latency,
                error=f"the server at {server.url} sent a response without the expected fields ({error})",
            )
        generation.score_digits = self._score_digits(server, generation, content, prompt)
        generation.latency_s = time.perf_counter() - started
        return generation

    def _score_digits(
        self, server: Server, generation: Generation, content: list[Any], prompt: Prompt
    ) -> ScoreDigits | None:
        """The digits at the score from the top 20 of its token (and of the next, after a "1"),
        else from the extra step through the completions endpoint of the same ``server`` (its
        prefix cache holds the prompt; needs the local tokenizer)."""

        def at_step(k: int) -> dict[str, float]:
            alternatives = getattr(content[k], "top_logprobs", None) or []
            return {a.token: math.exp(float(a.logprob)) for a in alternatives if a.token in DIGITS}

        def probe(k: int, known: dict[str, float] | None) -> ScoreDigits | None:
            if prompt.text is None or self.tokenizer is None or self._digits is None:
                return None
            # The server's own tokens are not in a chat response: the output up to the score is
            # tokenized here, as answer forcing does.
            context = list(self.tokenizer(prompt.text + "".join(generation.pieces[:k]),
                                          add_special_tokens=False)["input_ids"])
            try:
                first = known if known is not None else self._next_token_digits(server, context)
                after_one = self._next_token_digits(server, context + [self._digits["1"]])
            except Exception:  # best effort, like forcing: the judgment keeps its score
                return None
            return ScoreDigits(first, after_one.get("0", 0.0))

        try:
            return read_score_digits(generation.pieces, generation.text, generation.finish_reason, at_step, probe,
                                     generation.spans)
        except Exception:  # a malformed alternative list costs the distribution, never the judgment
            return None

    def _is_stop_token(self, token: str, text: str) -> bool:
        if text.endswith(token):
            return False
        if self._special_tokens:
            return token in self._special_tokens
        return bool(_SPECIAL_LOOKING.match(token))

    def generate(
        self,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> Iterator[Generation]:
        if not prompts:
            return
        route = _QueryRoute(self._pool, route_key(prompts[0].message, prompts[0].template), len(prompts))
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts)), thread_name_prefix="erank-openai")
        pending: dict[Future[Generation], int] = {
            pool.submit(self._routed_request, route, i, p, settings, cancel): i for i, p in enumerate(prompts)
        }
        try:
            while pending:
                if cancel is not None and cancel.cancelled:
                    # Requests in flight cannot be recalled; their answers are dropped.
                    for future, index in sorted(pending.items(), key=lambda item: item[1]):
                        future.cancel()
                        yield Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
                    pending.clear()
                    return
                done, _ = wait(pending, timeout=_CANCEL_POLL_S, return_when=FIRST_COMPLETED)
                for future in done:
                    pending.pop(future)
                    yield future.result()
        finally:
            # Also reached when the caller stops iterating early: do not start what is left.
            route.stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            route.close()

    def _routed_request(
        self, route: _QueryRoute, index: int, prompt: Prompt, settings: GenerationSettings, cancel: CancelToken | None
    ) -> Generation:
        """One document on its query's server, taken to the next server while servers fail."""
        tried: list[Server] = []
        failure = "no server left to try"
        while True:
            server = route.server(tried)
            if server is None:  # every server failed for this document
                return Generation(index=index, text="", finish_reason=FINISH_ERROR, error=failure)
            if not _take_slot(server, route.stop, cancel):
                route.done(server)
                return Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
            self._pool.sent(server)
            failure = ""
            try:
                generation = self._request(server, index, prompt, settings, cancel)
            except ServerFailed as error:
                failure = str(error)
            finally:
                server.slots.release()
                self._pool.answered(server, failed=bool(failure))
            if failure:
                self._pool.fail(server, failure)
                tried.append(server)
                continue
            route.done(server)
            if tried:
                self._pool.moved(tried[0], server)
            generation.extra["server"] = server.url
            return generation

    # -- answer forcing ---------------------------------------------------------------------

    def _next_token_digits(self, server: Server, token_ids: list[int]) -> dict[str, float]:
        """Probabilities of the digit tokens after ``token_ids``. Exact where the server takes
        vLLM's ``logprob_token_ids``; otherwise from the top 20 it returns (a digit outside them
        counts as 0)."""
        import openai

        assert self._digits is not None
        request: dict[str, Any] = dict(
            model=self.model,
            prompt=token_ids,  # token ids, so the server neither re-tokenizes nor re-templates
            max_tokens=1,
            temperature=0.0,
            logprobs=FORCE_TOP_LOGPROBS,
        )
        response = None
        if self._exact_forcing:
            try:
                response = server.client.completions.create(
                    **request, extra_body={"logprob_token_ids": list(self._digits.values())}
                )
            except openai.BadRequestError:  # not vLLM: ask for the top 20 from now on
                self._exact_forcing = False
        if response is None:
            response = server.client.completions.create(**request)
        top = response.choices[0].logprobs.top_logprobs[0] or {}
        return {d: math.exp(top[d]) for d in DIGITS if d in top}

    def force_scores(self, prompt: Prompt, partial_output: str) -> dict[int, float] | None:
        if self.tokenizer is None or self._digits is None or prompt.text is None:
            return None
        context = prompt.text + partial_output + forcing_suffix(partial_output)
        ids = list(self.tokenizer(context, add_special_tokens=False)["input_ids"])
        # The query's own server first (its prefix cache holds the prompt), the next one in the
        # query's order where that one fails.
        order = self._pool.order(route_key(prompt.message, prompt.template))
        for server in sorted(order, key=lambda s: not self._pool.is_healthy(s)):
            try:
                first = self._next_token_digits(server, ids)
                after_one = self._next_token_digits(server, ids + [self._digits["1"]])
            except Exception as error:  # forcing is best effort: the judgment stays a parse failure
                if is_server_failure(error) and len(order) > 1:
                    self._pool.fail(server, _error_message(error, server.url))
                    continue
                return None
            return forced_distribution(first, after_one.get("0", 0.0))
        return None


def _take_slot(server: Server, stop: threading.Event, cancel: CancelToken | None) -> bool:
    """Wait for one of the server's ``concurrency`` slots; False if the run stops meanwhile."""
    while not server.slots.acquire(timeout=_CANCEL_POLL_S):
        if stop.is_set() or (cancel is not None and cancel.cancelled):
            return False
    if stop.is_set() or (cancel is not None and cancel.cancelled):
        server.slots.release()
        return False
    return True


class _QueryRoute:
    """The server one query's documents go to, shared by its worker threads: chosen once, and
    chosen again (for every document not yet sent) when that server fails. Keeps the pool's
    count of the documents routed to each server."""

    def __init__(self, pool: ServerPool, key: str, size: int) -> None:
        self.pool = pool
        self.key = key
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._current: Server | None = None
        self._left = size  # documents not finished, counted on ``_current``

    def server(self, tried: list[Server]) -> Server | None:
        """The server for a document that already failed on ``tried`` (None: none left)."""
        with self._lock:
            current = self._current
            if current is not None and current not in tried and self.pool.is_healthy(current):
                return current
            chosen = self.pool.choose(self.key, self._left, exclude=tried)
            if chosen is None:
                return None
            if current is not None:  # the query's documents not yet finished move with it
                self.pool.release(current, self._left)
            self._current = chosen
            return chosen

    def done(self, server: Server) -> None:
        with self._lock:
            # (a document that finishes after the query moved, or after the caller stopped, was
            # counted on the new server, which close() releases)
            if server is self._current and self._left > 0:
                self._left -= 1
                self.pool.release(server, 1)

    def close(self) -> None:
        """The caller stopped: what was never finished no longer loads its server."""
        with self._lock:
            if self._current is not None and self._left:
                self.pool.release(self._current, self._left)
            self._left = 0

