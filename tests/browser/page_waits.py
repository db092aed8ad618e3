"""Waiting for a state of the page (never for a time), shared by the browser tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = int(os.environ.get("ERANK_BROWSER_TIMEOUT_MS", 180_000))
_MATCHES = "([sel, pat]) => { const el = document.querySelector(sel); return el && new RegExp(pat).test(el.innerText); }"


def wait_text(page, selector: str, pattern: str, shot: str = "failure") -> None:
    """Wait until the element's text matches ``pattern``; on a timeout, fail saying what it shows and
    which messages are up (a screenshot goes to test-artifacts/SHOT.png)."""
    from playwright.sync_api import TimeoutError as PageTimeout

    try:
        page.wait_for_function(_MATCHES, arg=[selector, pattern], timeout=TIMEOUT_MS)
    except PageTimeout:
        shown = page.locator(selector).inner_text() if page.locator(selector).count() else "(missing)"
        toasts = page.locator('[data-testid="toast-body"]').all_inner_texts()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
        pytest.fail(f"{selector} never matched {pattern!r}; it shows {shown!r}; messages: {toasts}")
