"""ZeroGPU on Hugging Face Spaces: the judging function runs under ``@spaces.GPU`` when the
``spaces`` package is present (it is on Spaces); elsewhere it is the plain pipeline."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache

from .. import judge
from ..types import Judgment

GPU_DURATION_S = 120


@lru_cache(maxsize=1)
def judge_fn() -> Callable[..., Iterator[Judgment]]:
    try:
        import spaces  # type: ignore[import-not-found]
    except Exception:  # not on Spaces (or a broken install): no GPU lease to take
        return judge.judge
    return spaces.GPU(duration=GPU_DURATION_S)(judge.judge)
