"""The Benchmark tab: pick a dataset (the bundled sample; BRIGHT, TREC DL and BEIR when online; the
user's own files) and a query; its candidates (with first-stage scores) and qrels go to the
Rerank view. Loading goes through erank_studio.data; qrels are kept in the store."""
from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr

from .. import data
from . import render
from .context import ALLOW_DOWNLOADS_ENV, Context
from .rerank_tab import RerankUI
from .run_inputs import PRESET_CUSTOM, LoadedList, show_list
from .session import Benchmark

_CACHE: dict[str, data.Dataset] = {}
_LOCK = threading.Lock()
USER_FILES = "your files"


def _choices(allow_downloads: bool = True) -> list[tuple[str, str]]:
    """The datasets to offer: those that download only when the operator allows downloads."""
    out = []
    for info in data.list_datasets():
        if info.needs_network and not allow_downloads:
            continue
        suffix = " (needs network)" if info.needs_network else ""
        out.append((f"{info.name}: {info.title}{suffix}", info.name))
    return out


def _dataset(name: str) -> data.Dataset:
    with _LOCK:
        if name not in _CACHE:
            _CACHE[name] = data.load_dataset(name)
        return _CACHE[name]


def _query_choices(ds: data.Dataset) -> list[tuple[str, str]]:
    return [(f"{q.query_id}: {' '.join(q.text.split())[:90]}", q.query_id) for q in ds.queries()]


def without_upload_folders(message: str, paths) -> str:
    """An error about an uploaded file names the file, not Gradio's temporary folder for it."""
    for folder in sorted({str(Path(p).parent) for p in paths}, key=len, reverse=True):
        message = message.replace(folder + "/", "")
    return message


def build(ctx: Context, ui: RerankUI, tabs: gr.Tabs, rerank_tab_id: str) -> None:
    gr.Markdown("Load a benchmark query: its candidates arrive with first-stage scores, and its qrels show "
                "beside the model's scores.")
    with gr.Row():
        dataset = gr.Dropdown(_choices(ctx.defaults.allow_downloads), value=data.SAMPLE_NAME, label="Dataset", scale=3,
                              elem_id="erank-bench-dataset")
        open_btn = gr.Button("Open dataset", elem_id="erank-bench-open", scale=1)
    files = gr.File(label="…or your own files: a BEIR folder's files, or TREC topics + JSONL corpus "
                          "(+ qrels, + run)", file_count="multiple", type="filepath", elem_id="erank-bench-files")
    info = gr.Markdown("", elem_id="erank-bench-info")
    with gr.Row():
        query = gr.Dropdown([], label="Query", scale=4, elem_id="erank-bench-query")
        top_k = gr.Number(value=20, precision=0, minimum=1, maximum=1000, label="candidates (top k)", scale=1, elem_id="erank-bench-topk")
    load_btn = gr.Button("Load into Rerank", variant="primary", elem_id="erank-bench-load")
    current = gr.State(None)  # the name of the open dataset

    offered = {value for _, value in _choices(ctx.defaults.allow_downloads)}

    def open_dataset(name):
        if name not in offered:  # a request for a dataset this server does not offer
            message = (f"{name} is not offered here: this server does not download datasets "
                       f"({ALLOW_DOWNLOADS_ENV}); open the sample or your own files")
            gr.Warning(render.html_escape(message))
            return gr.skip(), gr.update(choices=[], value=None), render.md_escape(message)
        try:
            ds = _dataset(name)
        except (data.DatasetUnavailable, data.DatasetFormatError, ValueError, OSError) as error:
            gr.Warning(render.html_escape(error))
            return gr.skip(), gr.update(choices=[], value=None), render.md_escape(error)
        choices = _query_choices(ds)
        note = "".join(f"\n\nWarning: {render.md_escape(w)}" for w in getattr(ds, "warnings", []) or [])
        return name, gr.update(choices=choices, value=choices[0][1] if choices else None), \
            f"✓ {name}: {len(choices)} queries{note}"

    open_btn.click(open_dataset, dataset, [current, query, info], api_visibility="private")
    dataset.input(open_dataset, dataset, [current, query, info], api_visibility="private")

    def open_files(paths):
        if not paths:
            return gr.skip()
        try:
            ds = data.load_user_dataset(*[Path(p) for p in paths], name=USER_FILES)
        except (data.DatasetFormatError, data.DatasetUnavailable, ValueError, OSError) as error:
            text = without_upload_folders(str(error), paths)
            gr.Warning(render.html_escape(text))
            return gr.skip(), gr.update(choices=[], value=None), render.md_escape(text)
        with _LOCK:
            _CACHE[USER_FILES] = ds
        choices = _query_choices(ds)
        return USER_FILES, gr.update(choices=choices, value=choices[0][1] if choices else None), \
            f"✓ your files: {len(choices)} queries"

    files.upload(open_files, files, [current, query, info], api_visibility="private")

    def load(name, query_id, k):
        if not name or not query_id:
            gr.Warning("Open a dataset and pick a query first.")
            return gr.skip()
        try:
            ds = _CACHE[name]
            q = ds.query(query_id)
            docs = ds.candidates(query_id, top_k=int(k or 20))
            qrels = ds.qrels(query_id)
        except Exception as error:  # a loader problem is the dataset's, not a crash of the app
            gr.Warning(render.html_escape(f"Could not load {query_id}: {error}"))
            return gr.skip()
        if not docs:
            gr.Warning(render.html_escape(f"{query_id} has no candidates in {name}."))
            return gr.skip()
        if qrels:
            try:
                ctx.store.add_qrels([(query_id, d, r) for d, r in qrels.items()], source=name)
            except Exception as error:
                gr.Warning(render.html_escape(f"qrels could not be saved: {error}"))
        bench = Benchmark(source=name, source_query_id=query_id, query=q.text, qrels=dict(qrels))
        listed = show_list(LoadedList(f"{name} · query {query_id}", docs), dict(qrels))
        return (q.text, ds.instruction, PRESET_CUSTOM, *listed, None, bench, gr.Tabs(selected=rerank_tab_id))

    load_btn.click(load, [current, query, top_k],
                   [ui.query, ui.instruction, ui.preset, ui.loaded, ui.list_box, ui.list_info, ui.list_table,
                    ui.upload, ui.bench, tabs],
                   api_visibility="private")
