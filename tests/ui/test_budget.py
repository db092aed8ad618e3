"""The generation budget of a run that names none: the operator's ERANK_MAX_NEW_TOKENS, else the
loaded model's own (1,024 for the CPU default, ERank's 4,096 for the rest), in the page's box and
through the API."""
from __future__ import annotations

import types
import warnings

from erank_studio.models import CPU_MAX_NEW_TOKENS
from erank_studio.types import DEFAULT_MAX_NEW_TOKENS
from erank_studio.ui import api as ui_api
from erank_studio.ui import run_limits
from erank_studio.ui.context import Context, Defaults
from erank_studio.ui.engine_provider import EngineProvider

ERANK = types.SimpleNamespace()  # an engine that names no budget of its own: ERank's
CPU_DEFAULT = types.SimpleNamespace(suggested_max_new_tokens=CPU_MAX_NEW_TOKENS)


def test_the_model_budget_is_the_operators_else_the_models():
    assert run_limits.model_budget(CPU_DEFAULT, None) == 1024
    assert run_limits.model_budget(ERANK, None) == DEFAULT_MAX_NEW_TOKENS == 4096
    assert run_limits.model_budget(CPU_DEFAULT, 300) == 300


def test_the_box_follows_the_loaded_model_until_a_person_types_a_number():
    shown = run_limits.initial_budget(None)
    assert shown == 4096 and run_limits.box_budget(CPU_DEFAULT, None, shown, shown) == 1024
    assert run_limits.box_budget(None, None, None, None) is None  # nothing loaded yet
    assert run_limits.box_budget(CPU_DEFAULT, None, None, None) == 1024  # an empty box is filled in
    assert run_limits.box_budget(ERANK, None, 1024, 1024) == 4096  # what the page filled follows the model
    assert run_limits.box_budget(ERANK, None, 77, 1024) is None  # a typed number stays
    assert run_limits.box_budget(CPU_DEFAULT, 2000, 2000, 2000) == 2000  # the operator's stays


def test_the_box_says_whose_budget_it_shows():
    assert "operator" in run_limits.budget_info(CPU_DEFAULT, 2000)
    assert run_limits.budget_info(None, None).startswith("4,096 until the model has loaded")
    assert run_limits.budget_info(CPU_DEFAULT, None).startswith("this model's budget: 1,024 on a CPU")
    assert run_limits.budget_info(ERANK, None) == "this model's budget: 4,096, as ERank's released code"


def test_an_empty_box_runs_with_the_models_budget():
    numbers = run_limits.check_numbers(0.2, 2048, "", max_new_tokens_max=8192)
    assert numbers.max_new_tokens is None
    assert run_limits.settings_for(numbers, False, CPU_DEFAULT).max_new_tokens == 1024


def _budget_of_api_run(store, engine, **defaults) -> int:
    ctx = Context(store=store, provider=EngineProvider(loader=lambda *a, **k: engine),
                  defaults=Defaults(model="fake", **defaults))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        final = list(ui_api.api_rerank(ctx)("cats?", "cats purr\ndogs bark"))[-1]
    return store.run_info(final["run_id"])["generation"]["max_new_tokens"]


def test_an_api_run_naming_no_budget_gets_the_cpu_defaults_or_the_operators(store, fake_engine):
    fake_engine.suggested_max_new_tokens = CPU_MAX_NEW_TOKENS  # as load_engine marks the CPU default
    assert _budget_of_api_run(store, fake_engine) == 1024
    assert _budget_of_api_run(store, fake_engine, max_new_tokens=16) == 16
    del fake_engine.suggested_max_new_tokens
    assert _budget_of_api_run(store, fake_engine) == 4096


def test_a_run_started_before_the_box_caught_up_gets_the_models_own_budget():
    """The box shows 4,096 until the page hears the model has loaded; Rerank pressed before that
    (seen: a Space's CPU default judged two documents at 4,096 tokens each, 264 s) is untouched."""
    not_a_reranker = types.SimpleNamespace(suggested_max_new_tokens=CPU_MAX_NEW_TOKENS, is_reranker=False,
                                           model="Qwen/Qwen3-0.6B")
    budget, why = run_limits.page_run_budget(not_a_reranker, run_limits.initial_budget(None), None)
    assert budget == CPU_MAX_NEW_TOKENS and "not a reranker" in why
    assert run_limits.page_run_budget(not_a_reranker, 300, None) == (300, None)  # typed
    assert run_limits.page_run_budget(not_a_reranker, 2000, 2000)[0] == 2000  # the operator's own default
    erank = types.SimpleNamespace(is_reranker=True, model="Alibaba-NLP/ERank-4B")
    assert run_limits.page_run_budget(erank, run_limits.initial_budget(None), None) == (DEFAULT_MAX_NEW_TOKENS, None)
