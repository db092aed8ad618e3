"""One run path, one input rule: the same query, instruction and documents (surrounding spaces,
CRLF, a BOM) through the Python API, ``rerank --docs --save``, the web API ``/rerank_documents``
and the batch give the same prompt bytes and the same document ids; an engine that raises after
its first document gives the same stored run status (``failed``) through each.

The web API runs against the app in a subprocess whose engine is the tiny Qwen3 of the other
paths, wrapped to raise after one document when the query holds CRASH."""
from __future__ import annotations

import json
import textwrap
import time

import pytest


gradio_client = pytest.importorskip("gradio_client")

QUERY = "\ufeff  How do cats purr?\r\n "
INSTRUCTION = "  Judge the relevance of the document.\r\nBe brief.  "
TEXTS = ["\ufeffCats purr by vibrating\r\nthe muscles of the larynx.  ", "Dogs bark\rat strangers.",
         "  Purring happens while breathing in and out.\r\n"]
CRASH_QUERY = "CRASH " + QUERY

CRASHING_ENGINE = textwrap.dedent('''
    class CrashingEngine:
        """The wrapped engine, raising after its first document when the query holds CRASH."""

        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def generate(self, prompts, settings, cancel=None):
            crash = "CRASH" in prompts[0].message
            for n, generation in enumerate(self.inner.generate(prompts, settings, cancel)):
                if crash and n == 1:
                    raise RuntimeError("the engine crashed")
                yield generation
''')

APP = textwrap.dedent('''
    import os, sys

    from erank_studio.engines.transformers_engine import TransformersEngine
    from erank_studio.store import Store
    from erank_studio.ui.app import build_app, launch_kwargs
    from erank_studio.ui.context import Defaults
    from erank_studio.ui.engine_provider import EngineProvider
''') + CRASHING_ENGINE + textwrap.dedent('''
    def load(*args, **kwargs):  # once the page is out, as the app loads its model
        return CrashingEngine(TransformersEngine(os.environ["ERANK_MODEL"], device="cpu", dtype="float32",
                                                 batch_size=1))

    store = Store(os.environ["ERANK_DB_URL"])
    demo = build_app(store, EngineProvider(loader=load), Defaults(model="tiny", max_new_tokens=8))
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[sys.argv.index("--port") + 1]), show_error=False, quiet=True,
                **launch_kwargs(None))
''')

namespace: dict = {}
exec(CRASHING_ENGINE, namespace)  # the same wrapper in this process
CrashingEngine = namespace["CrashingEngine"]


@pytest.fixture(scope="module")
def crash_app(tmp_path_factory, tiny_model_dir, start_app):
    folder = tmp_path_factory.mktemp("run-path-app")
    script = folder / "app_under_test.py"
    script.write_text(APP, encoding="utf-8")
    for app in start_app(folder, f"sqlite:///{folder}/web.sqlite", tiny_model_dir, script=script):
        yield app.url, app.db_url


def _stored(db_url: str, run_id: int | None = None):
    """(status, {doc_id: prompt_message}, query text) of a run (the newest without ``run_id``)."""
    from erank_studio.store import Store

    with Store(db_url, read_only=True) as store:
        run = store.runs()[0] if run_id is None else next(r for r in store.runs() if r.id == run_id)
        messages = {j.doc_id: j.prompt_message for j in store.run_judgments(run.id)}
        return run.status, messages, store.query_text(run.query_id)


def _through_python_api(engine, query):
    from erank_studio import Reranker
    from erank_studio.types import GenerationSettings

    reranker = Reranker(engine=engine)
    judging = reranker.judge(query, _documents(), INSTRUCTION, settings=GenerationSettings(max_new_tokens=8))
    return {j.doc_id: j.prompt_message for j in judging}


def _documents():
    from erank_studio.reranker import documents_from_dicts

    return documents_from_dicts([{"content": t} for t in TEXTS])


def _through_cli(engine, query, tmp_path, monkeypatch):
    from erank_studio.cli import main, rerank

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"content": t}) + "\n" for t in TEXTS), encoding="utf-8")
    monkeypatch.setattr(rerank, "engine_from", lambda args: engine)
    url = f"sqlite:///{tmp_path}/cli-{len(query)}.sqlite"
    try:
        main(["rerank", "--query", query, "--instruction", INSTRUCTION, "--docs", str(docs), "--save",
              "--db", url, "--max-new-tokens", "8"])
    except RuntimeError:
        pass
    return _stored(url)


def _through_batch(engine, query, tmp_path):
    from erank_studio.batch import rerank_dataset
    from erank_studio.data.base import Dataset, Query
    from erank_studio.store import Store
    from erank_studio.types import GenerationSettings

    ids = [d.doc_id for d in _documents()]
    dataset = Dataset(name="tiny", instruction=INSTRUCTION, _queries=[Query("q1", query)],
                      _corpus={i: (None, t) for i, t in zip(ids, TEXTS)})
    url = f"sqlite:///{tmp_path}/batch-{len(query)}.sqlite"
    with Store(url) as store:
        try:
            rerank_dataset(dataset, engine, store, top_k=len(TEXTS), settings=GenerationSettings(max_new_tokens=8),
                           progress=False)
        except RuntimeError:
            pass
    return _stored(url)


def _through_web(app, query):
    url, db_url = app
    client = gradio_client.Client(url, verbose=False)
    documents = "\n".join(json.dumps({"content": t}) for t in TEXTS)
    job = client.submit(query, documents, instruction=INSTRUCTION, max_new_tokens=8, api_name="/rerank_documents")
    try:
        result = job.result(timeout=120)
        run_id = result["run_id"]
    except Exception:  # the crash ends the API call; the store says what was recorded
        run_id = None
    for _ in range(200):  # the job thread finishes the run right after the crash
        status, messages, text = _stored(db_url, run_id)
        if status != "running":
            break
        time.sleep(0.05)
    return status, messages, text


def test_one_input_rule_and_one_status_through_every_entry_point(crash_app, tiny_engine, tmp_path, monkeypatch):
    from erank_studio import text_rules

    engine = CrashingEngine(tiny_engine)
    api = _through_python_api(engine, QUERY)
    cli = _through_cli(engine, QUERY, tmp_path, monkeypatch)
    batch = _through_batch(engine, QUERY, tmp_path)
    web = _through_web(crash_app, QUERY)
    expected_ids = [text_rules.text_doc_id(t) for t in TEXTS]
    assert sorted(api) == sorted(expected_ids)
    for name, (status, messages, query_text) in {"cli": cli, "batch": batch, "web": web}.items():
        assert status == "done", name
        assert query_text == "How do cats purr?", name
        assert messages == api, f"{name}: the prompt bytes differ from the Python API's"
    message = api[expected_ids[0]]
    assert "\r" not in message and "\ufeff" not in message and "Judge the relevance of the document.\nBe brief." in message

    crashed = {"cli": _through_cli(engine, CRASH_QUERY, tmp_path, monkeypatch),
               "batch": _through_batch(engine, CRASH_QUERY, tmp_path),
               "web": _through_web(crash_app, CRASH_QUERY)}
    assert {name: status for name, (status, _, _) in crashed.items()} == dict.fromkeys(crashed, "failed")
    assert all(len(messages) == 1 for _, messages, _ in crashed.values()), "the judgment before the crash is kept"
    with pytest.raises(RuntimeError, match="crashed"):
        _through_python_api(engine, CRASH_QUERY)
