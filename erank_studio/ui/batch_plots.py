"""Plotly figures of a benchmark batch (the Analyze view's benchmark page), drawn from
erank_studio.batch_stats: nothing is counted here."""
from __future__ import annotations

import plotly.graph_objects as go

from .. import batch_stats
from ..batch_eval import Batch
from .plots import _empty as empty_figure

HISTOGRAM_TITLE = "Model answers by relevance grade"
CALIBRATION_TITLE = "Calibration: share of relevant documents per bin"


def no_reference_text(batch: Batch) -> str:
    """Why the relevance-dependent figures are empty, or "" when they are not."""
    if batch.has_qrels:
        return ""
    if batch.against == "labels":
        return "nobody has labelled documents of this batch yet: label some, or compare against qrels"
    return "this batch has no qrels: nDCG, grades and calibration need them (try human labels)"


def score_histograms(batch: Batch) -> go.Figure:
    """One bar series per grade: how many documents of that grade got each answer 0..10."""
    if not batch.has_qrels:
        return empty_figure(HISTOGRAM_TITLE, no_reference_text(batch))
    counts = batch_stats.score_counts_by_grade(batch)
    if not counts:
        return empty_figure(HISTOGRAM_TITLE, "no scored judgments in this batch")
    reference = "qrel" if batch.against == "qrels" else "label grade"
    fig = go.Figure()
    for grade, values in counts.items():
        name = f"{reference} {grade}" if grade.isdigit() else grade
        fig.add_trace(go.Bar(x=list(range(batch_stats.SCORES)), y=values, name=name,
                             hovertemplate=f"{name}<br>answer %{{x}}: %{{y}} documents<extra></extra>"))
    fig.update_layout(barmode="group", title=f"{HISTOGRAM_TITLE} ({reference})", xaxis_title="model answer N",
                      yaxis_title="documents", xaxis=dict(dtick=1, range=[-0.5, 10.5]), height=360)
    return fig


def calibration_plot(batch: Batch) -> go.Figure:
    """Share of relevant documents against P(N) and E[N]/10, binned; points sized by their count."""
    if not batch.has_qrels:
        return empty_figure(CALIBRATION_TITLE, no_reference_text(batch))
    fig = go.Figure()
    missing = []
    for signal in batch_stats.SIGNALS:
        bins = batch_stats.calibration(batch, signal)
        if not bins:
            missing.append(signal)
            continue
        fig.add_trace(go.Scatter(
            x=[(b.low + b.high) / 2 for b in bins], y=[b.share for b in bins], mode="lines+markers", name=signal,
            customdata=[[b.low, b.high, b.relevant, b.documents] for b in bins],
            marker=dict(size=[min(6 + b.documents ** 0.5, 24) for b in bins]),
            hovertemplate=(f"{signal} %{{customdata[0]:.1f}}–%{{customdata[1]:.1f}}<br>"
                           "%{customdata[2]} of %{customdata[3]} relevant (%{y:.2f})<extra></extra>"),
        ))
    if not fig.data:
        return empty_figure(CALIBRATION_TITLE, "no scored judgments in this batch")
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="share = value",
                             line=dict(dash="dot", color="gray"), hoverinfo="skip"))
    relevant = "qrel ≥ 1, unjudged = not relevant" if batch.against == "qrels" else "label grade ≥ 1, labelled only"
    note = f" · not stored: {', '.join(missing)}" if missing else ""
    fig.update_layout(title=f"{CALIBRATION_TITLE} ({relevant}){note}", xaxis_title="P(N) or E[N] / 10 (bin middle)",
                      yaxis_title="share relevant", xaxis=dict(range=[0, 1]), yaxis=dict(range=[0, 1.05]), height=380)
    return fig
