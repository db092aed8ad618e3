"""The score distribution in the UI: the bar chart beside the score card, E[N] and entropy in the
card, E[N] as a ranking in the table and in the nDCG-vs-alpha plot, and in the API's JSON."""
from __future__ import annotations

import pytest

from erank_studio import metrics, scoring
from erank_studio.types import STATUS_FAILED, STATUS_OK, Document, Judgment
from erank_studio.ui import plots, render
from erank_studio.ui.api import ranked_items


def _dist(peak: int, share: float = 0.6) -> list[float]:
    rest = (1.0 - share) / 10
    return [share if n == peak else rest for n in range(11)]


def _judgment(doc_id: str, score: int | None, rank: float | None, dist: list[float] | None, first: float = 1.0):
    expected = entropy = None
    if dist is not None:
        expected, entropy = scoring.distribution_summary(dist)
    return Judgment(doc_id, 0, f"<think>t</think><answer>{score}</answer>", STATUS_OK if score is not None else
                    STATUS_FAILED, score=score, probability=0.5, rank_score=rank, first_stage_score=first,
                    score_distribution=dist, expected_score=expected, score_entropy=entropy)


@pytest.fixture
def judgments() -> list[Judgment]:
    # rank_score order: a, b, c; E[N] order: c, a, b; d has no distribution (an old row)
    return [_judgment("a", 9, 4.5, _dist(5), 3.0), _judgment("b", 7, 3.5, _dist(1), 2.0),
            _judgment("c", 4, 2.0, _dist(10, 0.9), 1.0), _judgment("d", 3, 1.5, None, 0.5)]


def test_table_ranks_by_expected_score_when_asked(judgments):
    docs = {j.doc_id: Document(j.doc_id, "text") for j in judgments}
    default = render.results_frame(judgments, docs)
    assert list(default[render.COL_ID]) == ["a", "b", "c", "d"]  # rank_score stays the default
    by_expected = render.results_frame(judgments, docs, sort_by=render.SORT_EXPECTED)
    want = sorted((j for j in judgments if j.expected_score is not None), key=lambda j: -j.expected_score)
    assert list(by_expected[render.COL_ID]) == [j.doc_id for j in want] + ["d"]  # none last
    assert by_expected[render.COL_EXPECTED].iloc[0] == pytest.approx(round(want[0].expected_score, 3))
    assert by_expected[render.COL_EXPECTED].isna().iloc[-1]
    assert render.SORT_CHOICES[0] == render.SORT_RANK


def test_scorecard_shows_expected_score_and_entropy(judgments):
    card = render.scorecard(judgments[0], Document("a", "text"))
    assert f"{judgments[0].expected_score:.2f}" in card and f"{judgments[0].score_entropy:.2f} bits" in card
    old = render.scorecard(judgments[3], Document("d", "text"))
    assert "E[N]" not in old and "uncertainty" not in old  # an old row: nothing to show, nothing breaks


def test_distribution_chart_is_the_judgments_distribution(judgments):
    fig = plots.score_distribution_figure(judgments[2])
    (bar,) = fig.data
    assert list(bar.x) == list(range(11)) and list(bar.y) == pytest.approx(judgments[2].score_distribution)
    assert len(set(bar.marker.color)) == 2 and bar.marker.color[4] != bar.marker.color[0]  # the answer apart
    for missing in (None, judgments[3]):
        empty = plots.score_distribution_figure(missing)
        assert not empty.data and empty.layout.annotations[0].text
    # The narrow chart's message comes in short lines (one long line was cut at both sides).
    lines = plots.score_distribution_figure(judgments[3]).layout.annotations[0].text.split("<br>")
    assert len(lines) > 1 and max(map(len, lines)) <= plots.DISTRIBUTION_WRAP
    assert " ".join(lines) == "no distribution: no parsable score, or the engine could not read it"


def test_ndcg_plot_can_rank_the_model_by_expected_score(judgments):
    qrels = {"c": 2, "a": 1}
    fig = plots.ndcg_curves(judgments, qrels, {}, model_score="E[N]")
    model = next(t for t in fig.data if t.name == "model (E[N]) vs qrels")
    usable = [j for j in judgments if j.expected_score is not None]
    want = metrics.ndcg_at_10({"q": {j.doc_id: j.expected_score for j in usable}}, {"q": qrels})[0]
    assert model.y[0] == pytest.approx(want)
    default = plots.ndcg_curves(judgments, qrels, {})
    assert any(t.name == "model (rank_score) vs qrels" for t in default.data)


def test_api_json_carries_the_distribution(judgments):
    items = {item["doc_id"]: item for item in ranked_items(judgments, {})}
    item = items["a"]
    assert item["score_distribution"] == judgments[0].score_distribution
    assert item["expected_score"] == judgments[0].expected_score and item["score_entropy"] == judgments[0].score_entropy
    assert items["d"]["score_distribution"] is None
