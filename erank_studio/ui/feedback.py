"""One toast per problem, and nothing on screen destroyed.

A ``gr.Error`` raised by a handler makes Gradio mark every output component with a red "Error"
badge and blank it. Handlers wrapped here turn it into one warning toast and leave each output as
it was, so a typo in the query never costs the run that is on screen."""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import gradio as gr


def keep_screen(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a handler (function or generator): a ``gr.Error`` it raises becomes one toast, and
    it answers one ``gr.skip()``, which Gradio applies to every output, however many there are."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error as error:
                gr.Warning(str(error.message))
                yield gr.skip()
        return stream

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except gr.Error as error:
            gr.Warning(str(error.message))
            return gr.skip()
    return call
