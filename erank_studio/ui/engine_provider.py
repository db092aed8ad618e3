"""Engines for the app, loaded in background threads and cached, so the page is up at once.

A model takes seconds to minutes to load; the app starts without waiting, shows "loading model…"
and the first run waits for the engine (streaming its wait) instead of blocking the server."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engines import Engine, load_engine
from ..engines.base import batch_description_of

log = logging.getLogger(__name__)

AUTO_MODEL = "auto (best here)"


@dataclass
class _Slot:
    started: float = field(default_factory=time.monotonic)
    engine: Engine | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def model_arg(model: str | None) -> str | None:
    """The UI's model choice as ``load_engine`` takes it (None picks the best model here)."""
    model = (model or "").strip()
    return None if model in ("", AUTO_MODEL) else model


class EngineProvider:
    """Loads each (model, engine, base_url) once, in a thread; never blocks the caller."""

    def __init__(self, loader: Callable[..., Engine] = load_engine, **options: Any) -> None:
        self._loader = loader
        self._options = options  # passed to transformers loads (e.g. batch_size)
        self._slots: dict[tuple[str, str, str], _Slot] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(model: str | None, engine: str = "auto", base_url: str | None = None) -> tuple[str, str, str]:
        return (model_arg(model) or "", engine or "auto", (base_url or "").strip() if engine == "openai" else "")

    def start(self, model: str | None, engine: str = "auto", base_url: str | None = None) -> _Slot:
        key = self.key(model, engine, base_url)
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and not (slot.done.is_set() and slot.engine is None):
                return slot
            slot = self._slots[key] = _Slot()  # new, or a retry after a failure
        threading.Thread(target=self._load, args=(key, slot), daemon=True, name="erank-engine-load").start()
        return slot

    def _load(self, key: tuple[str, str, str], slot: _Slot) -> None:
        model, engine, base_url = key
        options: dict[str, Any] = dict(self._options) if engine == "transformers" else {}
        if engine == "openai" and base_url:
            options["base_url"] = base_url
        try:
            slot.engine = self._loader(model or None, engine, fallback=True, **options)
        except Exception as error:  # any load failure is shown to the user, never raised in a thread
            log.warning("engine load failed: %s", error)
            slot.error = str(error) or type(error).__name__
        finally:
            slot.done.set()

    def wait(self, model: str | None, engine: str = "auto", base_url: str | None = None,
             timeout: float = 0.5) -> tuple[Engine | None, str | None, float]:
        """(engine or None, error or None, seconds since the load began) after at most ``timeout``."""
        slot = self.start(model, engine, base_url)
        slot.done.wait(timeout)
        return slot.engine, slot.error, time.monotonic() - slot.started

    def status(self, model: str | None, engine: str = "auto", base_url: str | None = None) -> str:
        """A line of Markdown for the model status box."""
        slot = self._slots.get(self.key(model, engine, base_url))
        if slot is None:
            return "model not loaded yet (it loads when you run)"
        if not slot.done.is_set():
            return f"loading model… {time.monotonic() - slot.started:.0f} s"
        if slot.engine is None:
            from .render import md_escape

            return f"the model could not be loaded: {md_escape(slot.error)}"
        return describe(slot.engine)


def describe(engine: Engine) -> str:
    """The ready line: the model by its name (never a server path), the engine, and where its chat
    template came from. Warnings are said once, in the warning box (run_progress.warning_text)."""
    from ..models import display_name
    from .render import md_escape

    text = f"✓ ready: **{md_escape(display_name(engine.model))}** on {md_escape(engine.name)}"
    source = getattr(engine, "chat_template_source", None)
    if source:
        text += f" · chat template: {md_escape(source)}"
    batching = batch_description_of(engine)
    if batching:
        text += f" · {md_escape(batching)}"
    return text
