"""Where an output's score is, and the digit probabilities an engine read there (the inputs of
``scoring.score_distribution``). One rule for every engine:

- the score's token is the one that carries its first digit, and the score must be written as
  its digits alone, one token each ("7", or "1" "0"): a sign, leading zeros or a multi-character
  token give no distribution;
- P(d) for the ten digits at that token come from the engine's own record of that step where it
  holds all ten (the transformers loop always does; vLLM and OpenAI servers give a top 20);
- P("0" | "1") comes from the next step where the model itself wrote "1" there;
- whatever is missing comes from ONE extra forward step that the engine provides (``probe``):
  the prompt + the output up to the score + "1".
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from .. import parse, scoring
from .base import ScoreDigits
from .forcing import DIGITS

# Below this P("1"), how its mass splits between 1 and 10 moves no value of the distribution by
# more than this much, so the extra step for P("0" | "1") is not worth its cost.
SPLIT_NEGLIGIBLE = 1e-9

# at_step(k): the digit probabilities an engine recorded at generated token k (any subset, or None)
StepDigits = Callable[[int], "Mapping[str, float] | None"]
# probe(k, first): the extra step at token k, given the digits known there (None if incomplete)
Probe = Callable[[int, "dict[str, float] | None"], "ScoreDigits | None"]


def score_token(pieces: Sequence[str], text: str, finish_reason: str,
                spans: Sequence[tuple[int, int]] | None = None) -> int | None:
    """Index of the generated token that carries the score's first digit, or None when the
    output has no score or does not write it as bare digit tokens."""
    parsed = parse.parse_output(text, finish_reason)
    if not parsed.ok or parsed.score is None:
        return None
    tokens = scoring.score_tokens(pieces, text, parsed.score_span, spans)
    if not tokens or [pieces[i] for i in tokens] != list(str(parsed.score)):
        return None
    return tokens[0]


def complete_digits(found: Mapping[str, float] | None) -> dict[str, float] | None:
    """The ten digits' probabilities when all ten are known, else None."""
    if not found or any(d not in found for d in DIGITS):
        return None
    return {d: float(found[d]) for d in DIGITS}


def read_score_digits(
    pieces: Sequence[str],
    text: str,
    finish_reason: str,
    at_step: StepDigits,
    probe: Probe,
    spans: Sequence[tuple[int, int]] | None = None,
) -> ScoreDigits | None:
    """The score's digit probabilities for one finished output (see the module docstring).

    ``at_step(k)``: the digit probabilities the engine recorded at generated token k (any subset,
    or None); ``probe(k, first)``: the extra step at token k, given what is already known of the
    first digit there (None when the record was incomplete); ``spans``: the tokens' character
    offsets (``token_spans``), so the digits are read at the answer the parser chose."""
    k = score_token(pieces, text, finish_reason, spans)
    if k is None:
        return None
    first = complete_digits(at_step(k))
    zero_after_one = None
    if pieces[k] == "1" and k + 1 < len(pieces):
        after = at_step(k + 1)
        if after and "0" in after:
            zero_after_one = float(after["0"])
    if first is not None and zero_after_one is None and first["1"] <= SPLIT_NEGLIGIBLE:
        zero_after_one = 0.0
    if first is not None and zero_after_one is not None:
        return ScoreDigits(first, zero_after_one)
    return probe(k, first)
