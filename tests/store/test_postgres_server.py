"""The PostgreSQL tests' own rule: skipped only where the server cannot be installed, never in CI."""
from __future__ import annotations

import glob

import pytest

import postgres_server  # tests/ is on sys.path


def test_a_missing_server_skips_here_and_fails_in_ci(monkeypatch):
    monkeypatch.setattr(postgres_server, "server_binaries", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL server not installed"):
        postgres_server.require_server({})
    with pytest.raises(pytest.fail.Exception, match="CI must test the PostgreSQL store"):
        postgres_server.require_server({"CI": "true"})


def test_debians_server_binaries_are_found_off_the_path(monkeypatch):
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    monkeypatch.setenv("PATH", "/nonexistent")
    found = postgres_server.server_binaries()
    if debian:  # Debian's package puts initdb and pg_ctl there, not on PATH
        assert found is not None and str(found / "initdb") in debian
    else:
        assert found is None
