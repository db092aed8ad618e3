"""Reading ERank's output: the reasoning trace, the integer score, or why there is none."""
from __future__ import annotations

import re
from dataclasses import dataclass

# Failure classes (stored and shown as they are).
NO_ANSWER = "no_answer"
NOT_INTEGER = "not_integer"
OUT_OF_RANGE = "out_of_range"
CUT_AT_BUDGET = "cut_at_budget"
ENGINE_ERROR = "engine_error"

FAILURE_MESSAGES = {
    NO_ANSWER: "the output has no <answer>…</answer>",
    NOT_INTEGER: "the answer is not an integer",
    OUT_OF_RANGE: "the answer is outside 0..10",
    CUT_AT_BUDGET: "the output was cut at the token budget before an answer",
    ENGINE_ERROR: "the engine failed on this document",
}

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_OPEN_ANSWER = re.compile(r"<answer>(.*)\Z", re.DOTALL | re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?\d+")
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


@dataclass
class Parsed:
    trace: str | None
    score: int | None
    failure: str | None = None
    detail: str | None = None
    # Character span of the score's digits in the raw output, for finding its token(s).
    score_span: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def extract_trace(text: str) -> str | None:
    """The reasoning between <think> and </think>.

    A chat template may open <think> itself, so an output that only closes it counts from its
    start; a trace that was never closed runs up to <answer> or the end."""
    close = _THINK_CLOSE.search(text)
    opened = _THINK_OPEN.search(text)
    if opened and (close is None or opened.start() < close.start()):
        start = opened.end()
    elif close is not None:
        start = 0
    else:
        return None
    if close is not None and close.start() >= start:
        end = close.start()
    else:
        answer = text.lower().find("<answer>", start)
        end = answer if answer >= 0 else len(text)
    return text[start:end].strip()


def parse_output(text: str, finish_reason: str | None = "stop") -> Parsed:
    """Classify one raw output. ``finish_reason`` is "length" when generation hit the budget."""
    trace = extract_trace(text)
    matches = list(_ANSWER.finditer(text))
    if matches:
        match = matches[-1]
        body_start = match.start(1)
        body = match.group(1)
    else:
        opened = _OPEN_ANSWER.search(text)
        # "<answer> 7" at the very end: the model stopped on its own right after the number.
        # At the budget the number itself may be cut ("1" of "10"), so that is a failure.
        if opened is None or finish_reason == "length":
            if finish_reason == "length":
                return Parsed(trace, None, CUT_AT_BUDGET, FAILURE_MESSAGES[CUT_AT_BUDGET])
            return Parsed(trace, None, NO_ANSWER, FAILURE_MESSAGES[NO_ANSWER])
        body_start = opened.start(1)
        body = opened.group(1)
    stripped = body.strip()
    if not _INTEGER.fullmatch(stripped):
        shown = stripped if len(stripped) <= 40 else stripped[:40] + "…"
        return Parsed(trace, None, NOT_INTEGER, f"the answer {shown!r} is not an integer")
    value = int(stripped)
    if not 0 <= value <= 10:
        return Parsed(trace, None, OUT_OF_RANGE, f"the answer {value} is outside 0..10")
    offset = body_start + body.index(stripped)
    return Parsed(trace, value, score_span=(offset, offset + len(stripped)))
