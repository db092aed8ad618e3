"""Answer forcing: a score read from the model's next-token distribution when it gave none.

After the output with no parsable answer, ``</think><answer>`` (or ``<answer>`` if the trace was
closed) is appended and the model's distribution over the next token is read at the digits.
Tokenizers that split digits cannot write "10" as one token, so
P(10) = P("1") x P("0" | "1") and P(1) = P("1") x (1 - P("0" | "1")).
The 11 values are renormalised to sum to 1: the score given that the answer is an integer.
"""
from __future__ import annotations

from typing import Any

DIGITS = [str(d) for d in range(10)]


def digit_token_ids(tokenizer: Any) -> dict[str, int] | None:
    """The single token each digit 0..9 is written as, or None if the tokenizer has no such."""
    ids: dict[str, int] = {}
    for digit in DIGITS:
        encoded = tokenizer(digit, add_special_tokens=False)["input_ids"]
        if len(encoded) != 1:
            return None
        ids[digit] = encoded[0]
    return ids


def forced_distribution(first: dict[str, float], zero_after_one: float) -> dict[int, float] | None:
    """P(N) for N in 0..10 from the digit probabilities of the next token (see module doc)."""
    p_one = first.get("1", 0.0)
    raw = {int(d): first.get(d, 0.0) for d in DIGITS}
    raw[1] = p_one * (1.0 - zero_after_one)
    raw[10] = p_one * zero_after_one
    mass = sum(raw.values())
    if mass <= 0.0:
        return None
    return {n: value / mass for n, value in sorted(raw.items())}
