"""Safe rendering for the browser: escaping, the results table, the per-document detail.

Model output and documents are untrusted text. Anything that reaches a Markdown or HTML component
goes through ``md_escape`` / ``html.escape`` here; traces and documents themselves are shown in
text boxes, which never interpret markup."""
from __future__ import annotations

import html
import re
from collections.abc import Sequence

import pandas as pd

from .. import scoring
from ..types import STATUS_FAILED, STATUS_FORCED, Document, Judgment

SORT_RANK = "rank_score"
SORT_HYBRID = "hybrid"
DISAGREEMENT_GAP = 3  # |human - model| at or above this is flagged
SNIPPET_CHARS = 70
COLUMN_WIDTHS = ["4%", "11%", "25%", "5%", "6%", "7%", "7%", "6%", "5%", "10%", "4%", "5%", "5%"]

COLUMNS = [
    "rank", "doc_id", "document", "score", "P(N)", "rank_score", "first_stage", "hybrid",
    "tokens", "status", "qrel", "human", "flag",
]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_escape(text: object) -> str:
    """Text safe inside gr.Markdown: HTML-escaped, then Markdown punctuation backslashed."""
    # quote=False: Gradio's Markdown shows "&#x27;" literally, and quotes are harmless in text.
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def html_escape(text: object) -> str:
    return html.escape(str(text), quote=False)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def sort_key(sort_by: str) -> str:
    return "hybrid_score" if sort_by == SORT_HYBRID else "rank_score"


def ranked(judgments: Sequence[Judgment], sort_by: str = SORT_RANK) -> list[Judgment]:
    """Judgments in display order: by rank_score or hybrid score, descending, failures last."""
    attr = sort_key(sort_by)
    values = [getattr(j, attr) for j in judgments]
    return [judgments[i] for i in scoring.order(values)]


def status_text(j: Judgment) -> str:
    if j.status == STATUS_FAILED:
        return f"failed: {j.failure or 'unknown'}"
    if j.status == STATUS_FORCED:
        return "forced"
    return "truncated" if j.truncated else "ok"


def disagrees(model_score: int | None, human: int | None) -> bool:
    return model_score is not None and human is not None and abs(model_score - human) >= DISAGREEMENT_GAP


def results_frame(
    judgments: Sequence[Judgment],
    documents: dict[str, Document],
    *,
    sort_by: str = SORT_RANK,
    qrels: dict[str, int] | None = None,
    labels: dict[str, int | None] | None = None,
    selected: str | None = None,
) -> pd.DataFrame:
    """The results table, one row per judged document, in ranked order."""
    qrels = qrels or {}
    labels = labels or {}
    rows = []
    for position, j in enumerate(ranked(judgments, sort_by), start=1):
        doc = documents.get(j.doc_id)
        human = labels.get(j.doc_id)
        flag = "disagree" if disagrees(j.score, human) else ""
        if j.doc_id == selected:
            flag = ("▶ " + flag).strip()
        rows.append({
            "rank": position,
            "doc_id": j.doc_id,
            "document": snippet(doc.text) if doc else "",
            "score": j.score,
            "P(N)": _round(j.probability),
            "rank_score": _round(j.rank_score),
            "first_stage": _round(j.first_stage_score),
            "hybrid": _round(j.hybrid_score),
            "tokens": j.output_tokens,
            "status": status_text(j),
            "qrel": qrels.get(j.doc_id),
            "human": human,
            "flag": flag,
        })
    frame = pd.DataFrame(rows, columns=COLUMNS)
    # Nullable integers show blanks, not "nan", for missing scores and labels.
    for column in ("score", "qrel", "human"):
        frame[column] = frame[column].astype("Int64")
    return frame


DISAGREE_STYLE = "background-color: #fde68a"
SELECTED_STYLE = "background-color: #dbeafe"
FAILED_STYLE = "color: #b91c1c"


def styled(frame: pd.DataFrame):
    """The table with disagreements (amber), the selected row (blue) and failures (red) marked;
    blanks for missing values. Gradio's Dataframe shows a pandas Styler's cell styles."""

    def row_style(row: pd.Series) -> list[str]:
        style = ""
        if "disagree" in str(row["flag"]):
            style = DISAGREE_STYLE
        elif str(row["flag"]).startswith("▶"):
            style = SELECTED_STYLE
        if str(row["status"]).startswith("failed"):
            style = f"{style}; {FAILED_STYLE}" if style else FAILED_STYLE
        return [style] * len(row)

    return frame.style.apply(row_style, axis=1).format(na_rep="", precision=3)


def progress_text(done: int, total: int, elapsed_s: float, state: str = "running") -> str:
    return f"{state}: {done} of {total} documents · {elapsed_s:.1f} s"


def callouts(j: Judgment | None, doc: Document | None) -> str:
    """Markdown (escaped) naming what a person must know about a judgment: truncation, failure."""
    if doc is None:
        return "Select a row to see the document and the model's reasoning."
    lines = [f"**Document {md_escape(doc.doc_id)}**"
             + (f" · first-stage score {doc.first_stage_score:.3f} ({md_escape(doc.first_stage_source or 'given')})"
                if doc.first_stage_score is not None else "")]
    if j is None:
        lines.append("Not judged yet.")
        return "\n\n".join(lines)
    if j.document_truncation and j.document_truncation.truncated:
        t = j.document_truncation
        lines.append(f"**Document truncated**: the model read {t.kept_tokens} of {t.original_tokens} tokens")
    if j.query_truncation and j.query_truncation.truncated:
        t = j.query_truncation
        lines.append(f"**Query truncated**: the model read {t.kept_tokens} of {t.original_tokens} tokens")
    if j.status == STATUS_FAILED:
        detail = f" ({md_escape(j.failure_detail)})" if j.failure_detail else ""
        lines.append(f"**Parse failure: {md_escape(j.failure or 'unknown')}**{detail}: no score was given; "
                     "the raw output is shown below")
    elif j.status == STATUS_FORCED:
        lines.append(f"**Forced answer**: the output had no parsable answer ({md_escape(j.failure or '')}); "
                     f"the score {j.score} was read from the model's next-token digits")
    if j.score is not None:
        p = f"{j.probability:.3f}" if j.probability is not None else "?"
        rs = f"{j.rank_score:.3f}" if j.rank_score is not None else "?"
        lines.append(f"model score **{j.score}** · P(N) {p} · rank_score {rs} · {j.output_tokens} output tokens"
                     f" · {j.latency_s:.1f} s")
    return "\n\n".join(lines)


def trace_text(j: Judgment | None) -> str:
    """What goes in the trace box: the whole raw output (trace and answer), never interpreted."""
    if j is None:
        return ""
    if not j.raw_output:
        return "(the model wrote nothing)"
    if not j.raw_output.strip():
        return f"(the model wrote only whitespace: {len(j.raw_output)} characters)"
    return j.raw_output
