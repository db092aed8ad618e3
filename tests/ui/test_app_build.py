"""The Blocks build with a fake engine and no server; the auth setting parses."""
from __future__ import annotations

import pytest

from erank_studio.ui import app as ui_app
from erank_studio.ui.context import Defaults
from erank_studio.ui.engine_provider import EngineProvider


def test_build_app_with_a_fake_engine(store, fake_engine):
    provider = EngineProvider(loader=lambda *a, **k: fake_engine)
    demo = ui_app.build_app(store, provider, Defaults(model="fake"))
    engine, error, _ = provider.wait("fake", "auto", "", timeout=5)
    assert engine is fake_engine and error is None
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {"rerank_documents", "label_document", "run_labels"} <= names


def test_engine_load_failure_is_reported_not_raised():
    def broken(*args, **kwargs):
        raise RuntimeError("no such model")

    provider = EngineProvider(loader=broken)
    engine, error, _ = provider.wait("x", "auto", "", timeout=5)
    assert engine is None and "no such model" in error
    assert "could not be loaded" in provider.status("x", "auto", "")


def test_parse_auth():
    assert ui_app.parse_auth(None) is None
    assert ui_app.parse_auth("a:b, c:d") == [("a", "b"), ("c", "d")]
    with pytest.raises(ValueError):
        ui_app.parse_auth("nopassword")
    kwargs = ui_app.launch_kwargs("u:p")
    assert kwargs["auth"] == [("u", "p")] and "erank-score-" in kwargs["head"]


def test_models_that_are_not_rerankers_are_called_out(fake_engine):
    from erank_studio.ui.rerank_tab import warning_text

    assert warning_text(fake_engine) == ""
    fake_engine.is_reranker = False
    assert "not a reranker" in warning_text(fake_engine)
    fake_engine.warning = "Demo model in use: it is NOT a reranker <b>"
    text = warning_text(fake_engine)
    assert "NOT a reranker" in text and "<b>" not in text
