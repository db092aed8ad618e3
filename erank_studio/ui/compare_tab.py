"""The Compare tab: two runs of the same query side by side (compare.py): both scores and ranks per
document with the rank change coloured, Kendall tau, Spearman and nDCG@10, and for a chosen
document both traces with the words that differ marked. Everything shown is escaped."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from .. import compare, models
from ..compare import Comparison
from ..types import Judgment
from . import opened_run, render, run_inputs, session
from .context import Context
from .rerank_tab import RerankUI
from .run_inputs import LoadedList, show_list
from .session import Benchmark, RunView

COLUMNS = ["document", "N (A)", "N×P (A)", "rank (A)", "N (B)", "N×P (B)", "rank (B)", "change"]
UP_STYLE = "background-color: #dcfce7"  # ranked higher in B
DOWN_STYLE = "background-color: #fee2e2"  # ranked lower in B


@dataclass
class CompareUI:
    run_a: gr.Dropdown
    run_b: gr.Dropdown
    open_b: gr.Button
    summary: gr.Markdown
    table: gr.Dataframe
    document: gr.Dropdown
    trace_a: gr.HTML
    trace_b: gr.HTML
    state: gr.State
    # "Judge with ERank's base model": shown only where the open run's model is an ERank model
    # (and the operator lets visitors choose a model).
    base_model: gr.Button


def change_text(change: int | None) -> str:
    if change is None:
        return ""
    return "=" if change == 0 else (f"▲ {change}" if change > 0 else f"▼ {-change}")


def comparison_frame(c: Comparison | None):
    """The side-by-side table (a pandas Styler: rows that moved up green, down red)."""
    rows = [] if c is None else [
        [r.doc_id, r.a.score, r.a.rank_score, r.rank_a, r.b.score, r.b.rank_score, r.rank_b, change_text(r.rank_change)]
        for r in c.rows
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS).astype({"N (A)": "Int64", "rank (A)": "Int64", "N (B)": "Int64",
                                                         "rank (B)": "Int64"})

    def style(row: pd.Series) -> list[str]:
        mark = str(row["change"])
        colour = UP_STYLE if mark.startswith("▲") else DOWN_STYLE if mark.startswith("▼") else ""
        return [colour] * len(row)

    return (frame.style.apply(style, axis=1).format(na_rep="", precision=3, subset=["N×P (A)", "N×P (B)"])
            .format(na_rep="", subset=[c for c in COLUMNS if c not in ("N×P (A)", "N×P (B)")]))


def _text(j: Judgment) -> str:
    return j.trace if j.trace and j.trace.strip() else (j.raw_output or "")


def diff_html(c: Comparison | None, doc_id: str | None, side: str) -> str:
    """One run's trace for the document, the words the other run does not have marked (A: struck
    through, B: underlined); escaped."""
    row = c.row(doc_id) if c is not None and doc_id else None
    if row is None:
        return '<div class="erank-trace erank-empty">Compare two runs, then pick a document.</div>'
    j = row.a if side == "a" else row.b
    run = c.run_a if side == "a" else c.run_b
    pieces = compare.trace_diff(_text(row.a), _text(row.b))
    out = []
    for tag, text_a, text_b in pieces:
        if tag == "equal":
            out.append(render.html_escape(text_a))
        elif side == "a" and text_a:
            out.append(f'<del class="erank-diff-del">{render.html_escape(text_a)}</del>')
        elif side == "b" and text_b:
            out.append(f'<ins class="erank-diff-ins">{render.html_escape(text_b)}</ins>')
    answer = f"answer <b>{j.score}</b>" if j.score is not None else '<span class="erank-tag erank-tag-failed">no answer</span>'
    title = (f'Run {side.upper()} · #{run["id"]} · {render.html_escape(models.display_name(run["model"] or ""))} · '
             f'{answer} · {render.html_escape(render.judgment_status_text(j))}')
    return (f'<div class="erank-trace erank-compare-trace" data-side="{side}"><div class="erank-pane-title">{title}</div>'
            f'<div class="erank-think"><p>{"".join(out)}</p></div></div>')


def summary_markdown(c: Comparison) -> str:
    lines = [render.md_escape(line) for line in compare.summary_lines(c)]
    for side, run in (("A", c.run_a), ("B", c.run_b)):
        lines.append(f"**{side}** #{run['id']}: {render.md_escape(models.display_name(run['model'] or ''))} · "
                     f"{render.md_escape(run['engine'])} · template {render.md_escape(run['template'])} · "
                     f"instruction: {render.md_escape(render.snippet(run['instruction'] or '', 90))}")
    return "\n\n".join(lines)


def default_pair(ctx: Context, view: RunView) -> tuple[int | None, int | None]:
    """(A, B) for the open run: B the open run, A the newest other run of its query."""
    if view.run_id is None or view.query_id is None:
        return None, None
    others = [r.id for r in ctx.store.runs(query_id=view.query_id, limit=20) if r.id != view.run_id]
    return (others[0] if others else None), view.run_id


def build(ctx: Context, ui_rerank: RerankUI, tab: gr.Tab) -> CompareUI:
    gr.Markdown("Two runs of the same query (another instruction, template, model, engine or temperature): "
                "ranks among the documents both judged, the change coloured (green up in B, red down), and a "
                "document's two traces with the words that differ marked.")
    with gr.Row():
        run_a = gr.Dropdown([], value=None, label="Run A", elem_id="erank-compare-a", scale=3)
        run_b = gr.Dropdown([], value=None, label="Run B", elem_id="erank-compare-b", scale=3)
        go = gr.Button("Compare", variant="primary", elem_id="erank-compare-go", scale=1)
        open_b = gr.Button("Open B in Rerank", elem_id="erank-compare-open-b", scale=1)
        base_model = gr.Button("Judge with ERank's base model", elem_id="erank-compare-base", scale=1,
                               visible=False)
    summary = gr.Markdown("", elem_id="erank-compare-summary")
    table = gr.Dataframe(value=comparison_frame(None), interactive=False, wrap=False, max_height=420,
                         label="Per document (click a row to see both traces)", elem_id="erank-compare-table")
    document = gr.Dropdown([], value=None, label="Document", elem_id="erank-compare-doc")
    with gr.Row(equal_height=False):
        trace_a = gr.HTML(diff_html(None, None, "a"), elem_id="erank-compare-trace-a")
        trace_b = gr.HTML(diff_html(None, None, "b"), elem_id="erank-compare-trace-b")
    ui = CompareUI(run_a, run_b, open_b, summary, table, document, trace_a, trace_b, gr.State(None), base_model)
    go.click(lambda a, b, who: _compare(ctx, a, b, who), [run_a, run_b, ui_rerank.annotator],
             [ui.state, summary, table, document, trace_a, trace_b], api_visibility="private")
    document.input(lambda c, d: (diff_html(c, d, "a"), diff_html(c, d, "b")), [ui.state, document],
                   [trace_a, trace_b], api_visibility="private")

    def on_select(c: Comparison | None, evt: gr.SelectData):
        row = evt.row_value or []
        doc_id = str(row[0]) if row else None
        return doc_id, diff_html(c, doc_id, "a"), diff_html(c, doc_id, "b")

    table.select(on_select, ui.state, [document, trace_a, trace_b], api_visibility="private")

    def same_query_runs(a, b):
        """Run B follows run A's query: its runs are listed first, and B becomes the newest of
        them when B is of another query (only runs of one query can be compared)."""
        run_a = _run_id(a)
        if run_a is None:
            return gr.skip()
        try:
            query_id = int(ctx.store.run_info(run_a)["query_id"])
        except ValueError as error:
            gr.Warning(render.html_escape(error))
            return gr.skip()
        choices = run_choices(ctx, query_id)
        same = [run for _, run in session.run_choices(ctx.store, query_id=query_id) if run != run_a]
        value = _run_id(b) if _run_id(b) in same else (same[0] if same else gr.skip())
        return gr.update(choices=choices, value=value)

    run_a.input(same_query_runs, [run_a, run_b], run_b, api_visibility="private")
    _wire_tab(ctx, ui_rerank, ui, tab)
    return ui


def _compare(ctx: Context, run_a, run_b, annotator) -> tuple:
    if run_a in (None, "") or run_b in (None, ""):
        gr.Warning("Pick two runs first.")
        return gr.skip()
    try:
        c = compare.compare_runs(ctx.store, int(run_a), int(run_b), (annotator or "").strip() or None)
    except compare.CompareError as error:
        gr.Warning(render.html_escape(error))
        return gr.skip()
    # The document that moved most opens first (ties: the best ranked in A; failures last).
    moved = max(c.rows, key=lambda r: (abs(r.rank_change or 0), r.rank_a is not None, -(r.rank_a or 0)))
    choices = [(r.doc_id, r.doc_id) for r in c.rows]
    return (c, summary_markdown(c), comparison_frame(c), gr.update(choices=choices, value=moved.doc_id),
            diff_html(c, moved.doc_id, "a"), diff_html(c, moved.doc_id, "b"))


def _wire_tab(ctx: Context, ui: RerankUI, compare_ui: CompareUI, tab: gr.Tab) -> None:
    """Opening the tab lists the runs; a run opened since (a rerun, another saved run) becomes B,
    against A when A is of the same query, else against its query's previous run."""

    def on_tab(view: RunView, a, b):
        choices = run_choices(ctx, view.query_id)
        a, b = _run_id(a), _run_id(b)
        if view.run_id is not None and view.run_id not in (a, b):
            default_a, b = default_pair(ctx, view)
            if a is None or a == b or not _same_query(ctx, a, view):
                a = default_a
        elif a is None and b is None:
            a, b = default_pair(ctx, view)
        base = base_model_for(ctx, view)
        return (gr.update(choices=choices, value=a), gr.update(choices=choices, value=b),
                gr.update(visible=base is not None,
                          value=f"Judge with ERank's base model ({models.display_name(base)})" if base else None))

    tab.select(on_tab, [ui.view, compare_ui.run_a, compare_ui.run_b],
               [compare_ui.run_a, compare_ui.run_b, compare_ui.base_model], api_visibility="private")


def run_choices(ctx: Context, query_id: int | None) -> list[tuple[str, int]]:
    """The runs to pick from: the query's own runs first (they are the ones to compare), then the
    newest runs of any query. Every value a dropdown is set to must be among its choices."""
    own = session.run_choices(ctx.store, query_id=query_id) if query_id is not None else []
    seen = {run for _, run in own}
    return own + [c for c in session.run_choices(ctx.store) if c[1] not in seen]


def _run_id(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _same_query(ctx: Context, run_id: int, view: RunView) -> bool:
    try:
        return int(ctx.store.run_info(run_id)["query_id"]) == view.query_id
    except ValueError:  # the run is gone
        return False


# Clicks Rerank itself, so a rerun takes exactly the Rerank path (model choice rules of a public
# server, the Cancel button, the saved-run list) with the documents the previous step loaded.
_CLICK_RERANK = """() => {
  const el = document.getElementById('erank-run');
  const button = el && (el.tagName === 'BUTTON' ? el : el.querySelector('button'));
  if (button) button.click();
}"""


def rerun_inputs(store, view: RunView) -> tuple[LoadedList, Benchmark | None]:
    """The open run's documents (with their first-stage scores) as the run's document list, and
    its benchmark query when it has one, so the new run belongs to the same query."""
    return opened_run.run_documents(view), session.benchmark_of(store, view)


def wire_rerun(ctx: Context, ui: RerankUI, compare_ui: CompareUI) -> None:
    """One click: the open run's query and documents, judged again with the instruction, model and
    template now in the Rerank inputs; the Compare tab then offers the two runs (the rerun run as
    A, the new run as B once it is open)."""

    def check(view: RunView) -> None:
        # No outputs: a refusal is one toast and changes nothing on screen.
        if view.run_id is None or not view.judgments:
            raise gr.Error("Open or run a query first: a rerun judges the open run's documents again.")

    def load(view: RunView):
        loaded, bench = rerun_inputs(ctx.store, view)
        origin = gr.update(choices=run_choices(ctx, view.query_id), value=view.run_id)
        return (view.query, *show_list(loaded, view.qrels), bench, origin)

    ui.rerun.click(check, ui.view, None, api_visibility="private").success(
        load, ui.view, [ui.query, ui.loaded, ui.list_box, ui.list_info, ui.list_table, ui.bench, compare_ui.run_a],
        api_visibility="private",
    ).success(None, None, None, js=_CLICK_RERANK, api_visibility="private")


def base_model_for(ctx: Context, view: RunView) -> str | None:
    """The untrained Qwen3 the open run's ERank model was trained from, where this server lets the
    page choose a model (else None: no base-model button)."""
    if view.run_id is None or not view.judgments or not ctx.defaults.allow_model_choice:
        return None
    return models.base_model_of(view.model)


def wire_base_model(ctx: Context, ui: RerankUI, compare_ui: CompareUI, tabs: gr.Tabs, rerank_tab_id: str) -> None:
    """"Judge with ERank's base model": the rerun path (the open run's query and documents,
    judged by pressing Rerank, as a job) with the model set to the open run's base model, so the
    model is what differs; the open run becomes A and, once the new run is open, it is B."""

    def load(view: RunView):
        base = base_model_for(ctx, view)
        if base is None:
            raise gr.Error("Open a run judged by an ERank model first: its base model judges the same documents.")
        loaded, bench = rerun_inputs(ctx.store, view)
        offered = [*run_inputs.model_choices(ctx.defaults), (models.display_name(base), base)]
        gr.Info(render.html_escape(f"Judging run #{view.run_id}'s documents with {models.display_name(base)}; "
                                   "the model box names it for the runs after this one too."))
        return {**opened_run.settings_updates(ui, view), **run_inputs.list_updates(ui.inputs, loaded, view.qrels),
                ui.bench: bench,
                ui.model: gr.update(choices=offered, value=base),
                compare_ui.run_a: gr.update(choices=run_choices(ctx, view.query_id), value=view.run_id),
                tabs: gr.Tabs(selected=rerank_tab_id)}

    compare_ui.base_model.click(
        load, ui.view, [*opened_run.settings_outputs(ui), *ui.list_outputs, ui.bench, ui.model, compare_ui.run_a,
                        tabs],
        api_visibility="private",
    ).success(None, None, None, js=_CLICK_RERANK, api_visibility="private")


def wire_open(ctx: Context, ui: RerankUI, compare_ui: CompareUI, tabs: gr.Tabs, rerank_tab_id: str,
              saved: gr.BrowserState) -> None:
    """"Open B in Rerank": run B opened as any saved run is (opened_run), in the Rerank view."""

    def open_b(run_b, annotator, sort_by, saved_value):
        run_id = _run_id(run_b)
        if run_id is None:
            gr.Warning("Pick run B first.")
            return gr.skip()
        opened = opened_run.open_updates(ctx, ui, run_id, annotator, sort_by)
        if opened is None:
            return gr.skip()
        return {**opened, saved: opened_run.remembered(saved_value, run_id), tabs: gr.Tabs(selected=rerank_tab_id)}

    compare_ui.open_b.click(open_b, [compare_ui.run_b, ui.annotator, ui.sort_by, saved],
                            [*opened_run.outputs(ui), saved, tabs], api_visibility="private")
