"""The OpenAI-compatible engine: any server that speaks chat completions with logprobs
(``vllm serve``, SGLang, llama.cpp's server, a hosted endpoint).

All documents of a request go out at once, ``concurrency`` at a time, and each comes back the
moment its response does. Timeouts and retries are the openai client's own (``timeout=``,
``max_retries=``); a document whose request still fails becomes a failed Generation with the
reason, never an exception that stops the other documents."""
from __future__ import annotations

import math
import os
import re
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
        concurrency: int = 16,
        timeout_s: float = 600.0,
        max_retries: int = 3,
        tokenizer: Any = None,
        is_reranker: bool = True,
        warning: str | None = None,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        import httpx
        import openai

        self.base_url = (
            base_url or _first_env("ERANK_OPENAI_BASE_URL", "OPENAI_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.api_key = api_key or _first_env("ERANK_OPENAI_API_KEY", "OPENAI_API_KEY") or "EMPTY"
        self.concurrency = max(1, int(concurrency))
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.is_reranker = is_reranker
        served = self._served_models(probe_timeout_s)
        if not model:
            if not served:
                raise ServerUnavailable(f"the server at {self.base_url} lists no models; name one")
            model = served[0]
        elif served and model not in served:
            raise ServerUnavailable(
                f"the server at {self.base_url} does not serve {model!r}; it serves: "
                + ", ".join(served)
            )
        self.model = model
        # One pool of connections shared by the worker threads, sized for them.
        limits = httpx.Limits(max_connections=self.concurrency + 2, max_keepalive_connections=self.concurrency + 2)
        self.client = openai.OpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout=self.timeout_s,
            max_retries=self.max_retries,
            http_client=httpx.Client(limits=limits, timeout=self.timeout_s),
        )
        self.tokenizer, problem = self._load_tokenizer(tokenizer, model)
        # The server renders the messages with its own template; the local tokenizer only
        # measures and truncates.
        self.chat_template_source = CHAT_TEMPLATE_SERVER
        notes = [w for w in (warning, problem) if w]
        self.warning = " ".join(notes) if notes else None
        self._digits = digit_token_ids(self.tokenizer) if self.tokenizer is not None else None
        self._exact_forcing = True  # until the server refuses vLLM's logprob_token_ids
        special = getattr(self.tokenizer, "all_special_tokens", None) if self.tokenizer is not None else None
        self._special_tokens = set(special or [])

    # -- setup ------------------------------------------------------------------------------

    def _served_models(self, probe_timeout_s: float) -> list[str]:
        """The server's model ids, asked with a short timeout so a dead server fails fast."""
        import httpx

        url = f"{self.base_url}/models"
        try:
            response = httpx.get(
                url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=probe_timeout_s
            )
        except httpx.HTTPError as error:
            raise ServerUnavailable(
                f"no OpenAI-compatible server answers at {self.base_url} ({type(error).__name__}: "
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
        }

    # -- generation -------------------------------------------------------------------------

    def _request(self, index: int, prompt: Prompt, settings: GenerationSettings, cancel: CancelToken | None) -> Generation:
        if cancel is not None and cancel.cancelled:
            return Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
        started = time.perf_counter()
        # Sent whole (not streamed): the document counts as being written from here, and its
        # tokens arrive with the answer.
        writing_of(cancel).begin(index)
        try:
            response = self.client.chat.completions.create(
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
            return Generation(
                index=index, text="", finish_reason=FINISH_ERROR,
                error=_error_message(error, self.base_url), latency_s=time.perf_counter() - started,
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
                error=f"the server at {self.base_url} sent a response without the expected fields ({error})",
            )
        generation.score_digits = self._score_digits(generation, content, prompt)
        generation.latency_s = time.perf_counter() - started
        return generation

    def _score_digits(self, generation: Generation, content: list[Any], prompt: Prompt) -> ScoreDigits | None:
        """The digits at the score from the top 20 of its token (and of the next, after a "1"),
        else from the extra step through the completions endpoint (needs the local tokenizer)."""

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
                first = known if known is not None else self._next_token_digits(context)
                after_one = self._next_token_digits(context + [self._digits["1"]])
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
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts)), thread_name_prefix="erank-openai")
        pending: dict[Future[Generation], int] = {
            pool.submit(self._request, i, p, settings, cancel): i for i, p in enumerate(prompts)
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
            pool.shutdown(wait=False, cancel_futures=True)

    # -- answer forcing ---------------------------------------------------------------------

    def _next_token_digits(self, token_ids: list[int]) -> dict[str, float]:
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
                response = self.client.completions.create(
                    **request, extra_body={"logprob_token_ids": list(self._digits.values())}
                )
            except openai.BadRequestError:  # not vLLM: ask for the top 20 from now on
                self._exact_forcing = False
        if response is None:
            response = self.client.completions.create(**request)
        top = response.choices[0].logprobs.top_logprobs[0] or {}
        return {d: math.exp(top[d]) for d in DIGITS if d in top}

    def force_scores(self, prompt: Prompt, partial_output: str) -> dict[int, float] | None:
        if self.tokenizer is None or self._digits is None or prompt.text is None:
            return None
        context = prompt.text + partial_output + forcing_suffix(partial_output)
        ids = list(self.tokenizer(context, add_special_tokens=False)["input_ids"])
        try:
            first = self._next_token_digits(ids)
            after_one = self._next_token_digits(ids + [self._digits["1"]])
        except Exception:  # forcing is best effort: the judgment stays a parse failure
            return None
        return forced_distribution(first, after_one.get("0", 0.0))

