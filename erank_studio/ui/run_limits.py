"""The numbers a run accepts, checked before anything is stored: one rule for the UI's boxes and
the API's arguments, with a message that names the field and its range."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..engines import fitted_budget, suggested_max_new_tokens
from ..types import DEFAULT_MAX_NEW_TOKENS, GenerationSettings

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
    # None: the box was left empty, so the run gets the loaded model's budget (settings_for).
    max_new_tokens: int | None


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
        max_new_tokens=None if _is_empty(max_new_tokens)
        else int(_number(max_new_tokens, "max_new_tokens", 1, max_new_tokens_max, whole=True)),
    )


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def model_budget(engine: Any, operator_budget: int | None) -> int:
    """The generation budget of a run that names none: the operator's (``ERANK_MAX_NEW_TOKENS``),
    else the loaded model's (1,024 for the CPU default, where a document must decode in about a
    minute; ERank's released 4,096 for the rest)."""
    return int(operator_budget) if operator_budget else suggested_max_new_tokens(engine)


def initial_budget(operator_budget: int | None) -> int:
    """What the budget box shows before the model has loaded (a number: the box cannot be empty)."""
    return int(operator_budget) if operator_budget else DEFAULT_MAX_NEW_TOKENS


def box_budget(engine: Any, operator_budget: int | None, shown: Any, filled: Any) -> int | None:
    """The budget the page's box should show now that ``engine`` is loaded, or None to leave it:
    a box that is empty or still shows what the page filled in (``filled``) follows the model; a
    number the person typed, or a reopened run's, stays."""
    if engine is None or not (_is_empty(shown) or shown == filled):
        return None
    return model_budget(engine, operator_budget)


def budget_info(engine: Any, operator_budget: int | None) -> str:
    """The budget box's info line: the budget a run gets here, whose it is and why (the box itself
    may show a reopened run's own budget)."""
    if operator_budget:
        return f"this server's budget: {int(operator_budget):,} (its operator's ERANK_MAX_NEW_TOKENS)"
    if engine is None:
        return (f"{DEFAULT_MAX_NEW_TOKENS:,} until the model has loaded, then the budget it gets "
                f"(a CPU model's is smaller)")
    budget = model_budget(engine, None)
    if budget == DEFAULT_MAX_NEW_TOKENS:
        return f"this model's budget: {budget:,}, as ERank's released code"
    return (f"this model's budget: {budget:,} on a CPU (a document decodes in about a minute; past it "
            "a score is forced)")


def settings_for(numbers: RunNumbers, force_answer: bool, engine: Any) -> GenerationSettings:
    """Generation settings; models that are not rerankers always get a forced answer."""
    budget = numbers.max_new_tokens or suggested_max_new_tokens(engine)
    return GenerationSettings(max_new_tokens=budget,
                              force_answer=bool(force_answer) or not getattr(engine, "is_reranker", True))


def page_run_budget(engine: Any, box: int | None, operator_budget: int | None) -> tuple[int, str | None]:
    """The budget of a run started from the page, and why where it is not the box's: the box still
    showing what the page put there before the model loaded (4,096, or the operator's) counts as
    untouched, so a model that is not a reranker gets its own budget (a person who pressed Rerank
    before the box caught up with the loaded CPU default got 4,096 tokens a document: minutes each).
    The operator's budget (``ERANK_MAX_NEW_TOKENS``), left in the box, is kept, as ``model_budget``."""
    if operator_budget and box in (None, int(operator_budget)):
        return int(operator_budget), None
    return fitted_budget(engine, box, DEFAULT_MAX_NEW_TOKENS)
