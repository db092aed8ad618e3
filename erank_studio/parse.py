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
# ASCII digits only: str.isdigit and \d also take Arabic-Indic, Devanagari, fullwidth digits.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_ANY_DIGIT = re.compile(r"\d")
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_SHOWN_CHARS = 40


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


def _trace_span(text: str) -> tuple[int, int, int] | None:
    """(start, end, answers_from) of the reasoning: its characters are text[start:end], and an
    answer counts only if it starts at or after answers_from (past a closing </think>)."""
    closes = list(_THINK_CLOSE.finditer(text))
    opened = _THINK_OPEN.search(text)
    first_close = closes[0] if closes else None
    if opened and (first_close is None or opened.start() < first_close.start()):
        start = opened.end()
    elif first_close is not None:
        start = 0
    else:
        return None
    if first_close is not None and first_close.start() >= start:
        return start, first_close.start(), closes[-1].end()
    answer = text.lower().find("<answer>", start)
    end = answer if answer >= 0 else len(text)
    return start, end, end


def extract_trace(text: str) -> str | None:
    """The reasoning between <think> and </think>.

    A chat template may open <think> itself, so an output that only closes it counts from its
    start; a trace that was never closed runs up to <answer> or the end."""
    span = _trace_span(text)
    return None if span is None else text[span[0]:span[1]].strip()


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


def parse_output(text: str, finish_reason: str | None = "stop") -> Parsed:
    """Classify one raw output. ``finish_reason`` is "length" when generation hit the budget.

    The rules (README, "How ERank is reproduced"):
    - the answer is the last ``<answer>…</answer>`` after the reasoning; an answer written only
      inside a closed ``<think>…</think>`` is a draft, so the output has no answer (no_answer);
    - a score is an integer in ASCII digits 0-9, an optional sign and leading zeros allowed
      ("07" and "+5" are 7 and 5; P(N) then covers every token that spells them); any other
      digit (Arabic-Indic, Devanagari, fullwidth) makes it not_integer;
    - an integer outside 0..10 is out_of_range, however many digits it has."""
    span = _trace_span(text)
    trace = None if span is None else text[span[0]:span[1]].strip()
    answers_from = 0 if span is None else span[2]
    matches = [m for m in _ANSWER.finditer(text) if m.start() >= answers_from]
    if matches:
        match = matches[-1]
        body_start = match.start(1)
        body = match.group(1)
    else:
        opened = _OPEN_ANSWER.search(text, answers_from)
        # "<answer> 7" at the very end: the model stopped on its own right after the number.
        # At the budget the number itself may be cut ("1" of "10"), so that is a failure.
        if opened is None or finish_reason == "length":
            if finish_reason == "length":
                return Parsed(trace, None, CUT_AT_BUDGET, FAILURE_MESSAGES[CUT_AT_BUDGET])
            if _ANSWER.search(text) is not None:
                return Parsed(trace, None, NO_ANSWER,
                              "the only <answer> is inside <think> (a draft, not the final answer)")
            return Parsed(trace, None, NO_ANSWER, FAILURE_MESSAGES[NO_ANSWER])
        body_start = opened.start(1)
        body = opened.group(1)
    stripped = body.strip()
    if not _INTEGER.fullmatch(stripped):
        if _ANY_DIGIT.search(stripped) and stripped.isdigit():
            return Parsed(trace, None, NOT_INTEGER,
                          f"the answer {_shown(stripped)!r} uses non-ASCII digits; only 0-9 count")
        return Parsed(trace, None, NOT_INTEGER, f"the answer {_shown(stripped)!r} is not an integer")
    # Compared as text first: int() of a 5000-digit string raises (Python's digit limit).
    significant = stripped.lstrip("+-").lstrip("0") or "0"
    negative = stripped.startswith("-") and significant != "0"
    if negative or len(significant) > 2 or int(significant) > 10:
        return Parsed(trace, None, OUT_OF_RANGE, f"the answer {_shown(stripped)} is outside 0..10")
    value = int(significant)
    offset = body_start + body.index(stripped)
    return Parsed(trace, value, score_span=(offset, offset + len(stripped)))
