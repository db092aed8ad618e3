"""What every engine provides: generations that stream back as each prompt finishes."""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..prompt import Prompt, Tokenizer
from ..types import GenerationSettings

FINISH_STOP = "stop"
FINISH_LENGTH = "length"
FINISH_ERROR = "error"
FINISH_CANCELLED = "cancelled"

# What is appended to an output with no parsable answer to read a forced score.
FORCE_SUFFIX_OPEN = "</think><answer>"
FORCE_SUFFIX_CLOSED = "<answer>"


@dataclass
class ScoreDigits:
    """What the model's distribution said where it wrote its score (see score_reading.py):
    P(d) of each digit token 0..9 at the score's first token, and P("0") after a "1" there."""

    first: dict[str, float]
    zero_after_one: float


class EngineUnavailable(RuntimeError):
    """The engine or model cannot be used here; the message says why, for the user. (Defined
    here, with the interface, so that engine modules need not import the loader's package.)"""


@dataclass
class Generation:
    """One prompt's output as the engine produced it."""

    index: int  # position of the prompt in the request
    text: str
    pieces: list[str] = field(default_factory=list)  # each generated token's text
    logprobs: list[float] = field(default_factory=list)  # each generated token's logprob
    token_ids: list[int] = field(default_factory=list)  # the generated tokens (EOS excluded)
    # Each token's (start, end) characters in ``text`` (token_spans): where P(N) is read. None
    # when the engine could not tell; then the pieces must spell the text exactly.
    spans: list[tuple[int, int]] | None = None
    finish_reason: str = FINISH_STOP
    prompt_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    # The digit probabilities at the score, where the output has a parsable score and the engine
    # could read them (score_reading.read_score_digits); None otherwise.
    score_digits: ScoreDigits | None = None
    # Recorded with the judgment (Judgment.extra), e.g. "server": the server that judged it.
    extra: dict[str, Any] = field(default_factory=dict)


class CancelToken:
    """Set by the caller (e.g. the UI's Cancel button) to stop a request between steps.

    It is also how a run hears its engine: ``writing`` (a ``writing.WritingScope``) receives the
    tokens so far of the documents being written. A token with a ``parent`` is cancelled when
    its parent is (a batch's one Cancel reaches each query's run, each with its own scope)."""

    def __init__(self, parent: CancelToken | None = None, writing: Any = None) -> None:
        self._event = threading.Event()
        self._parent = parent
        self.writing = writing

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or (self._parent is not None and self._parent.cancelled)


@runtime_checkable
class Engine(Protocol):
    name: str  # "transformers" | "vllm" | "openai"
    model: str  # what the user asked for (hub id, folder or served model name)
    tokenizer: Tokenizer | None  # for truncation and chat rendering; None if unknown
    is_reranker: bool  # False for the CPU demo model, which ignores ERank's format
    warning: str | None  # shown to the user (e.g. why the demo model is in use)
    # Where the chat template comes from ("model folder", "bundled Qwen3 template (stand-in)",
    # the server's own): recorded on every run.
    chat_template_source: str

    def generate(
        self,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> Iterator[Generation]:
        """Yield one Generation per prompt, each as soon as it is finished (any order)."""
        ...

    def force_scores(self, prompt: Prompt, partial_output: str) -> dict[int, float] | None:
        """P(N) for N in 0..10 after ``partial_output`` + the forcing suffix; None if unsupported."""
        ...

    def describe(self) -> dict[str, Any]:
        """Model, engine and settings worth recording with a run."""
        ...


def forcing_suffix(partial_output: str) -> str:
    """Close the trace if it is open, then open the answer."""
    return FORCE_SUFFIX_CLOSED if "</think>" in partial_output.lower() else FORCE_SUFFIX_OPEN


def batch_size_of(engine: object) -> int | None:
    """Documents the engine decodes together (its latest request's), or None where a server
    schedules them itself (vLLM, OpenAI-compatible)."""
    size = getattr(engine, "batch_size", None)
    return size if isinstance(size, int) else None


def batch_description_of(engine: object) -> str | None:
    """The batch size and how it was chosen, for the UI's model status; None as above."""
    text = getattr(engine, "batch_description", None)
    return text if isinstance(text, str) else None


def batch_note(engine: object) -> str:
    """", batch N" for a progress line, or "" where the engine does not batch itself."""
    size = batch_size_of(engine)
    return f", batch {size}" if size is not None else ""
