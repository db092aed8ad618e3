"""ZeroGPU on Hugging Face Spaces: the judging function runs under ``@spaces.GPU`` when the
``spaces`` package is present (it is on Spaces); elsewhere it is the plain pipeline.

A ZeroGPU call holds a GPU for the ``duration`` it asks for, and is stopped when that runs out, so
the duration is computed per run from its size: every document may use the whole generation
budget. The estimate assumes GPU_TOKENS_PER_S decoded tokens a second over the batch (ERank-4B in
bfloat16 with the transformers engine's batched loop; not yet measured on a ZeroGPU slice), and is
capped at what ZeroGPU grants every visitor, signed in or not (120 s; ERANK_GPU_MAX_DURATION sets
another cap where visitors sign in and have more). A run that needs more than the cap is stopped
when the lease ends and keeps what was judged."""
from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from .. import judge
from ..types import GenerationSettings, Judgment

GPU_START_S = 20  # taking the GPU, moving the weights onto it, the first batch's prefill
GPU_TOKENS_PER_S = 1500
GPU_MIN_DURATION_S = 60  # ZeroGPU's own default
GPU_MAX_DURATION_ENV = "ERANK_GPU_MAX_DURATION"
GPU_MAX_DURATION_S = 120

_JUDGE_SIGNATURE = inspect.signature(judge.judge)


def gpu_duration(*args: Any, **kwargs: Any) -> int:
    """Seconds of GPU a ``judge.judge(*args, **kwargs)`` call asks for: start-up plus every
    document's whole budget at GPU_TOKENS_PER_S, within [GPU_MIN_DURATION_S, the cap]."""
    call = _JUDGE_SIGNATURE.bind(*args, **kwargs)
    call.apply_defaults()
    documents = len(call.arguments["documents"])
    settings = call.arguments["settings"] or GenerationSettings()
    needed = GPU_START_S + math.ceil(documents * settings.max_new_tokens / GPU_TOKENS_PER_S)
    cap = int(os.environ.get(GPU_MAX_DURATION_ENV) or GPU_MAX_DURATION_S)
    return max(GPU_MIN_DURATION_S, min(needed, cap))


@lru_cache(maxsize=1)
def judge_fn() -> Callable[..., Iterator[Judgment]]:
    try:
        import spaces  # type: ignore[import-not-found]
    except Exception:  # not on Spaces (or a broken install): no GPU lease to take
        return judge.judge
    # spaces calls ``duration`` with the call's own arguments before it takes the GPU.
    return spaces.GPU(duration=gpu_duration)(judge.judge)
