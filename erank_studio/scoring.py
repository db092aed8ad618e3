"""ERank's scores: P(N) from token logprobs, rank_score = N x P(N), the z-score hybrid, ordering.

The rule for the score's probability: P(N) is the joint probability of every generated token that
carries a character of N's digits, i.e. the product of those tokens' probabilities. Qwen tokenizers
write each digit as its own token, so P(10) = P("1") x P("0" | "1"); a tokenizer that writes " 7"
as one token gives that token's probability.

The score distribution P(0..10) of a judgment: at the position where the model writes its
score's first token, the next-token probabilities of the digit tokens "0".."9" (softmax over the
whole vocabulary), with P(10) = P("1") x P("0" | "1") and P(1) = P("1") x (1 - P("0" | "1")),
renormalised over the 11 integers: the model's belief about the score, given that it writes one
(``score_distribution``; the same rule as answer forcing, engines/forcing.py). P("0" | "1") is read
where the model itself wrote "1" there (its next step), and otherwise from one extra forward step
on the prompt + the output up to the score + "1" (engines/score_reading.py). Derived per
judgment: E[N] = sum n P(n), an alternative ranking score, and the entropy in bits, the model's
uncertainty (``distribution_summary``). A score written with a sign or leading zeros ("+5",
"07") gets no distribution: the digit at its first token is not the score's.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

DEFAULT_ALPHA = 0.2


def score_tokens(
    pieces: Sequence[str],
    raw_output: str,
    score_span: tuple[int, int] | None,
    spans: Sequence[tuple[int, int]] | None = None,
) -> list[int] | None:
    """Indices of the generated tokens whose character spans cover the parser's score span, or
    None. ``spans`` are the engine's token offsets (``engines.token_spans``); without them the
    pieces must spell the output exactly (no second search of the text: the answer is the one
    the parser chose, or none)."""
    if score_span is None or not pieces:
        return None
    if spans is None:
        from .engines.token_spans import piece_spans

        spans = piece_spans(pieces, raw_output)
    if spans is None or len(spans) != len(pieces):
        return None
    start, end = score_span
    return [i for i, (s, e) in enumerate(spans) if e > start and s < end] or None


def score_probability(
    pieces: Sequence[str],
    logprobs: Sequence[float],
    raw_output: str,
    score_span: tuple[int, int] | None,
    spans: Sequence[tuple[int, int]] | None = None,
) -> float | None:
    """P(N) from the generated tokens' logprobs (see the module docstring and ``score_tokens``)."""
    if len(pieces) != len(logprobs):
        return None
    tokens = score_tokens(pieces, raw_output, score_span, spans)
    if not tokens:
        return None
    return float(math.exp(sum(float(logprobs[i]) for i in tokens)))


def rank_score(score: int | None, probability: float | None) -> float | None:
    """N x P(N); 0 whatever P for N = 0; None when there is no score (never a silent 0)."""
    if score is None:
        return None
    if score == 0:
        return 0.0
    if probability is None:
        return None
    return float(score) * float(probability)


def zscores(values: Sequence[float]) -> list[float]:
    """Population z-scores (ddof = 0); all zeros when the values do not vary."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return []
    std = array.std(ddof=0)
    if std == 0 or not np.isfinite(std):
        return [0.0] * array.size
    return list(((array - array.mean()) / std).tolist())


def hybrid(
    first_stage: Sequence[float | None], rank: Sequence[float | None], alpha: float = DEFAULT_ALPHA
) -> list[float | None]:
    """alpha * z(first stage) + (1 - alpha) * z(rank_score) over one query's list.

    Documents without a rank score (failed judgments) or first-stage score get None and are left
    out of the statistics of the others."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if len(first_stage) != len(rank):
        raise ValueError("first-stage and rank score lists differ in length")
    usable = [i for i, (f, r) in enumerate(zip(first_stage, rank)) if f is not None and r is not None]
    result: list[float | None] = [None] * len(rank)
    z_first = zscores([first_stage[i] for i in usable])  # type: ignore[misc]
    z_rank = zscores([rank[i] for i in usable])  # type: ignore[misc]
    for position, index in enumerate(usable):
        result[index] = alpha * z_first[position] + (1.0 - alpha) * z_rank[position]
    return result


def order(scores: Sequence[float | None]) -> list[int]:
    """Indices sorted by score, descending; missing scores last, ties in input order."""
    return sorted(
        range(len(scores)),
        key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i),
    )


SCORE_VALUES = tuple(range(11))
# What can rank the model's documents (and feed the hybrid): ERank's rank_score (the default
# everywhere), or E[N] of the score distribution. Name (as shown) -> Judgment attribute.
MODEL_SCORES = {"rank_score": "rank_score", "E[N]": "expected_score"}


def score_distribution(first: Mapping[str, float], zero_after_one: float) -> list[float] | None:
    """P(0)..P(10) from the digit probabilities at the score's first token and P("0" | "1")
    (see the module docstring); None when no digit has any probability."""
    from .engines.forcing import forced_distribution

    distribution = forced_distribution(dict(first), zero_after_one)
    return None if distribution is None else [float(distribution[n]) for n in SCORE_VALUES]


def distribution_summary(distribution: Sequence[float]) -> tuple[float, float]:
    """E[N] = sum n P(n) and the entropy in bits of a distribution over the answers 0..10.

    The entropy is the studio's uncertainty measure: 0 when the model puts all its mass on one
    score, log2(11) ~ 3.46 bits when it cannot choose at all."""
    from scipy.stats import entropy

    probabilities = np.asarray(distribution, dtype=float)
    if probabilities.shape != (len(SCORE_VALUES),):
        raise ValueError(f"a score distribution has {len(SCORE_VALUES)} values (P(0)..P(10))")
    if not np.all(np.isfinite(probabilities)) or np.any(probabilities < 0) or probabilities.sum() <= 0:
        raise ValueError("a score distribution holds finite non-negative values with some mass")
    probabilities = probabilities / probabilities.sum()
    expected = float(np.dot(SCORE_VALUES, probabilities))
    return expected, float(entropy(probabilities, base=2))
