"""Start the app: read the settings (arguments over environment), open the store, print the URL,
launch. Shared by app.py (also the Spaces entry point) and ``python -m erank_studio serve``."""
from __future__ import annotations

import argparse
import atexit
import gc
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .store_names import safe_url, store_label  # noqa: F401  (store_label: the page names its store so)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# The longest the model's background load waits for the first page: a server only programs talk
# to (gradio_client) is never asked for one, and its model still loads unasked.
FIRST_PAGE_WAIT_S = 10.0
CONCURRENCY_ENV = "GRADIO_DEFAULT_CONCURRENCY_LIMIT"
DEFAULT_CONCURRENCY = 4  # events of one kind handled at once, unless the operator sets CONCURRENCY_ENV


def private_gradio_folder() -> None:
    """Uploads and downloads go to the app's own folder (0700), removed when the app exits,
    unless the operator chose one with GRADIO_TEMP_DIR."""
    if not os.environ.get("GRADIO_TEMP_DIR"):
        folder = tempfile.mkdtemp(prefix="erank-studio-")
        atexit.register(shutil.rmtree, folder, True)
        os.environ["GRADIO_TEMP_DIR"] = folder


class FirstPageSent:
    """ASGI middleware that sets ``sent`` once the server has sent a whole answer to a GET of the
    page ("/"). The model's background load waits for it: started with the server, it took the
    two cores from the first page, which came up 1.5x later (in CPU) than a bare Gradio app's."""

    def __init__(self, app: Callable[..., Awaitable[None]], sent: threading.Event) -> None:
        self.app = app
        self.sent = sent

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if self.sent.is_set() or scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") != "/":
            await self.app(scope, receive, send)
            return

        async def send_then_note(message: dict[str, Any]) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.sent.set()

        await self.app(scope, receive, send_then_note)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--db", default=None, help="store URL (default: $ERANK_DB_URL or sqlite:///db/erank_studio.sqlite)")
    parser.add_argument("--model", default=None, help="model: hub id, 'demo' or a folder (default: $ERANK_MODEL or the best here)")
    parser.add_argument("--engine", default=None, choices=["auto", "transformers", "vllm", "openai"],
                        help="engine (default: $ERANK_ENGINE or auto)")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible server URL (openai engine)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="generation budget (default 4096, as ERank's released vLLM code)")


def serve(args: argparse.Namespace) -> int:
    # Arguments become the environment the app reads, so app.py and the CLI behave the same.
    for name, env in (("db", "ERANK_DB_URL"), ("model", "ERANK_MODEL"), ("engine", "ERANK_ENGINE"),
                      ("base_url", "ERANK_BASE_URL"), ("max_new_tokens", "ERANK_MAX_NEW_TOKENS")):
        value = getattr(args, name, None)
        if value not in (None, ""):
            os.environ[env] = str(value)
    host = args.host or os.environ.get("GRADIO_SERVER_NAME") or (
        "0.0.0.0" if os.environ.get("SPACE_ID") else DEFAULT_HOST)
    port = args.port or int(os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # never phone home at start
    # Read by the queue gr.Blocks makes itself: calling demo.queue() instead rebuilds the whole
    # FastAPI app once more (0.2 s of the page's start).
    os.environ.setdefault(CONCURRENCY_ENV, str(DEFAULT_CONCURRENCY))

    private_gradio_folder()  # before gradio is imported

    with collector_paused():
        from starlette.middleware import Middleware

        from ..store import Store
        from ..store.store import without_password
        from .app import build_app, launch_kwargs
        from .context import Defaults, provider_for

        try:
            kwargs = launch_kwargs(os.environ.get("ERANK_AUTH"))
            defaults = Defaults.from_env(public=host not in LOOPBACK)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        url = os.environ.get("ERANK_DB_URL")
        if not url and os.environ.get("SPACE_ID") and os.path.isdir("/data"):
            url = "sqlite:////data/erank_studio.sqlite"  # a Space's persistent storage
        try:
            store = Store(url)
        except Exception as error:  # a bad URL or unreadable file: one line, no traceback, no password
            print(f"error: cannot open the store {safe_url(url)}: {without_password(str(error), url)}",
                  file=sys.stderr)
            return 2
        provider = provider_for(defaults)
        demo = build_app(store, provider, defaults)
        print(f"ERank Studio: open http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port} "
              f"(store: {safe_url(store.url)}; model choice {'on' if defaults.allow_model_choice else 'off'})",
              flush=True)
        first_page = threading.Event()
        stop_on_sigterm()  # before the server answers: from then on SIGTERM ends it cleanly
        try:
            demo.launch(server_name=host, server_port=port, show_error=False, quiet=True,
                        footer_links=["api", "settings"], prevent_thread_lock=True,
                        app_kwargs={"middleware": [Middleware(FirstPageSent, sent=first_page)]}, **kwargs)
            gc.freeze()  # what the start made lives as long as the server: later collections skip it
        except KeyboardInterrupt:  # stopped while starting
            demo.close()
            return 0

    # The operator's model loads unasked once the first page is out; a page's model-status poll or
    # a run starts the same load if it comes first.
    def load_after_the_first_page() -> None:
        first_page.wait(FIRST_PAGE_WAIT_S)
        provider.start(defaults.model, defaults.engine, defaults.base_url)

    try:
        threading.Thread(target=load_after_the_first_page, daemon=True, name="erank-preload").start()
        demo.block_thread()  # until Ctrl-C or SIGTERM, as launch() would
    except KeyboardInterrupt:  # stopped before block_thread listened for it
        demo.close()
    return 0


def stop_on_sigterm() -> None:
    """SIGTERM (``kill``, a container or service manager stopping the app) ends the app as Ctrl-C
    does: the server closes and the process exits normally, so the app's temporary folder
    (uploads, exports of labels) is removed as on any exit. Python's default for SIGTERM ends the
    process at once, without the exit handlers. Only the main thread may set a handler: an app
    served from another thread (a Space's runner, a test harness) keeps its host's SIGTERM."""

    def interrupt(signum, frame) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (the app's start), the collector's own
    setting back after it. Starting makes some 230,000 objects that live as long as the server
    (gradio, SQLAlchemy, the app's modules, the built page); each full collection meanwhile
    rescanned all of them to free nothing, 0.1 s a time, seven times before the first page."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py", description="ERank Studio web app")
    add_arguments(parser)
    return serve(parser.parse_args(argv))
