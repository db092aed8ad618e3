"""The Export tab: the store's exports (erank_studio.store.exports) as downloads."""
from __future__ import annotations

import tempfile

import gradio as gr

from ..store import exports
from . import render
from .context import Context
from .rerank_tab import RerankUI
from .session import RunView

FORMAT_HELP = {
    "sft-messages": "chat messages JSONL (user = ERank prompt, assistant = <think>…</think><answer>N</answer>)",
    "alpaca": "LLaMA-Factory alpaca JSON",
    "sharegpt": "LLaMA-Factory sharegpt JSON",
    "qrels": f"TREC qrels from human labels ({exports.GRADE_RULE})",
    "run-rank": "TREC run ranked by rank_score",
    "run-hybrid": "TREC run ranked by hybrid score",
    "csv": "judgments joined with labels (CSV)",
    "parquet": "judgments joined with labels (Parquet)",
    "bundle": "everything, lossless (JSONL; import it elsewhere)",
}


def build(ctx: Context, ui: RerankUI) -> None:
    gr.Markdown("Download what the store holds. Labels are saved the moment they are given; exports read them.")
    with gr.Row():
        fmt = gr.Dropdown([(f"{f}: {FORMAT_HELP.get(f, '')}", f) for f in exports.FORMATS], value="sft-messages",
                          label="Format", elem_id="erank-export-format", scale=3)
        mine = gr.Checkbox(value=True, label="only my labels (annotator)", elem_id="erank-export-mine")
        this_run = gr.Checkbox(value=False, label="only the open run", elem_id="erank-export-run")
    with gr.Row():
        only_labelled = gr.Checkbox(value=False, label="only labelled documents (tables, runs)")
        min_gap = gr.Dropdown(["all", *[str(k) for k in range(1, 11)]], value="all",
                              label="only pairs where |human − model| ≥", elem_id="erank-export-gap")
    build_btn = gr.Button("Build export", variant="primary", elem_id="erank-export-build")
    message = gr.Markdown("", elem_id="erank-export-message")
    download = gr.DownloadButton("Download", value=None, visible=True, interactive=False, elem_id="erank-export-download")

    def make(fmt_name, mine_only, run_only, labelled_only, gap, view: RunView, annotator):
        if run_only and (view is None or view.run_id is None):
            gr.Warning("No run is open: untick 'only the open run', or open one in the Rerank view.")
            return "No run is open.", gr.update(value=None, interactive=False)
        gap_value = int(gap) if str(gap).isdigit() else None
        flt = exports.ExportFilter(
            annotator=(annotator or "").strip() or None if mine_only else None,
            run_id=view.run_id if run_only else None, only_labelled=bool(labelled_only),
            min_disagreement=gap_value,
        )
        try:
            path, n = exports.export_to_tempfile(ctx.store, fmt_name, flt, directory=tempfile.gettempdir())
        except Exception as error:  # a bad filter or an unwritable temp dir: say so
            gr.Warning(render.html_escape(f"Export failed: {error}"))
            # not gr.skip(): the last export's "✓ n rows in …" must not stay beside a disabled button
            return f"Export failed: {render.md_escape(error)}", gr.update(value=None, interactive=False)
        return (f"✓ {n} {'row' if n == 1 else 'rows'} in {fmt_name} · click Download",
                gr.update(value=path, interactive=True, label=f"Download {fmt_name}"))

    build_btn.click(make, [fmt, mine, this_run, only_labelled, min_gap, ui.view, ui.annotator], [message, download],
                    api_visibility="private")
