"""A fake engine (counts its calls) and a fresh store for the UI's unit tests."""
from __future__ import annotations

import math
import threading

import pytest

from erank_studio.engines.base import FINISH_CANCELLED, FINISH_STOP, Generation
from erank_studio.engines.writing import writing_of

GATED_TOKENS_SO_FAR = 5  # what a gated document reports while it waits


class FakeEngine:
    """Scores document i with (i * 3) % 11 at probability 0.5; cancels between documents."""

    name = "fake"
    model = "fake-model"
    tokenizer = None
    is_reranker = True
    warning = None
    chat_template_source = "fake chat template"

    def __init__(self) -> None:
        self.calls = 0
        self.prompts_seen = 0

    def generate(self, prompts, settings, cancel=None):
        self.calls += 1
        for index, _prompt in enumerate(prompts):
            self.prompts_seen += 1
            if cancel is not None and cancel.cancelled:
                yield Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
                continue
            score = (index * 3) % 11
            pieces = ["<think>because</think><answer>", str(score), "</answer>"]
            yield Generation(index=index, text="".join(pieces), pieces=pieces,
                             logprobs=[0.0, math.log(0.5), 0.0], finish_reason=FINISH_STOP,
                             prompt_tokens=10, output_tokens=3)

    def force_scores(self, prompt, partial_output):
        return None

    def describe(self):
        return {"model": self.model, "engine": self.name}


class GatedEngine(FakeEngine):
    """The fake engine, but each document waits for ``release()``: a test decides when work happens."""

    def __init__(self) -> None:
        super().__init__()
        self._gate = threading.Semaphore(0)

    def release(self, n: int = 1) -> None:
        for _ in range(n):
            self._gate.release()

    def generate(self, prompts, settings, cancel=None):
        writing = writing_of(cancel)
        for generation in super().generate(prompts, settings, cancel):
            # Written up to its last token while it waits, as a real engine reports mid-document.
            writing.begin(generation.index)
            writing.tokens({generation.index: GATED_TOKENS_SO_FAR})
            while not self._gate.acquire(timeout=0.05):
                if cancel is not None and cancel.cancelled:
                    generation = Generation(index=generation.index, text="", finish_reason=FINISH_CANCELLED,
                                            error="cancelled")
                    break
            yield generation


@pytest.fixture
def gated_engine():
    return GatedEngine()


@pytest.fixture
def fake_engine():
    return FakeEngine()


@pytest.fixture
def store(store_url):
    """A fresh store, on SQLite and on PostgreSQL (the app works on either)."""
    from erank_studio.store import Store

    s = Store(store_url)
    yield s
    s.close()
