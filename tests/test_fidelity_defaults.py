"""Defaults that must match ERank's released code: 4096 new tokens and the released template
through every entry point; where the chat template comes from, said and recorded."""
from __future__ import annotations

import json
import shutil

import pytest

from erank_studio import prompt
from erank_studio.engines import tokenizers
from erank_studio.engines.base import FINISH_STOP, Generation
from erank_studio.types import DEFAULT_MAX_NEW_TOKENS, Document, GenerationSettings


class SettingsSpy:
    """Records the settings and prompts it is asked to generate with."""

    name = "spy"
    model = "spy/model"
    tokenizer = None
    is_reranker = True
    warning = None
    chat_template_source = "spy chat template"

    def __init__(self) -> None:
        self.settings: list[GenerationSettings] = []
        self.templates: list[str] = []

    def generate(self, prompts, settings, cancel=None):
        self.settings.append(settings)
        for index, built in enumerate(prompts):
            self.templates.append(built.template)
            yield Generation(index=index, text="<think>t</think><answer>5</answer>",
                             pieces=["<think>t</think><answer>", "5", "</answer>"], logprobs=[0.0, -0.1, 0.0],
                             finish_reason=FINISH_STOP)

    def force_scores(self, prompt, partial_output):
        return None

    def describe(self):
        return {"engine": self.name}


def test_default_budget_is_the_released_vllm_codes():
    assert DEFAULT_MAX_NEW_TOKENS == 4096 and GenerationSettings().max_new_tokens == 4096


def test_api_defaults():
    from erank_studio import Reranker

    spy = SettingsSpy()
    Reranker(engine=spy).rerank("q", [{"content": "d", "first_stage_score": 1.0}])
    assert spy.settings[0].max_new_tokens == 4096 and spy.templates == ["erank"]
    Reranker(engine=spy).rerank("q", [{"content": "d", "first_stage_score": 1.0}], template="paper")
    assert spy.templates[-1] == "paper"


def test_cli_defaults_and_template_choice(tmp_path, monkeypatch, capsys):
    from erank_studio.cli import build_parser, main, rerank
    from erank_studio.store import Store

    args = build_parser().parse_args(["rerank", "--query", "q", "--docs", "x"])
    # No budget named: the engine's (4096, asserted below; the CPU default model's is smaller).
    assert args.max_new_tokens is None and args.template == "erank"
    assert build_parser().parse_args(["prompt", "--query", "q", "--document", "d"]).template == "erank"
    spy = SettingsSpy()
    monkeypatch.setattr(rerank, "engine_from", lambda args: spy)
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "content": "cats"}\n')
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["rerank", "--query", "q", "--docs", str(docs), "--save", "--db", url]) == 0
    assert main(["rerank", "--query", "q", "--docs", str(docs), "--save", "--db", url, "--template", "paper"]) == 0
    capsys.readouterr()
    assert [s.max_new_tokens for s in spy.settings] == [4096, 4096] and spy.templates == ["erank", "paper"]
    with Store(url) as store:
        runs = sorted(store.runs(), key=lambda r: r.id)
        assert [(r.template, r.chat_template_source) for r in runs] == [
            ("erank", "spy chat template"), ("paper", "spy chat template")]
    with pytest.raises(SystemExit) as stopped:  # argparse refuses it before anything runs
        main(["rerank", "--query", "q", "--docs", str(docs), "--template", "figure5"])
    assert stopped.value.code == 2 and "invalid choice: 'figure5'" in capsys.readouterr().err


def test_batch_defaults(tmp_path):
    from erank_studio.batch import rerank_dataset
    from erank_studio.data import Query, make_dataset
    from erank_studio.store import Store

    dataset = make_dataset("d", [Query("q1", "cats")], {"a": (None, "cats purr")}, {"q1": {"a": 1}})
    spy = SettingsSpy()
    with Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        rerank_dataset(dataset, spy, store, top_k=1, progress=False)
        (run,) = store.runs()
        assert (run.template, run.chat_template_source) == ("erank", "spy chat template")
    assert spy.settings[0].max_new_tokens == 4096 and spy.templates == ["erank"]


def test_ui_defaults(monkeypatch):
    from erank_studio.ui.context import Defaults

    from erank_studio.ui.run_limits import model_budget

    monkeypatch.delenv("ERANK_MAX_NEW_TOKENS", raising=False)
    # No operator budget: an ERank model (no budget of its own) gets the released 4096.
    assert Defaults().max_new_tokens is None and Defaults.from_env().max_new_tokens is None
    assert model_budget(object(), Defaults.from_env().max_new_tokens) == 4096
    monkeypatch.setenv("ERANK_MAX_NEW_TOKENS", "512")
    assert model_budget(object(), Defaults.from_env().max_new_tokens) == 512


def test_ui_session_records_template_and_chat_template_source(tmp_path):
    from erank_studio.engines.base import CancelToken
    from erank_studio.store import Store
    from erank_studio.runs import RunSpec
    from erank_studio.ui import session

    spy = SettingsSpy()
    with Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        spec = RunSpec("q", [Document("a", "text", first_stage_score=1.0)], instruction="i", template="paper",
                       truncate_length=64, settings=GenerationSettings(), alpha=0.2)
        view = session.start_run(store, spy, spec)
        list(session.stream_judgments(store, spy, view, cancel=CancelToken()))
        (run,) = store.runs()
        assert (run.template, run.chat_template_source) == ("paper", "spy chat template")
    assert spy.templates == ["paper"]


def test_chat_template_from_the_model_folder(tiny_engine):
    assert tiny_engine.chat_template_source == tokenizers.CHAT_TEMPLATE_MODEL == "model folder"


def test_weights_without_tokenizer_files_use_the_bundled_qwen3_template_as_a_stand_in(tmp_path, tiny_model_dir, qwen3_tokenizer):
    from erank_studio.engines.transformers_engine import TransformersEngine

    weights_only = tmp_path / "weights-only"
    weights_only.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        shutil.copy(tiny_model_dir / name, weights_only / name)
    engine = TransformersEngine(str(weights_only), device="cpu", dtype="float32")
    assert engine.chat_template_source == tokenizers.CHAT_TEMPLATE_BUNDLED == "bundled Qwen3 template (stand-in)"
    built = prompt.build("q", "d", "i", engine.tokenizer)
    assert built.text == prompt.build("q", "d", "i", qwen3_tokenizer).text


def test_a_tokenizer_without_a_chat_template_gets_the_bundled_one(qwen3_tokenizer):
    from transformers import AutoTokenizer

    from erank_studio.models import qwen3_tokenizer_folder

    bare = AutoTokenizer.from_pretrained(qwen3_tokenizer_folder())
    bare.chat_template = None
    assert tokenizers.ensure_chat_template(bare) == tokenizers.CHAT_TEMPLATE_BUNDLED
    assert bare.chat_template == qwen3_tokenizer.chat_template


def test_prompt_command_says_where_the_chat_template_comes_from(capsys):
    from erank_studio.cli import main

    assert main(["prompt", "--query", "q", "--document", "d", "--template", "paper"]) == 0
    captured = capsys.readouterr()
    assert "Here is the query: q\nHere is the document: d\n" in captured.out
    assert "template paper" in captured.err and "chat template: bundled Qwen3 template (stand-in)" in captured.err
