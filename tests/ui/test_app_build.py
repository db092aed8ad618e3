"""The Blocks build with a fake engine and no server; the auth setting parses."""
from __future__ import annotations

import subprocess
import sys

import pytest

from erank_studio.runs import RunSpec
from erank_studio.types import Document, GenerationSettings
from erank_studio.ui import app as ui_app
from erank_studio.ui import session
from erank_studio.ui.context import Defaults
from erank_studio.ui.engine_provider import EngineProvider
from erank_studio.ui.jobs import JobManager


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
    from erank_studio.ui.run_progress import warning_text

    assert warning_text(fake_engine) == ""
    fake_engine.is_reranker = False
    assert "not a reranker" in warning_text(fake_engine)
    fake_engine.warning = "Demo model in use: it is NOT a reranker <b>"
    text = warning_text(fake_engine)
    assert "NOT a reranker" in text and "<b>" not in text


def _fn(demo, name):
    return next(d.fn for d in demo.fns.values() if d.fn is not None and d.fn.__name__ == name)


def test_exports_are_private_in_the_apps_folder_and_deleted_after_download(store, fake_engine):
    import os
    import tempfile
    from pathlib import Path

    from erank_studio.ui import export_tab
    from erank_studio.ui.session import RunView

    demo = ui_app.build_app(store, EngineProvider(loader=lambda *a, **k: fake_engine), Defaults(model="fake"))
    message, update = _fn(demo, "make")("csv", False, False, False, "all", RunView(), "")
    path = Path(update["value"])
    assert message.startswith("✓") and path.is_file()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700 and path.parent.name.startswith("erank-exports-")
    assert path.parent != Path(tempfile.gettempdir())
    message, update = _fn(demo, "downloaded")(str(path))
    assert update["value"] is None and "Downloaded" in message
    export_tab.delete_export(str(path))  # what the timer the download started does
    assert not path.exists()
    export_tab.delete_export(os.devnull)  # never anything outside the app's folder
    assert os.path.exists(os.devnull)


def test_the_apps_temporary_folder_is_gone_when_it_exits(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import os\n"
        "from erank_studio.ui.server import private_gradio_folder\n"
        "os.environ.pop('GRADIO_TEMP_DIR', None)\n"
        "private_gradio_folder()\n"
        "from erank_studio.store import Store, exports\n"
        "from erank_studio.ui import export_tab\n"
        "from erank_studio.ui.context import Context, Defaults\n"
        f"store = Store('sqlite:///{tmp_path}/s.sqlite')\n"
        "ctx = Context(store=store, provider=None, defaults=Defaults())\n"
        "path, _ = export_tab.write_private_export(ctx, 'csv', exports.ExportFilter(), os.environ['GRADIO_TEMP_DIR'])\n"
        "print(os.environ['GRADIO_TEMP_DIR']); print(path); print(oct(os.stat(path).st_mode & 0o777))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    folder, path, mode = out.stdout.split()
    assert mode == "0o600" and Path(path).parent.parent == Path(folder)
    assert not Path(path).exists() and not Path(folder).exists()


def test_a_store_that_cannot_open_says_so_without_its_password(monkeypatch, capsys):
    import argparse
    import os

    from erank_studio.ui import server

    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("ERANK_")})
    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    rc = server.serve(parser.parse_args(["--db", "postgresql://bob:s3cr3t@127.0.0.1:1/x"]))
    err = capsys.readouterr().err
    assert rc == 2 and "s3cr3t" not in err and "bob:***@" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert server.store_label("sqlite:////srv/private/team.sqlite") == "team.sqlite"
    assert "s3cr3t" not in server.store_label("postgresql://bob:s3cr3t@db/x")


def test_the_page_starts_without_what_only_a_run_or_the_analyze_tab_needs():
    heavy = ("bm25s", "scipy", "plotly", "torch", "transformers", "ir_measures", "alembic")
    code = ("import sys\nimport erank_studio.ui.app\n"
            f"print('imported:' + ','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "imported:"


def test_the_analyze_tab_draws_its_figures_for_an_open_run(store, fake_engine):
    demo = ui_app.build_app(store, EngineProvider(loader=lambda *a, **k: fake_engine), Defaults(model="fake"))
    analyze = next(d.fn for d in demo.fns.values() if getattr(d.fn, "__name__", "") == "analyze")
    docs = [Document(f"d{i}", f"text {i}", first_stage_score=float(i)) for i in range(6)]
    manager = JobManager(store)
    job = manager.start(fake_engine, RunSpec("q", docs, instruction="i", truncate_length=64,
                                             settings=GenerationSettings(), alpha=0.2), owner="test")
    assert manager.wait_idle(10)
    view = session.open_run(store, job.run_id)
    session.add_label(store, view, "d1", "ann", 7, None, None)
    head, histogram, scatter, ndcg, confusion, text = analyze(view, "ann")
    assert head.startswith(f"run #{job.run_id} · 6 judgments · 1 labels")
    assert sum(len(trace.x) for trace in histogram.data) == 6 + 1  # six model scores, one human label
    assert len(scatter.data[0].x) == 6 and ndcg.data and confusion.data


def test_the_apps_temporary_folder_is_gone_after_sigterm(tmp_path):
    """A service manager stops the app with SIGTERM: uploads and exports of labels go with it."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    temp = tmp_path / "temp"
    temp.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TMPDIR": str(temp), "ERANK_DB_URL": f"sqlite:///{tmp_path}/s.sqlite",
           "ERANK_MODEL": str(tmp_path / "no-model"), "GRADIO_ANALYTICS_ENABLED": "False", "ERANK_AUTH": ""}
    env.pop("GRADIO_TEMP_DIR", None)
    proc = subprocess.Popen([sys.executable, str(root / "app.py"), "--port", str(port)], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:  # a state: the page answers
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the app never answered"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        (folder,) = list(temp.glob("erank-studio-*"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not folder.exists()


def test_uploads_are_bounded_and_a_public_benchmark_tab_offers_only_offline_datasets(monkeypatch):
    from erank_studio import data, docfiles
    from erank_studio.ui import benchmark

    assert ui_app.launch_kwargs(None)["max_file_size"] == docfiles.MAX_FILE_BYTES
    offline = {value for _, value in benchmark._choices(allow_downloads=False)}
    assert data.SAMPLE_NAME in offline
    assert not any(info.needs_network for info in data.list_datasets() if info.name in offline)
    assert len(benchmark._choices(allow_downloads=True)) > len(offline)
    monkeypatch.delenv("ERANK_ALLOW_DOWNLOADS", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert Defaults.from_env(public=False).allow_downloads and not Defaults.from_env(public=True).allow_downloads
    monkeypatch.setenv("ERANK_ALLOW_DOWNLOADS", "1")
    assert Defaults.from_env(public=True).allow_downloads


def _annotator_box(demo):
    return next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "erank-annotator")


def test_space_id_without_a_spaces_oauth_setup_builds_with_a_typed_annotator(store, fake_engine, monkeypatch,
                                                                            tmp_path):
    """SPACE_ID alone (set by hand, or a Space whose front matter dropped ``hf_oauth``): gradio's
    sign-in button would want a local ``huggingface-cli login`` and the app did not start (seen
    starting app.py with SPACE_ID from a requirements.txt-only environment). There is no button
    then, and the annotator name is typed."""
    for name in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "SYSTEM", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/erank-studio")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no login token here
    defaults = Defaults.from_env()
    assert defaults.on_spaces and not defaults.hf_sign_in and not defaults.allow_model_choice
    demo = ui_app.build_app(store, EngineProvider(loader=lambda *a, **k: fake_engine), defaults)
    assert _annotator_box(demo).interactive is not False
    assert not any(type(block).__name__ == "LoginButton" for block in demo.blocks.values())


def test_a_space_with_its_oauth_setup_signs_in_with_hugging_face(monkeypatch):
    """(tests/test_hub.py starts such a Space's app whole, with a Space's environment.)"""
    monkeypatch.setenv("SPACE_ID", "someone/erank-studio")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "stand-in")
    assert Defaults.from_env().hf_sign_in
    monkeypatch.delenv("SPACE_ID")
    assert not Defaults.from_env().hf_sign_in  # OAuth settings off a Space mean nothing
