"""Who is acting on a page or through the API: the signed-in user where sign-in is on (password
auth or Hugging Face's; the browser cannot claim another name), else the name typed."""
from __future__ import annotations

import gradio as gr


def who(annotator: str | None, request: gr.Request | None) -> str:
    return getattr(request, "username", None) or (annotator or "").strip()
