"""Revision 0007: a judgment's score distribution, E[N] and entropy are stored and read back,
travel through a bundle, and a malformed distribution in a bundle is refused."""
from __future__ import annotations

import math

import pytest

from erank_studio import scoring
from erank_studio.errors import ValidationError
from erank_studio.store import validation
from erank_studio.types import Document, Judgment


def _distribution() -> list[float]:
    raw = [0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.1, 0.6, 0.2, 0.05, 0.0]
    return raw


def test_distribution_summary_matches_its_definition():
    dist = _distribution()
    expected, entropy = scoring.distribution_summary(dist)
    assert expected == pytest.approx(sum(n * p for n, p in enumerate(dist)))
    assert entropy == pytest.approx(-sum(p * math.log2(p) for p in dist if p > 0))
    assert scoring.distribution_summary([1.0] + [0.0] * 10) == (0.0, 0.0)
    assert scoring.distribution_summary([1 / 11] * 11)[1] == pytest.approx(math.log2(11))
    for bad in ([0.5, 0.5], [float("nan")] * 11, [-0.1] + [0.11] * 10, [0.0] * 11):
        with pytest.raises(ValueError):
            scoring.distribution_summary(bad)


def test_store_keeps_the_distribution(store):
    query_id = store.upsert_query("q")
    docs = [Document("d1", "text one"), Document("d2", "text two")]
    run_id = store.start_run(query_id, docs, model="m", engine="transformers", instruction="i",
                             truncate_length=2048, generation={}, alpha=0.2)
    dist = _distribution()
    expected, entropy = scoring.distribution_summary(dist)
    store.add_judgments(run_id, [
        Judgment("d1", 0, "<think>t</think><answer>7</answer>", "ok", score=7, probability=0.6,
                 rank_score=4.2, score_distribution=dist, expected_score=expected, score_entropy=entropy),
        Judgment("d2", 1, "garbage", "failed", failure="no_answer"),
    ])
    by_id = {j.doc_id: j for j in store.run_judgments(run_id)}
    assert by_id["d1"].score_distribution == pytest.approx(dist)
    assert by_id["d1"].expected_score == pytest.approx(expected)
    assert by_id["d1"].score_entropy == pytest.approx(entropy)
    assert by_id["d2"].score_distribution is None and by_id["d2"].score_entropy is None


@pytest.mark.parametrize("bad", [[0.5, 0.5], [0.2] * 11, ["x"] * 11, [True] + [0.0] * 10, "0.1"])
def test_validation_refuses_malformed_distributions(bad):
    with pytest.raises(ValidationError):
        validation.score_distribution(bad)
    assert validation.score_distribution(None) is None
    assert validation.score_distribution(_distribution()) == pytest.approx(_distribution())
