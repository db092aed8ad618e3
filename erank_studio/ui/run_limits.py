"""The numbers a run accepts, checked before anything is stored: one rule for the UI's boxes and
the API's arguments, with a message that names the field and its range."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..types import GenerationSettings

ALPHA_RANGE = (0.0, 1.0)
TRUNCATE_RANGE = (16, 32768)
# ERank's traces stay well under this; the cap keeps one request from holding the run slot for
# hours (an API run asked for 100,000,000 tokens).
MAX_NEW_TOKENS_CAP = 8192


class RunSettingError(ValueError):
    """A number out of its range; the message names the field."""


@dataclass(frozen=True)
class RunNumbers:
    alpha: float
    truncate_length: int
    max_new_tokens: int


def _number(value: Any, field: str, low: float, high: float, *, whole: bool) -> float:
    kind = "a whole number" if whole else "a number"
    wanted = f"{field} must be {kind} from {low:g} to {high:g}"
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise RunSettingError(f"{wanted} (it is empty)")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RunSettingError(f"{wanted}, not {str(value)[:40]!r}") from None
    if not math.isfinite(number) or (whole and number != int(number)) or not low <= number <= high:
        raise RunSettingError(f"{wanted}, not {number:g}")
    return number


def max_new_tokens_limit(engine: Any = None, operator_default: int = 0) -> int:
    """The generation budget a request may ask for: the cap (or the operator's larger default),
    never more than the model's context where the engine knows it."""
    limit = max(MAX_NEW_TOKENS_CAP, int(operator_default or 0))
    context = getattr(engine, "max_model_len", None)
    if isinstance(context, int) and context > 0:
        limit = min(limit, context)
    return limit


def check_numbers(alpha: Any, truncate_length: Any, max_new_tokens: Any, *, max_new_tokens_max: int) -> RunNumbers:
    """Raise ``RunSettingError`` naming the first field out of range."""
    return RunNumbers(
        alpha=_number(alpha, "alpha", *ALPHA_RANGE, whole=False),
        truncate_length=int(_number(truncate_length, "truncate_length", *TRUNCATE_RANGE, whole=True)),
        max_new_tokens=int(_number(max_new_tokens, "max_new_tokens", 1, max_new_tokens_max, whole=True)),
    )


def settings_for(numbers: RunNumbers, force_answer: bool, engine: Any) -> GenerationSettings:
    """Generation settings; models that are not rerankers always get a forced answer."""
    return GenerationSettings(max_new_tokens=numbers.max_new_tokens,
                              force_answer=bool(force_answer) or not getattr(engine, "is_reranker", True))
