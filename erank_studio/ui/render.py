"""Safe rendering for the browser: escaping, the results table, the per-document detail.

Model output and documents are untrusted text. Anything that reaches a Markdown or HTML component
goes through ``md_escape`` / ``html_escape`` here, documents and traces included: every HTML
string built in this module escapes each piece of text it holds."""
from __future__ import annotations

import html
import re
from collections.abc import Sequence

import pandas as pd

from .. import scoring
from ..types import STATUS_FAILED, STATUS_FORCED, Document, Judgment

SORT_RANK = "rank_score"
SORT_HYBRID = "hybrid"
# E[N] of the score distribution: an alternative to ERank's rank_score (which stays the default).
SORT_EXPECTED = "E[N]"
SORT_CHOICES = [SORT_RANK, SORT_HYBRID, SORT_EXPECTED]
_SORT_ATTRIBUTES = {**scoring.MODEL_SCORES, SORT_HYBRID: "hybrid_score"}
DISAGREEMENT_GAP = 3  # |human - model| at or above this is flagged
SNIPPET_CHARS = 70
# The open document shows at most this many characters: a 50 MB document must not be shipped
# to the page (the model reads at most truncate_length tokens of it anyway).
DOCUMENT_DISPLAY_CHARS = 100_000

# The results table: short headers that fit their column, each explained in its tooltip
# (assets/inspect.js puts these on the header cells).
COL_MARK, COL_RANK, COL_ID, COL_DOC = "", "#", "id", "document"
COL_SCORE, COL_P, COL_RANK_SCORE, COL_EXPECTED, COL_FIRST = "N", "P(N)", "N×P", "E[N]", "1st"
COL_HYBRID, COL_TOKENS, COL_STATUS, COL_QREL, COL_HUMAN, COL_GAP = "hybrid", "tok", "status", "qrel", "you", "≠"
COLUMN_HELP = {
    COL_MARK: "▶ marks the document open below",
    COL_RANK: "Position in the current order (rank_score, hybrid or E[N], see 'Rank by')",
    COL_ID: "Document id",
    COL_DOC: "The opening of the document's text",
    COL_SCORE: "The model's answer N, an integer 0-10",
    COL_P: "P(N): the probability the model gave its answer token",
    COL_RANK_SCORE: "rank_score = N × P(N)",
    COL_EXPECTED: "E[N] = Σ n·P(n): the mean of the model's distribution over 0-10 where it wrote its answer "
                  "(blank when it could not be read)",
    COL_FIRST: "First-stage score (given with the document, or BM25)",
    COL_HYBRID: "Hybrid: alpha × z(first stage) + (1 − alpha) × z(rank_score)",
    COL_TOKENS: "Output tokens the model wrote",
    COL_STATUS: "ok · forced (answer read from next-token digits) · truncated (input cut) · failed (no score)",
    COL_QREL: "Benchmark relevance (qrels), when the query came from a benchmark",
    COL_HUMAN: "Your label (0-10)",
    COL_GAP: f"≠: your label and the model's score differ by {DISAGREEMENT_GAP} or more",
}
COLUMNS = list(COLUMN_HELP)
NUMBER_COLUMNS = [COL_P, COL_RANK_SCORE, COL_EXPECTED, COL_FIRST, COL_HYBRID]
# Shares of the table's width, sized so that a header and a three-decimal number fit at 1024 px.
COLUMN_WIDTHS = ["2.5%", "4%", "9%", "21%", "4%", "6%", "6%", "6%", "6.5%", "7.5%", "5.5%", "7.5%", "5%", "5%",
                 "3%"]
DATATYPES = ["str", "number", "str", "str", "number", "number", "number", "number", "number", "number", "number",
             "html", "number", "number", "str"]
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_escape(text: object) -> str:
    """Text safe inside gr.Markdown: HTML-escaped, then Markdown punctuation backslashed."""
    # quote=False: Gradio's Markdown shows "&#x27;" literally, and quotes are harmless in text.
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 item', '2 items' (``plural`` where adding an s is wrong)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def html_escape(text: object) -> str:
    return html.escape(str(text), quote=False)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    # Only a head is flattened: whitespace runs shrink, so limit-bound whitespace needs a margin,
    # and a head of 16 x limit characters keeps a huge text's cost bounded.
    flat = " ".join(text[: 16 * limit + 64].split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def sort_key(sort_by: str) -> str:
    """The Judgment attribute an order ranks by (rank_score for anything unknown)."""
    return _SORT_ATTRIBUTES.get(sort_by, "rank_score")


def ranked(judgments: Sequence[Judgment], sort_by: str = SORT_RANK) -> list[Judgment]:
    """Judgments in display order: by rank_score, hybrid score or E[N], descending; failures
    (and, by E[N], judgments without a distribution) last."""
    attr = sort_key(sort_by)
    values = [getattr(j, attr) for j in judgments]
    return [judgments[i] for i in scoring.order(values)]


def judgment_status_text(j: Judgment) -> str:
    if j.status == STATUS_FAILED:
        return f"failed: {j.failure or 'unknown'}"
    if j.status == STATUS_FORCED:
        return "forced"
    return "truncated" if j.truncated else "ok"


def status_tag(j: Judgment) -> str:
    """A compact coloured tag (HTML) for the status column; the full status is its tooltip."""
    full = judgment_status_text(j)
    word = full.split(":", 1)[0]
    return (f'<span class="erank-tag erank-tag-{word}" title="{html.escape(full)}">{html.escape(word)}</span>')


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
        rows.append({
            COL_MARK: "▶" if j.doc_id == selected else "",
            COL_RANK: position,
            COL_ID: j.doc_id,
            COL_DOC: snippet(doc.text) if doc else "",
            COL_SCORE: j.score,
            COL_P: _round(j.probability),
            COL_RANK_SCORE: _round(j.rank_score),
            COL_EXPECTED: _round(j.expected_score),
            COL_FIRST: _round(j.first_stage_score),
            COL_HYBRID: _round(j.hybrid_score),
            COL_TOKENS: j.output_tokens,
            COL_STATUS: status_tag(j),
            COL_QREL: qrels.get(j.doc_id),
            COL_HUMAN: human,
            COL_GAP: "≠" if disagrees(j.score, human) else "",
        })
    frame = pd.DataFrame(rows, columns=COLUMNS)
    # Nullable integers show blanks, not "nan", for missing scores and labels.
    for column in (COL_SCORE, COL_QREL, COL_HUMAN):
        frame[column] = frame[column].astype("Int64")
    return frame


DISAGREE_STYLE = "background-color: #fef3c7"
# The open row: its own blue frame and marker, drawn over any background (a disagreement's too).
SELECTED_STYLE = "box-shadow: inset 0 2px 0 #2563eb, inset 0 -2px 0 #2563eb; color: #1e3a8a"
SELECTED_BACKGROUND = "background-color: #dbeafe"
FAILED_STYLE = "color: #b91c1c"


def styled(frame: pd.DataFrame):
    """The table with disagreements (amber), the open row (blue frame, ▶) and failures (red text);
    numbers to three decimals, blanks for missing values. Gradio's Dataframe shows a pandas
    Styler's cell styles and display values."""

    def row_style(row: pd.Series) -> list[str]:
        styles = []
        disagree = bool(row[COL_GAP])
        if disagree:
            styles.append(DISAGREE_STYLE)
        if row[COL_MARK]:
            styles.append(SELECTED_STYLE)
            if not disagree:
                styles.append(SELECTED_BACKGROUND)
        elif ">failed<" in str(row[COL_STATUS]):
            styles.append(FAILED_STYLE)
        return ["; ".join(styles)] * len(row)

    return (frame.style.apply(row_style, axis=1)
            .format(na_rep="", precision=3, subset=NUMBER_COLUMNS)
            .format(na_rep="", subset=[c for c in COLUMNS if c not in NUMBER_COLUMNS]))


def progress_text(done: int, total: int, elapsed_s: float, state: str = "running") -> str:
    """The progress line. While running, its seconds keep ticking in the browser between
    documents (assets/inspect.js counts on from the seconds shown; Gradio's Markdown keeps class
    names but drops data attributes)."""
    running = " erank-running" if state == "running" else ""
    return (f'{html.escape(state)}: {done} of {total} documents · '
            f'<span class="erank-elapsed{running}">{elapsed_s:.1f} s</span>')


# -- the panel of one document: scores, callouts, the document, the reasoning ---------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _chip(name: str, value: str, help_text: str, kind: str = "") -> str:
    return (f'<span class="erank-chip {kind}" title="{html.escape(help_text)}">'
            f'<span class="erank-chip-name">{html.escape(name)}</span>'
            f'<span class="erank-chip-value">{html.escape(value)}</span></span>')


def callout_lines(j: Judgment | None) -> list[tuple[str, str]]:
    """(kind, HTML) for what a person must know about a judgment: truncation, failure, forcing."""
    if j is None:
        return []
    out = []
    if j.document_truncation and j.document_truncation.truncated:
        t = j.document_truncation
        out.append(("warn", f"<b>Document truncated</b>: the model read {t.kept_tokens} of "
                            f"{t.original_tokens} tokens"))
    if j.query_truncation and j.query_truncation.truncated:
        t = j.query_truncation
        out.append(("warn", f"<b>Query truncated</b>: the model read {t.kept_tokens} of {t.original_tokens} tokens"))
    if j.status == STATUS_FAILED:
        detail = f" ({html_escape(j.failure_detail)})" if j.failure_detail else ""
        out.append(("fail", f"<b>Parse failure: {html_escape(j.failure or 'unknown')}</b>{detail}: no score was "
                            "given; the raw output is open below"))
    elif j.status == STATUS_FORCED:
        out.append(("warn", f"<b>Forced answer</b>: the output had no parsable answer "
                            f"({html_escape(j.failure or '')}); the score {j.score} was read from the model's "
                            "next-token digits"))
    return out


def scorecard(
    j: Judgment | None,
    doc: Document | None,
    *,
    position: int | None = None,
    total: int = 0,
    qrel: int | None = None,
    label: int | None = None,
) -> str:
    """HTML (escaped) above the document and its trace: which document, the model's answer and
    every number behind its place, the callouts."""
    if doc is None:
        return '<div class="erank-card erank-empty">Select a row to see the document and the model\'s reasoning.</div>'
    head = f'<span class="erank-card-doc">Document {html_escape(doc.doc_id)}</span>'
    if position is not None:
        head += f' <span class="erank-card-row">row {position} of {total}</span>'
    if label is not None:
        head += f' <span class="erank-card-label">your label <b>{label}</b></span>'
        if disagrees(j.score if j else None, label):
            head += ' <span class="erank-tag erank-tag-disagree">disagrees with the model</span>'
    chips = []
    if j is None:
        chips.append('<span class="erank-muted">Not judged yet.</span>')
    else:
        answer = "—" if j.score is None else str(j.score)
        chips.append(_chip("answer", answer, "The model's answer N (0-10)", "erank-chip-answer"))
        chips.append(_chip("P(N)", _fmt(j.probability), "Probability of the answer token"))
        chips.append(_chip("rank score", _fmt(j.rank_score), "rank_score = N × P(N)"))
        if j.expected_score is not None:
            chips.append(_chip("E[N]", _fmt(j.expected_score, 2),
                               "Expected score: the mean of the model's distribution over 0-10 at its answer"))
        if j.score_entropy is not None:
            chips.append(_chip("uncertainty", f"{_fmt(j.score_entropy, 2)} bits",
                               "Entropy of that distribution: 0 = sure of one score, 3.46 = no idea (all 11 equal)"))
    source = doc.first_stage_source or ("given" if doc.first_stage_score is not None else None)
    first = _fmt(doc.first_stage_score) + (f" ({source})" if source else "")
    chips.append(_chip("first stage", first, "First-stage score and where it came from (given or BM25)"))
    if j is not None:
        chips.append(_chip("hybrid", _fmt(j.hybrid_score), "alpha × z(first stage) + (1 − alpha) × z(rank_score)"))
    if position is not None:
        chips.append(_chip("rank", f"{position} / {total}", "Place in the current order"))
    if qrel is not None:
        chips.append(_chip("qrel", str(qrel), "Benchmark relevance"))
    if j is not None:
        chips.append(_chip("output", f"{j.output_tokens} tok · {j.latency_s:.1f} s", "Output tokens and latency"))
    notes = "".join(f'<div class="erank-callout erank-callout-{kind}">{text}</div>' for kind, text in callout_lines(j))
    return (f'<div class="erank-card"><div class="erank-card-head">{head}</div>'
            f'<div class="erank-chips">{"".join(chips)}</div>{notes}</div>')


def _paragraphs(text: str) -> str:
    blocks = [b.strip("\n") for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    return "".join(f"<p>{html_escape(b)}</p>" for b in blocks)


def document_html(doc: Document | None, limit: int = DOCUMENT_DISPLAY_CHARS) -> str:
    """The document as given: escaped, paragraphs kept, scrolling when long; a document over
    ``limit`` characters shows its first ``limit`` with a note saying so."""
    if doc is None:
        return '<div class="erank-doc erank-empty">No document open.</div>'
    title = f'<div class="erank-doc-title">{html_escape(doc.title)}</div>' if doc.title else ""
    body = _paragraphs(doc.text[:limit]) or '<p class="erank-muted">(empty document)</p>'
    cut = ""
    if len(doc.text) > limit:
        cut = (f'<div class="erank-callout erank-callout-warn">Document truncated for display: the first '
               f'{limit:,} of {len(doc.text):,} characters are shown.</div>')
    return (f'<div class="erank-doc"><div class="erank-pane-title">Document <code>{html_escape(doc.doc_id)}</code>'
            f' · {len(doc.text):,} characters</div>{cut}{title}<div class="erank-doc-text">{body}</div></div>')


def trace_html(j: Judgment | None) -> str:
    """The model's reasoning for reading: the <think> text as escaped paragraphs (scrolling), the
    answer apart, the raw output one click away (open at once when nothing could be read)."""
    if j is None:
        return '<div class="erank-trace erank-empty">No judgment open.</div>'
    raw = j.raw_output or ""
    if j.trace and j.trace.strip():
        reasoning = _paragraphs(j.trace)
    elif not raw:
        reasoning = '<p class="erank-muted">(the model wrote nothing)</p>'
    elif not raw.strip():
        reasoning = f'<p class="erank-muted">(the model wrote only whitespace: {len(raw)} characters)</p>'
    else:
        reasoning = '<p class="erank-muted">(no &lt;think&gt; reasoning could be read: see the raw output)</p>'
    if j.score is not None:
        answer = f'Answer <b class="erank-answer-score">{j.score}</b>'
        if j.status == STATUS_FORCED:
            answer += ' <span class="erank-tag erank-tag-forced">forced</span>'
    else:
        answer = '<span class="erank-tag erank-tag-failed">no answer</span>'
    opened = "" if j.trace and j.status != STATUS_FAILED else " open"
    shown_raw = html_escape(raw) if raw.strip() else f"({len(raw)} whitespace characters)" if raw else "(empty)"
    return (f'<div class="erank-trace"><div class="erank-pane-title">Reasoning '
            f'<span class="erank-search-count"></span></div>'
            f'<div class="erank-think">{reasoning}</div>'
            f'<div class="erank-answer">{answer}</div>'
            f'<details class="erank-raw"{opened}><summary>Raw output ({len(raw):,} characters)</summary>'
            f'<pre>{shown_raw}</pre></details></div>')


def label_summary(progress: str, current: int | None) -> str:
    """The annotation panel's line: labels done, and the current label (which the 0-10 buttons
    mark through CSS: ``.erank-current-N``)."""
    mine = (f' · current label <b class="erank-current erank-current-{current}">{current}</b>'
            if current is not None else ' · <span class="erank-current-none">no label yet</span>')
    return f'<div class="erank-labelled">{html_escape(progress)}{mine}</div>'


def documents_frame(docs: Sequence[Document], qrels: dict[str, int] | None = None) -> pd.DataFrame:
    """A loaded candidate list (benchmark or file) as the run will use it."""
    qrels = qrels or {}
    frame = pd.DataFrame([{
        "id": d.doc_id, "title": d.title or "", "text": snippet(d.text, 90),
        "1st": _round(d.first_stage_score), "qrel": qrels.get(d.doc_id),
    } for d in docs], columns=["id", "title", "text", "1st", "qrel"])
    frame["qrel"] = frame["qrel"].astype("Int64")
    return frame
