"""A hub model through the vLLM engine, the way a user loads it: the stand-in Hub
(tests/hub_server.py) on a loopback port serves a tiny Qwen3 as ``Alibaba-NLP/ERank-4B``, and
``Reranker("Alibaba-NLP/ERank-4B", engine="vllm")`` downloads it (``HF_ENDPOINT``), caches it,
loads it with vLLM and judges; the run saved to a store names the hub model. A second load, with
the Hub stopped (and HF_HUB_OFFLINE unset, as on a laptop gone offline), comes from the cache:
vLLM is given the cached folder (``availability.cached_snapshot``), since given the name it asks
the Hub for files the cache lacks and fails.

Each load is a user's program in a subprocess (``hub_server.run_python``): the script that runs
these tests (scripts/test_vllm_cpu.sh) and conftest turn HF_HUB_OFFLINE on, and huggingface_hub
and vLLM read it, HF_ENDPOINT and HF_HOME once, at import; the subprocess has them unset / set
for this test alone, with a temporary HF_HOME.

Needs vLLM, which the main environment does not have: run ``scripts/test_vllm_cpu.sh``.
Elsewhere the module is skipped."""
from __future__ import annotations

import pytest

pytest.importorskip("vllm", reason="vLLM is not installed here; run scripts/test_vllm_cpu.sh")

from hub_server import StandInHub, downloads, run_python, user_env  # noqa: E402  (tests/ is on sys.path)

ERANK = "Alibaba-NLP/ERank-4B"
LOAD_TIMEOUT_S = 600  # importing vLLM and starting its engine on two shared cores

JUDGE_AND_SAVE_WITH_VLLM = """
    import json, os
    from erank_studio import Reranker, runs
    from erank_studio.reranker import documents_from_dicts
    from erank_studio.store import Store
    from erank_studio.types import GenerationSettings
    docs = [{{"id": "purr", "content": "Cats purr when content."}}, {{"id": "bonds", "content": "Bonds pay coupons."}}]
    # float32 and eager: the tiny model as the other vLLM tests run it; a KV cache that fits a shared CPU.
    reranker = Reranker({model!r}, engine="vllm", dtype="float32", enforce_eager=True, max_model_len=1024,
                        kv_cache_memory_bytes=256 * 1024 * 1024)
    settings = GenerationSettings(max_new_tokens=4, force_answer=True)
    results = reranker.rerank("why do cats purr", docs, settings=settings)
    # What `rerank --save` does with the loaded engine: record the run, judge, store each judgment.
    with Store({db!r}) as store:
        run = runs.start(store, reranker.engine, runs.RunSpec(query="why do cats purr",
                                                              documents=documents_from_dicts(docs), settings=settings))
        saved = [j.status for j in runs.execute(run, reranker.engine, store)]
        stored = [[r.model, r.engine, r.n_judgments, r.status] for r in store.runs()]
    print(json.dumps({{"model": reranker.engine.model, "engine": reranker.engine.name,
                      "warning": reranker.warning, "source": reranker.engine.source, "status": sorted(r["status"] for r in results),
                      "saved": saved, "stored": stored,
                      "cached": sorted(os.listdir(os.path.join(os.environ["HF_HOME"], "hub")))}}))
"""


@pytest.fixture
def hub(tiny_model_dir):
    with StandInHub({ERANK: tiny_model_dir}) as running:
        yield running


def test_vllm_loads_a_hub_model_judges_and_saves_then_the_cache_serves_it_with_the_hub_stopped(hub, tmp_path):
    env = user_env(hub.endpoint, tmp_path / "hf")
    assert "HF_HUB_OFFLINE" not in env  # online for this test alone; the script's processes stay offline
    first = run_python(JUDGE_AND_SAVE_WITH_VLLM.format(model=ERANK, db=f"sqlite:///{tmp_path / 'first.sqlite'}"),
                       env, timeout=LOAD_TIMEOUT_S)
    assert (first["model"], first["engine"], first["warning"]) == (ERANK, "vllm", None)  # no fallback
    assert first["source"] == ERANK  # the Hub answers: vLLM downloads by name
    assert first["status"] == ["forced", "forced"] and first["saved"] == ["forced", "forced"]
    assert first["stored"] == [[ERANK, "vllm", 2, "done"]]
    assert "models--Alibaba-NLP--ERank-4B" in first["cached"]
    fetched = downloads(hub, ERANK)
    assert any(p.endswith("/model.safetensors") for p in fetched) and any(p.endswith("/tokenizer.json") for p in fetched)

    hub.stop()  # the endpoint now refuses connections: only the cache can serve the model
    again = run_python(JUDGE_AND_SAVE_WITH_VLLM.format(model=ERANK, db=f"sqlite:///{tmp_path / 'again.sqlite'}"),
                       env, timeout=LOAD_TIMEOUT_S)
    assert (again["model"], again["engine"], again["warning"]) == (ERANK, "vllm", None)
    # vLLM reads the cached folder (given the name it would ask the stopped Hub and fail)
    assert again["source"].startswith(str(tmp_path / "hf" / "hub" / "models--Alibaba-NLP--ERank-4B" / "snapshots"))
    assert again["status"] == ["forced", "forced"] and again["stored"] == [[ERANK, "vllm", 2, "done"]]
