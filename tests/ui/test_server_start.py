"""``serve``: the page goes out before the model's background load starts, the model still loads
without anyone asking, and the queue's concurrency is the app's."""
from __future__ import annotations

import argparse
import asyncio
import os
import threading

import gradio as gr
import pytest

from erank_studio.ui import server
from erank_studio.ui.engine_provider import EngineProvider


def _serve_page(middleware, method: str = "GET", path: str = "/", log: list | None = None) -> list[str]:
    """One request through ``middleware`` around an app that answers in two body parts; "page" goes
    to ``log`` when the client has the whole answer."""
    sent: list[str] = []

    async def page(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"<html>", "more_body": True})
        await send({"type": "http.response.body", "body": b"</html>"})

    async def send(message):
        sent.append(message["type"])
        if log is not None and message["type"] == "http.response.body" and not message.get("more_body"):
            log.append("page")

    async def receive():
        return {"type": "http.request"}

    scope = {"type": "http", "method": method, "path": path}
    asyncio.run(middleware.cls(page, **middleware.kwargs)(scope, receive, send))
    return sent


def test_the_first_page_is_noted_once_all_of_it_is_sent():
    from starlette.middleware import Middleware

    sent = threading.Event()
    middleware = Middleware(server.FirstPageSent, sent=sent)
    for method, path in (("HEAD", "/"), ("GET", "/config"), ("GET", "/gradio_api/info")):
        assert _serve_page(middleware, method, path) == ["http.response.start", "http.response.body",
                                                          "http.response.body"]
        assert not sent.is_set(), (method, path)
    _serve_page(middleware)
    assert sent.is_set()


@pytest.fixture
def serve_without_a_server(monkeypatch, tmp_path):
    """``server.serve`` with launch and block_thread replaced: ``launched`` gets the Blocks and
    launch's keyword arguments; the events, in order: each model the provider is asked to load,
    "serving" when serve blocks as launch() would, "page" when a test sends a page."""
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items()
                                        if not k.startswith(("ERANK_", "GRADIO_DEFAULT_CONCURRENCY"))})
    events: list[object] = []
    launched: dict[str, object] = {}
    loaded = threading.Event()
    monkeypatch.setattr(EngineProvider, "start", lambda self, *key: (events.append(key), loaded.set()))

    def block_thread(self):  # the server runs until the model has been asked for (or 30 s)
        events.append("serving")
        loaded.wait(30)

    monkeypatch.setattr(gr.Blocks, "block_thread", block_thread)

    def run(on_launch) -> list[object]:
        def launch(self, **kwargs):
            launched.update(demo=self, **kwargs)
            on_launch(kwargs, events)

        monkeypatch.setattr(gr.Blocks, "launch", launch)
        parser = argparse.ArgumentParser()
        server.add_arguments(parser)
        assert server.serve(parser.parse_args(["--db", f"sqlite:///{tmp_path}/s.sqlite", "--model", "m",
                                               "--engine", "transformers"])) == 0
        return events

    run.launched = launched
    return run


def test_serve_loads_the_model_unasked_after_the_first_page(serve_without_a_server):
    before_the_page: list[object] = []

    def on_launch(kwargs, events):
        assert kwargs["prevent_thread_lock"] is True
        (middleware,) = kwargs["app_kwargs"]["middleware"]

        def browser():
            before_the_page.extend(events or ["nothing"])
            _serve_page(middleware, log=events)

        threading.Thread(target=browser).start()

    events = serve_without_a_server(on_launch)
    assert before_the_page == ["nothing"]  # nothing loads while the server starts
    assert events.index("page") < events.index(("m", "transformers", "")) and "serving" in events


def test_serve_loads_the_model_when_no_page_is_asked_for(serve_without_a_server, monkeypatch):
    monkeypatch.setattr(server, "FIRST_PAGE_WAIT_S", 0.05)
    events = serve_without_a_server(lambda kwargs, events: None)
    assert sorted(events, key=str) == [("m", "transformers", ""), "serving"]


def test_serve_sets_the_queues_concurrency(serve_without_a_server, monkeypatch):
    monkeypatch.setattr(server, "FIRST_PAGE_WAIT_S", 0.01)
    serve_without_a_server(lambda kwargs, events: None)
    assert serve_without_a_server.launched["demo"]._queue.default_concurrency_limit == server.DEFAULT_CONCURRENCY


def test_serve_starts_without_collections_and_freezes_what_it_made(serve_without_a_server, monkeypatch):
    import gc

    from erank_studio.ui import app as ui_app

    monkeypatch.setattr(server, "FIRST_PAGE_WAIT_S", 0.01)
    steps: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: steps.append("freeze"))
    build = ui_app.build_app
    monkeypatch.setattr(ui_app, "build_app",
                        lambda *a, **k: steps.append(f"build, collecting={gc.isenabled()}") or build(*a, **k))
    serve_without_a_server(lambda kwargs, events: steps.append(f"launch, collecting={gc.isenabled()}"))
    assert steps == ["build, collecting=False", "launch, collecting=False", "freeze"]
    assert gc.isenabled()


def test_a_start_that_fails_leaves_the_collector_as_it_was(monkeypatch, capsys):
    import gc

    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("ERANK_")})
    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    assert server.serve(parser.parse_args(["--db", "postgresql://nobody@127.0.0.1:1/x"])) == 2
    assert gc.isenabled()
    with server.collector_paused():
        assert not gc.isenabled()
        with server.collector_paused():
            pass
        assert not gc.isenabled()  # an inner pause does not turn collection back on
    assert gc.isenabled()
