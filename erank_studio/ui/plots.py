"""Plotly figures for the Analyze tab, from a run's judgments, a person's labels and the qrels.
Metrics come from erank_studio.metrics (ir_measures, scipy); nothing is computed by hand here."""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .. import metrics, scoring
from ..grading import grade
from ..types import Judgment
from .render import html_escape

ALPHAS = [round(a, 2) for a in np.linspace(0.0, 1.0, 21)]
QID = "q"
DISTRIBUTION_HEIGHT = 190
DISTRIBUTION_WRAP = 26  # characters a line of the distribution's empty message holds at its least width


def _empty(title: str, message: str, width: int | None = None) -> go.Figure:
    """A figure that says why it is empty; ``width``: wrap the message at that many characters
    (a narrow figure cuts a long line at both sides)."""
    lines = textwrap.wrap(message, width) if width else [message]
    fig = go.Figure()
    fig.add_annotation(text="<br>".join(html_escape(line) for line in lines), showarrow=False, x=0.5, y=0.5,
                       xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False, height=320)
    return fig


def score_distribution_figure(j: Judgment | None) -> go.Figure:
    """The open judgment's P(0)..P(10) as a small bar chart, its answer in a darker bar."""
    title = "P(score) at the answer"
    if j is None or not j.score_distribution:
        why = "no judgment open" if j is None else "no distribution: no parsable score, or the engine could not read it"
        fig = _empty(title, why, width=DISTRIBUTION_WRAP)
        fig.update_layout(height=DISTRIBUTION_HEIGHT, margin=dict(l=10, r=10, t=30, b=10), title_font_size=12)
        return fig
    colors = ["#1e3a8a" if n == j.score else "#93c5fd" for n in scoring.SCORE_VALUES]
    fig = go.Figure(go.Bar(x=list(scoring.SCORE_VALUES), y=list(j.score_distribution), marker_color=colors,
                           hovertemplate="P(%{x}) = %{y:.3f}<extra></extra>"))
    subtitle = f"E[N] {j.expected_score:.2f} · {j.score_entropy:.2f} bits" if j.expected_score is not None else ""
    fig.update_layout(title=f"{title}<br><sup>{subtitle}</sup>", height=DISTRIBUTION_HEIGHT, title_font_size=12,
                      margin=dict(l=10, r=10, t=40, b=10), xaxis=dict(dtick=1, range=[-0.5, 10.5]),
                      yaxis=dict(range=[0, 1], tickformat=".1f"), bargap=0.15)
    return fig


def score_histogram(judgments: Sequence[Judgment], human: dict[str, int | None]) -> go.Figure:
    model_scores = [j.score for j in judgments if j.score is not None]
    human_scores = [s for s in human.values() if s is not None]
    if not model_scores and not human_scores:
        return _empty("Integer scores", "no scores yet: run the model or label documents")
    fig = go.Figure()
    bins = dict(start=-0.5, end=10.5, size=1)
    fig.add_trace(go.Histogram(x=model_scores, xbins=bins, name="model", opacity=0.6))
    fig.add_trace(go.Histogram(x=human_scores, xbins=bins, name="human", opacity=0.6))
    fig.update_layout(barmode="overlay", title="Integer scores: model and human", xaxis_title="score",
                      yaxis_title="documents", xaxis=dict(dtick=1, range=[-0.5, 10.5]), height=340)
    return fig


def rank_vs_first_stage(judgments: Sequence[Judgment], labels: dict[str, int | None], label_name: str) -> go.Figure:
    points = [j for j in judgments if j.rank_score is not None and j.first_stage_score is not None]
    if not points:
        return _empty("rank_score vs first stage", "no scored judgments yet")
    colors = [labels.get(j.doc_id) for j in points]
    fig = go.Figure(go.Scatter(
        x=[j.first_stage_score for j in points], y=[j.rank_score for j in points], mode="markers",
        text=[html_escape(j.doc_id) for j in points],
        marker=dict(size=10, color=[-1 if c is None else c for c in colors], colorscale="Viridis",
                    showscale=True, colorbar=dict(title=label_name + " (-1: none)")),
        hovertemplate="%{text}<br>first stage %{x:.3f}<br>rank_score %{y:.3f}<extra></extra>",
    ))
    fig.update_layout(title=f"rank_score against first-stage score, colored by {label_name}",
                      xaxis_title="first-stage score", yaxis_title="rank_score", height=360)
    return fig


def ndcg_curves(
    judgments: Sequence[Judgment],
    qrels: dict[str, int],
    human: dict[str, int | None],
    model_score: str = "rank_score",
) -> go.Figure:
    """nDCG@10 of first stage, model and hybrid as alpha moves, against qrels and human labels.
    ``model_score`` (a ``scoring.MODEL_SCORES`` name): the model ranks by rank_score, or by E[N];
    the hybrid mixes the first stage with the same score."""
    score_name = model_score if model_score in scoring.MODEL_SCORES else "rank_score"
    attribute = scoring.MODEL_SCORES[score_name]
    usable = [j for j in judgments if getattr(j, attribute) is not None and j.first_stage_score is not None]
    references = []
    if qrels:
        references.append(("qrels", {d: int(r) for d, r in qrels.items()}))
    graded = {d: grade(s) for d, s in human.items() if s is not None}
    if graded:
        references.append(("human labels", graded))
    if not usable or not references:
        needs = "judgments with a score distribution" if attribute == "expected_score" else "scored judgments"
        return _empty("nDCG@10 vs alpha", f"needs {needs} and qrels (benchmark) or human labels")
    scores = [float(getattr(j, attribute)) for j in usable]
    first = {QID: {j.doc_id: float(j.first_stage_score) for j in usable}}
    model = {QID: {j.doc_id: s for j, s in zip(usable, scores)}}
    fig = go.Figure()
    for name, ref in references:
        rel = {QID: ref}
        hybrid = []
        for alpha in ALPHAS:
            values = scoring.hybrid([j.first_stage_score for j in usable], scores, alpha)
            hybrid.append(metrics.ndcg_at_10({QID: {j.doc_id: float(v) for j, v in zip(usable, values)}}, rel)[0])
        fs = metrics.ndcg_at_10(first, rel)[0]
        md = metrics.ndcg_at_10(model, rel)[0]
        dash = "solid" if name == "qrels" else "dot"
        fig.add_trace(go.Scatter(x=ALPHAS, y=hybrid, name=f"hybrid ({score_name}) vs {name}", line=dict(dash=dash)))
        fig.add_trace(go.Scatter(x=ALPHAS, y=[fs] * len(ALPHAS), name=f"first stage vs {name}",
                                 line=dict(dash=dash, color="gray")))
        fig.add_trace(go.Scatter(x=ALPHAS, y=[md] * len(ALPHAS), name=f"model ({score_name}) vs {name}",
                                 line=dict(dash=dash, color="firebrick")))
    fig.update_layout(title=f"nDCG@10 as alpha moves, model by {score_name} (alpha 0 = model only, 1 = first stage only)",
                      xaxis_title="alpha", yaxis_title="nDCG@10", yaxis=dict(range=[0, 1.05]), height=380)
    return fig


def agreement_figure(judgments: Sequence[Judgment], human: dict[str, int | None]) -> tuple[go.Figure, str]:
    pairs = [(j.score, human[j.doc_id]) for j in judgments
             if j.score is not None and human.get(j.doc_id) is not None]
    if not pairs:
        return _empty("Model vs human", "label documents the model scored to compare"), "no pairs yet"
    result = metrics.agreement([m for m, _ in pairs], [h for _, h in pairs])
    fig = go.Figure(go.Heatmap(
        z=result["confusion"], x=list(range(11)), y=list(range(11)), colorscale="Blues",
        hovertemplate="model %{y}, human %{x}: %{z}<extra></extra>",
    ))
    fig.update_layout(title="Confusion: model score (rows) vs human score (columns)", xaxis_title="human",
                      yaxis_title="model", xaxis=dict(dtick=1), yaxis=dict(dtick=1), height=400)

    def fmt(value: float | None) -> str:
        return "undefined" if value is None else f"{value:.3f}"

    text = (f"{result['n']} pairs · quadratic weighted kappa **{fmt(result['kappa_quadratic'])}** · "
            f"Spearman **{fmt(result['spearman'])}** · exact agreement {fmt(result.get('exact'))}")
    return fig, text
