"""The Export tab: the store's exports (erank_studio.store.exports) as downloads."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

import gradio as gr

from ..store import exports
from ..store.resolve import RESOLVABLE, parse_rule
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


# --resolve in the app: "" keeps one example per annotator (as before).
RESOLVE_CHOICES = {"": "every annotator's label", "adjudicated": "adjudicated, else the mean",
                   "mean": "mean (rounded half up)", "majority": "majority (ties left out)"}


# A download is fetched as the click happens; the file goes a little later (a slow connection
# still gets all of it: an open file survives its deletion).
DELETE_AFTER_DOWNLOAD_S = 60.0
_folder: Path | None = None
_folder_lock = threading.Lock()


def private_folder(parent: str | os.PathLike) -> Path:
    """The app's own folder for exports (0700, made once, removed when the process exits). It lies
    in Gradio's cache folder, so Gradio serves the file where it is instead of copying it."""
    global _folder
    with _folder_lock:
        if _folder is None or not _folder.is_dir():
            Path(parent).mkdir(parents=True, exist_ok=True)
            _folder = Path(tempfile.mkdtemp(prefix="erank-exports-", dir=parent))
            atexit.register(shutil.rmtree, _folder, True)
        return _folder


def write_private_export(ctx: Context, fmt: str, flt: exports.ExportFilter, parent: str | os.PathLike) -> tuple[str, int]:
    """The export in the app's folder, readable by this user only: (path, rows)."""
    path, n = exports.export_to_tempfile(ctx.store, fmt, flt, directory=str(private_folder(parent)))
    os.chmod(path, 0o600)
    return path, n


def delete_export(path: str | None) -> None:
    """Remove a downloaded export (only ever one in the app's own folder)."""
    if path and _folder is not None and Path(path).resolve().parent == _folder.resolve():
        Path(path).unlink(missing_ok=True)


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
        resolve = gr.Dropdown([(label, value) for value, label in RESOLVE_CHOICES.items()], value="",
                              label="several annotators (SFT, qrels, runs)", elem_id="erank-export-resolve")
    build_btn = gr.Button("Build export", variant="primary", elem_id="erank-export-build")
    message = gr.Markdown("", elem_id="erank-export-message")
    download = gr.DownloadButton("Download", value=None, visible=True, interactive=False, elem_id="erank-export-download")

    def make(fmt_name, mine_only, run_only, labelled_only, gap, view: RunView, annotator, rule=""):
        if rule and fmt_name not in RESOLVABLE:
            gr.Warning(f"'{RESOLVE_CHOICES[rule]}' applies to {', '.join(RESOLVABLE)}; choose "
                       "'every annotator's label' for this format.")
            return gr.skip()
        if run_only and (view is None or view.run_id is None):
            gr.Warning("No run is open: untick 'only the open run', or open one in the Rerank view.")
            return "No run is open.", gr.update(value=None, interactive=False)
        if mine_only and not rule and not (annotator or "").strip():
            # Never everyone's labels under a box that says "mine".
            refusal = ("'only my labels' needs your name: type it in 'Annotator' (Rerank view), or untick "
                       "'only my labels' to export everyone's.")
            gr.Warning(refusal)
            return refusal, gr.update(value=None, interactive=False)
        gap_value = int(gap) if str(gap).isdigit() else None
        flt = exports.ExportFilter(
            # A resolve rule reads every annotator's label: "only my labels" does not apply.
            annotator=(annotator or "").strip() or None if mine_only and not rule else None,
            run_id=view.run_id if run_only else None, only_labelled=bool(labelled_only),
            min_disagreement=gap_value, resolve=parse_rule(rule) if rule else None,
        )
        try:
            path, n = write_private_export(ctx, fmt_name, flt, download.GRADIO_CACHE)
        except Exception as error:  # a bad filter or an unwritable temp dir: say so
            gr.Warning(render.html_escape(f"Export failed: {error}"))
            # not gr.skip(): the last export's "✓ n rows in …" must not stay beside a disabled button
            return f"Export failed: {render.md_escape(error)}", gr.update(value=None, interactive=False)
        return (f"✓ {n} {'row' if n == 1 else 'rows'} in {fmt_name} · click Download",
                gr.update(value=path, interactive=True, label=f"Download {fmt_name}"))

    build_btn.click(make, [fmt, mine, this_run, only_labelled, min_gap, ui.view, ui.annotator, resolve], [message, download],
                    api_visibility="private")

    def downloaded(path):
        # The browser fetches the file as the click happens; it is deleted a little later.
        if path:
            timer = threading.Timer(DELETE_AFTER_DOWNLOAD_S, delete_export, (path,))
            timer.daemon = True  # never holds the process open at exit (the folder goes then anyway)
            timer.start()
        return "Downloaded. Build the export again for another copy.", gr.update(value=None, interactive=False)

    download.click(downloaded, download, [message, download], api_visibility="private")
