"""The Gradio app: one module a tab (rerank_tab, annotate, benchmark, analyze, export_tab), safe
rendering (render), document input (doc_input), plots, and the session's store calls (session).
The UI reaches the store only through the Store facade and erank_studio.store.exports."""
from __future__ import annotations

__all__ = ["build_app", "launch_kwargs", "serve"]


def __getattr__(name: str):  # gradio loads only when the app is wanted
    if name in ("build_app", "launch_kwargs"):
        from . import app

        return getattr(app, name)
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(name)
