"""The app with a gated engine, shared by the browser tests that need runs in a known state: each
document waits until the test drops a file in a folder, so "mid-run" or "done" is a state the
test creates, never a race against the machine's speed. Also the page helpers those tests use."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 60_000  # a bound on waiting for a state, not a speed requirement
START_TIMEOUT_S = 90

GATED_APP = textwrap.dedent('''
    """The app with an engine whose every document waits for a file in $ERANK_TEST_GATE."""
    import math, os, sys, time
    from pathlib import Path

    from erank_studio.engines.base import FINISH_CANCELLED, FINISH_STOP, Generation
    from erank_studio.engines.writing import writing_of
    from erank_studio.store import Store
    from erank_studio.ui.app import build_app, launch_kwargs
    from erank_studio.ui.context import Defaults
    from erank_studio.ui.engine_provider import EngineProvider

    GATE = Path(os.environ["ERANK_TEST_GATE"])


    class GatedEngine:
        name = "gated"
        model = "gated-test-model"
        tokenizer = None
        is_reranker = True
        warning = None
        chat_template_source = "test"
        done = 0  # documents judged by this process, every run together

        def generate(self, prompts, settings, cancel=None):
            writing = writing_of(cancel)
            for index, _prompt in enumerate(prompts):
                # Written up to its last tokens while it waits, as a real engine reports mid-document.
                writing.begin(index)
                writing.tokens({index: 7})
                while len(os.listdir(GATE)) <= GatedEngine.done and not (cancel and cancel.cancelled):
                    time.sleep(0.02)
                if cancel is not None and cancel.cancelled:
                    yield Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
                    continue
                GatedEngine.done += 1
                pieces = ["<think>gated</think><answer>", str((index * 3) % 11), "</answer>"]
                yield Generation(index=index, text="".join(pieces), pieces=pieces,
                                 logprobs=[0.0, math.log(0.5), 0.0], finish_reason=FINISH_STOP,
                                 prompt_tokens=10, output_tokens=3)

        def force_scores(self, prompt, partial_output):
            return None

        def describe(self):
            return {"model": self.model, "engine": self.name}


    engine = GatedEngine()
    store = Store(os.environ["ERANK_DB_URL"])
    demo = build_app(store, EngineProvider(loader=lambda *a, **k: engine),
                     Defaults(model="gated", max_new_tokens=8))
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), show_error=False, quiet=True,
                **launch_kwargs(None))
''')


class GatedApp:
    def __init__(self, url: str, db_url: str, gate: Path) -> None:
        self.url, self.db_url, self.gate = url, db_url, gate
        self._released = 0

    def release(self, n: int = 1) -> None:
        """Let ``n`` more documents be judged."""
        for _ in range(n):
            self._released += 1
            (self.gate / f"{self._released:05d}").touch()

    def runs(self):
        from erank_studio.store import Store

        store = Store(self.db_url)
        try:
            return store.runs()
        finally:
            store.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_process(argv: list[str], folder: Path, env: dict, url: str, start_timeout_s: float) -> Iterator[float]:
    """The app started by ``argv`` (its output in ``folder``/app.log) until it answers ``url``;
    yields how long that took, and stops the app after."""
    log = folder / "app.log"
    handle = open(log, "w")
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=str(folder), env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the app exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - started > start_timeout_s:
                pytest.fail(f"the app did not answer within {start_timeout_s} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield time.monotonic() - started
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        handle.close()


def start_gated_app(folder: Path) -> Iterator[GatedApp]:
    """The gated app on a free loopback port with a fresh store in ``folder`` (a fixture's body)."""
    gate = folder / "gate"
    gate.mkdir()
    script = folder / "gated_app.py"
    script.write_text(GATED_APP, encoding="utf-8")
    port = free_port()
    db_url = f"sqlite:///{folder}/jobs.sqlite"
    env = {**os.environ, "ERANK_DB_URL": db_url, "ERANK_TEST_GATE": str(gate), "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": str(ROOT)}
    url = f"http://127.0.0.1:{port}/"
    with app_process([sys.executable, str(script), str(port)], folder, env, url, START_TIMEOUT_S):
        yield GatedApp(url, db_url, gate)


def open_page(browser, app: GatedApp):
    context = browser.new_context(viewport={"width": 1440, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app.url)
    page.wait_for_selector("#erank-query textarea")
    return context, page


def fill(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id}").locator("textarea, input").first
    box.fill(value)
    box.press("Tab")  # commit the value before acting


def wait_text(page, selector: str, pattern: str, timeout: int = TIMEOUT_MS) -> None:
    # Imported here: conftest imports this module, which must load without Playwright.
    from playwright.sync_api import TimeoutError as WaitTimeout

    try:
        page.wait_for_function(
            "([sel, pat]) => { const el = document.querySelector(sel); return el && new RegExp(pat).test(el.innerText); }",
            arg=[selector, pattern], timeout=timeout,
        )
    except WaitTimeout:
        shown = page.locator(selector).inner_text() if page.locator(selector).count() else "(missing)"
        pytest.fail(f"{selector} never matched {pattern!r}; it shows {shown!r}")


def rows(page) -> int:
    return page.locator('#erank-results [data-col="1"][data-row]').count()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
