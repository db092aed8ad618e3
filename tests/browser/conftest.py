"""The app running as a subprocess on loopback, with a tiny Qwen3 and a fresh SQLite store."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gated import app_process, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
START_TIMEOUT_S = 60


@dataclass
class RunningApp:
    url: str
    db_url: str
    log: Path
    model_dir: str = ""  # the server-side folder of the model (must never show on the page)


@pytest.fixture(scope="session")
def running_app(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("app")
    yield from _start_app(folder, f"sqlite:///{folder}/t.sqlite", tiny_model_dir)


@pytest.fixture
def running_app_postgres(tmp_path, pg_store_url, tiny_model_dir):
    """The app on a store in a PostgreSQL server (ERANK_DB_URL), as a team would run it."""
    yield from _start_app(tmp_path, pg_store_url, tiny_model_dir)


@pytest.fixture(scope="session")
def start_app():
    """``_start_app`` for a test module that serves its own app script (with --host/--port)."""
    return _start_app


def _start_app(folder: Path, db_url: str, tiny_model_dir, script: Path | None = None) -> Iterator[RunningApp]:
    """The app (``app.py``, or a test's ``script`` taking the same --host/--port) on loopback."""
    port = free_port()
    log = folder / "app.log"
    env = {
        **os.environ,
        "ERANK_DB_URL": db_url,
        "ERANK_MODEL": str(tiny_model_dir),
        "ERANK_ENGINE": "transformers",
        "ERANK_MAX_NEW_TOKENS": "8",
        "ERANK_BATCH_SIZE": "1",  # one document a batch, as an operator may set it
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ERANK_AUTH": "",
        "PYTHONPATH": str(ROOT),  # a test's script lies outside the repository
    }
    url = f"http://127.0.0.1:{port}/"
    argv = [sys.executable, str(script or ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)]
    with app_process(argv, folder, env, url, START_TIMEOUT_S) as startup_s:
        assert startup_s < 30, f"the app took {startup_s:.1f} s to start (limit 30 s)"
        yield RunningApp(url=url, db_url=db_url, log=log, model_dir=str(tiny_model_dir))


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def chromium():
    """Debian's chromium through Playwright (skips the test where either is missing)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium) - browser tests skipped")
    sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
