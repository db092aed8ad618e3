"""The transformers engine's continuous-batching path: transformers' ContinuousBatchingManager
(paged KV cache, prefix block sharing, logprobs read in the sampling step) behind the engine's
interface. Each document is handed back the moment the manager reports it finished, and a
cancel stops every request still running.

Greedy only: the manager's logprobs are read after its logits processors, so with a temperature
they would be the warped distribution's, not the model's (the engine's own loop reports the
model's); the engine takes its own loop for sampling."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .base import FINISH_CANCELLED, FINISH_ERROR, FINISH_LENGTH, FINISH_STOP, CancelToken, Generation

POLL_S = 0.05  # how often a cancel is noticed while no document finishes
PAGE_SIZE = 256  # tokens per KV-cache page (transformers' default)
# Tokens read per step (prompts are read in chunks of this); the SDPA mask is this x the cache.
MAX_BATCH_TOKENS = 1024


def sized_config(prompt_tokens: Sequence[int], max_new_tokens: int, max_batch: int) -> Any:
    """transformers' continuous-batching settings for this work, logprobs on. The paged cache is
    sized to the work, not to the free memory: with SDPA (no flash attention) every step builds a
    mask over the whole cache, so a cache sized to a CPU's RAM makes each step seconds long."""
    from transformers import ContinuousBatchingConfig

    blocks = sum(-(-(n + max_new_tokens) // PAGE_SIZE) for n in prompt_tokens) + 1
    return ContinuousBatchingConfig(
        return_logprobs=True, max_requests_per_batch=max_batch, auto_switch_to_flash=False,
        page_size=PAGE_SIZE, num_blocks=blocks, max_batch_tokens=MAX_BATCH_TOKENS,
    )


def generate_continuous(
    model: object,
    requests: Sequence[tuple[int, list[int]]],
    max_new_tokens: int,
    eos_ids: set[int],
    pad_id: int,
    max_batch: int,
    cancel: CancelToken | None,
    finish: Callable[[int, list[int], list[float], str, int, float], Generation],
) -> Iterator[Generation]:
    """One Generation per (index, prompt ids) request, each as soon as it finishes."""
    import torch
    from transformers import GenerationConfig
    from transformers.generation.continuous_batching.utils import WorkloadHints

    started = time.perf_counter()
    generation_config = GenerationConfig(
        do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=sorted(eos_ids), pad_token_id=pad_id,
    )
    cb_config = sized_config([len(ids) for _, ids in requests], max_new_tokens, max_batch)
    hints = WorkloadHints(
        max_prompt_length=max(len(ids) for _, ids in requests),
        max_generated_length=max_new_tokens,
        num_requests=len(requests),
    )
    on_gpu = getattr(model, "device", torch.device("cpu")).type == "cuda"
    prompt_tokens = {f"doc{index}": len(ids) for index, ids in requests}
    with model.continuous_batching_context_manager(  # type: ignore[attr-defined]
        generation_config=generation_config,
        continuous_batching_config=cb_config,
        warmup=on_gpu,  # CUDA-graph capture; nothing to capture on a CPU
        workload_hints=hints,
    ) as manager:
        for index, ids in requests:
            manager.add_request(
                list(ids), request_id=f"doc{index}", max_new_tokens=max_new_tokens, eos_token_id=sorted(eos_ids),
            )
        pending = set(prompt_tokens)
        while pending:
            if cancel is not None and cancel.cancelled:
                for request_id in sorted(pending):
                    manager.cancel_request(request_id)
                    done = finish(int(request_id[3:]), [], [], FINISH_CANCELLED, prompt_tokens[request_id], started)
                    done.error = "cancelled"
                    yield done
                return
            result = manager.get_result(timeout=POLL_S)
            if result is None:
                if not manager.is_running():
                    raise RuntimeError("transformers' continuous batching stopped before every document finished")
                continue
            if not result.is_finished() or result.request_id not in pending:
                continue
            pending.discard(result.request_id)
            index = int(result.request_id[3:])
            tokens, logprobs = list(result.generated_tokens), list(result.logprobs)
            if result.error is not None:
                done = finish(index, [], [], FINISH_ERROR, prompt_tokens[result.request_id], started)
                done.error = str(result.error)
                yield done
                continue
            reason = FINISH_LENGTH
            if tokens and tokens[-1] in eos_ids:  # the engine's generations exclude the EOS token
                tokens, logprobs, reason = tokens[:-1], logprobs[:-1], FINISH_STOP
            yield finish(index, tokens, logprobs[: len(tokens)], reason, prompt_tokens[result.request_id], started)
