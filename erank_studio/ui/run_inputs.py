"""The Rerank view's inputs: the query, the instruction and its preset, the documents (typed, or a
list loaded from a file, a benchmark or a run), the model and the run's settings. What a run
judges is read from these (run_progress); a reopened run fills them (opened_run)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from .. import models, prompt
from ..engines import ENGINES
from ..types import Document
from . import doc_input, render, run_limits
from .context import Context
from .feedback import keep_screen

PRESET_CUSTOM = "custom"
# The released code's template is the default; the paper's Figure 5 wording is a named alternative.
TEMPLATE_CHOICES = [("ERank released code (default)", "erank"), ("paper, Figure 5 wording", "paper")]


@dataclass
class LoadedList:
    """Documents loaded from a benchmark or a file: the run uses them instead of the typed box."""

    source: str
    documents: list[Document]


@dataclass
class RunInputs:
    query: gr.Textbox
    preset: gr.Dropdown
    instruction: gr.Textbox
    documents: gr.Textbox
    upload: gr.File
    loaded: gr.State  # the LoadedList the run uses instead of the box, or None
    list_box: gr.Group
    list_info: gr.Markdown
    list_table: gr.Dataframe
    list_clear: gr.Button
    model: gr.Dropdown
    engine: gr.Dropdown
    base_url: gr.Textbox
    truncate_length: gr.Number
    max_new_tokens: gr.Number
    force_answer: gr.Checkbox
    template: gr.Dropdown

    @property
    def list_outputs(self) -> list:
        """What ``show_list`` fills, in its order."""
        return [self.loaded, self.list_box, self.list_info, self.list_table]


def _preset_choices() -> list[str]:
    return [*prompt.INSTRUCTIONS.keys(), PRESET_CUSTOM]


def model_choices(defaults: Any) -> list[tuple[str, str]]:
    """(what a person reads, what the engine loads): a local folder by its name, never its path."""
    return [(models.display_name(c) or c, c) for c in defaults.model_choices()]


def build(ctx: Context) -> RunInputs:
    d = ctx.defaults
    loaded = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            query = gr.Textbox(label="Query", lines=2, placeholder="What are you looking for?", elem_id="erank-query")
            preset = gr.Dropdown(_preset_choices(), value="beir", label="Instruction preset (the paper's)",
                                 elem_id="erank-preset")
            instruction = gr.Textbox(label="Instruction (editable)", value=prompt.DEFAULT_INSTRUCTION, lines=2,
                                     elem_id="erank-instruction")
        with gr.Column(scale=1, min_width=320):
            documents = gr.Textbox(
                label="Documents: one per line, or blocks separated by a blank line, or JSON lines "
                      '({"id", "content", "first_stage_score"})',
                lines=6, max_lines=16, elem_id="erank-documents",
            )
            upload = gr.File(label="…or upload documents (JSONL / CSV / TSV / TXT, UTF-8)", height=90,
                             file_types=list(doc_input.FILE_SUFFIXES), type="filepath", elem_id="erank-upload")
            with gr.Group(visible=False, elem_id="erank-doc-list") as list_box:
                list_info = gr.Markdown("", elem_id="erank-doc-list-info")
                list_table = gr.Dataframe(value=render.documents_frame([]), interactive=False, max_height=260,
                                          show_label=False, elem_id="erank-doc-list-table",
                                          column_widths=[90, 110, "auto", 60, 48])
                list_clear = gr.Button("Use the typed documents instead", size="sm", elem_id="erank-doc-list-clear")
    with gr.Accordion("Model and settings", open=False):
        with gr.Row():
            chosen = d.allow_model_choice  # off on a public server: the operator's choice, read-only
            model = gr.Dropdown(model_choices(d), value=d.model, allow_custom_value=chosen, scale=2,
                                interactive=chosen, elem_id="erank-model",
                                label="Model (hub id, 'demo', or a local folder path)" if chosen
                                else "Model (chosen by this server's operator)")
            engine = gr.Dropdown(ENGINES, value=d.engine, label="Engine", elem_id="erank-engine", scale=1,
                                 interactive=chosen)
            base_url = gr.Textbox(value=d.base_url, label="Server base URL (openai engine)", scale=2,
                                  placeholder="http://localhost:8000/v1", interactive=chosen,
                                  elem_id="erank-base-url")
        with gr.Row():
            # No minimum/maximum here: the run's own check (run_limits) names the field and its range.
            truncate_length = gr.Number(value=d.truncate_length, precision=0,
                                        label="truncate_length (tokens)", elem_id="erank-truncate")
            # Once the model loads, app._wire_model_status shows the budget it gets here.
            max_new_tokens = gr.Number(value=run_limits.initial_budget(d.max_new_tokens), precision=0,
                                       label="max new tokens",
                                       info=run_limits.budget_info(None, d.max_new_tokens),
                                       elem_id="erank-max-new-tokens")
            force_answer = gr.Checkbox(value=False, label="force an answer when the output has none "
                                       "(always on for models that are not rerankers)", elem_id="erank-force")
            template = gr.Dropdown(TEMPLATE_CHOICES, value=prompt.DEFAULT_TEMPLATE, label="prompt template",
                                   elem_id="erank-template")
    return RunInputs(query, preset, instruction, documents, upload, loaded, list_box, list_info, list_table,
                     list_clear, model, engine, base_url, truncate_length, max_new_tokens, force_answer, template)


def documents_for_run(documents_text: str | None, loaded: LoadedList | None) -> list[Document]:
    """The documents a run judges: a loaded list (benchmark or file) when there is one, else the
    typed box. Raises gr.Error with what to fix."""
    if isinstance(loaded, LoadedList) and loaded.documents:
        return list(loaded.documents)
    try:
        return doc_input.parse_text(documents_text)
    except doc_input.DocumentInputError as error:
        raise gr.Error(render.html_escape(error)) from None


def wire(inputs: RunInputs) -> None:
    """The preset fills the instruction; an uploaded file becomes the document list."""

    # Only a person's choice of a preset fills the instruction: a reopened run sets both itself, and
    # the dropdown's own "input" also fires when focus merely passes through it (Tab), which wiped
    # an instruction typed just after.
    def on_preset(evt: gr.SelectData):
        return gr.skip() if evt.value == PRESET_CUSTOM else prompt.INSTRUCTIONS.get(evt.value, gr.skip())

    inputs.preset.select(on_preset, None, inputs.instruction, api_visibility="private")
    wire_document_list(inputs)


def wire_document_list(inputs: RunInputs) -> None:
    """An uploaded file becomes the run's document list (shown as a table), or one toast saying
    why it cannot be read; the typed box is left as it was."""

    @keep_screen
    def on_upload(path):
        if not path:
            return gr.skip()
        try:
            docs = doc_input.parse_file(path)
        except doc_input.DocumentInputError as error:
            raise gr.Error(render.html_escape(error)) from None
        return show_list(LoadedList(Path(path).name, docs))

    outputs = inputs.list_outputs
    inputs.upload.upload(on_upload, inputs.upload, outputs, api_visibility="private")
    inputs.upload.clear(lambda: show_list(None), None, outputs, api_visibility="private")
    inputs.list_clear.click(lambda: (*show_list(None), None), None, [*outputs, inputs.upload],
                            api_visibility="private")


def list_updates(inputs: RunInputs, loaded: LoadedList | None, qrels: dict[str, int] | None = None) -> dict:
    """``show_list`` keyed by component."""
    return dict(zip(inputs.list_outputs, show_list(loaded, qrels)))


def show_list(loaded: LoadedList | None, qrels: dict[str, int] | None = None) -> tuple:
    """(loaded, list_box, list_info, list_table) updates for a loaded list, or none."""
    if loaded is None:
        return None, gr.update(visible=False), "", render.documents_frame([])
    info = (f"The run uses these **{len(loaded.documents)} documents** from {render.md_escape(loaded.source)} "
            "(the box above is ignored while they are loaded).")
    return loaded, gr.update(visible=True), info, render.documents_frame(loaded.documents, qrels)
