"""What every tab shares: the store, the engine provider, the app's defaults, the run in progress
(the job manager) and the cancel tokens of runs still waiting to start."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from ..engines.base import CancelToken
from ..models import DEMO_MODEL, ERANK_MODELS
from ..store import Store
from .engine_provider import AUTO_MODEL, EngineProvider
from .jobs import JobManager

ALLOW_MODEL_CHOICE_ENV = "ERANK_ALLOW_MODEL_CHOICE"
ALLOW_DOWNLOADS_ENV = "ERANK_ALLOW_DOWNLOADS"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ModelChoiceLocked(ValueError):
    """A visitor asked for a model or server the operator did not allow."""


def env_flag(name: str, default: bool) -> bool:
    """A yes/no environment variable; anything unrecognised is an error (a typo must not open a
    public server)."""
    value = (os.environ.get(name) or "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be 1/true/yes or 0/false/no, not {value!r}")


@dataclass
class Defaults:
    model: str = AUTO_MODEL
    engine: str = "auto"
    base_url: str = ""
    # The operator's budget (ERANK_MAX_NEW_TOKENS); None: each run gets its model's own
    # (run_limits.model_budget: 1,024 for the CPU default, 4,096 for ERank).
    max_new_tokens: int | None = None
    truncate_length: int = 2048
    annotator: str = ""
    batch_size: int | None = None  # prompts decoded together (transformers); None: the engine's default
    on_spaces: bool = False
    # "Sign in with Hugging Face": only where the Space set up OAuth for the app (front matter
    # `hf_oauth: true` gives it OAUTH_CLIENT_ID). Elsewhere gradio's LoginButton wants a local
    # `huggingface-cli login` and the app would not start (SPACE_ID set by hand, or a Space whose
    # front matter dropped hf_oauth): there the annotator name is typed, as off a Space.
    hf_sign_in: bool = False
    auth: bool = False
    # Off on a public server: a visitor could otherwise load any hub model (a 32B download) or
    # point the openai engine at an internal address.
    allow_model_choice: bool = True
    # Off on a public server: the Benchmark tab offers only what is here (the bundled sample, the
    # visitor's own files); a dataset that downloads would fetch gigabytes at a visitor's click.
    allow_downloads: bool = True

    def model_choices(self) -> list[str]:
        if not self.allow_model_choice:
            return [self.model]
        choices = [AUTO_MODEL, *ERANK_MODELS, DEMO_MODEL]
        if self.model not in choices:
            choices.insert(0, self.model)
        return choices

    @classmethod
    def from_env(cls, public: bool = False) -> Defaults:
        """The settings from ERANK_* variables. ``public``: the server listens beyond loopback
        (a Space always counts as public), which turns model choice and dataset downloads off
        unless ERANK_ALLOW_MODEL_CHOICE / ERANK_ALLOW_DOWNLOADS say otherwise."""
        on_spaces = bool(os.environ.get("SPACE_ID"))
        return cls(
            model=os.environ.get("ERANK_MODEL") or AUTO_MODEL,
            engine=os.environ.get("ERANK_ENGINE") or "auto",
            base_url=os.environ.get("ERANK_BASE_URL") or "",
            max_new_tokens=int(os.environ.get("ERANK_MAX_NEW_TOKENS") or 0) or None,
            truncate_length=int(os.environ.get("ERANK_TRUNCATE_LENGTH") or 2048),
            annotator=os.environ.get("ERANK_ANNOTATOR") or "",
            batch_size=int(os.environ["ERANK_BATCH_SIZE"]) if os.environ.get("ERANK_BATCH_SIZE") else None,
            on_spaces=on_spaces,
            hf_sign_in=on_spaces and bool(os.environ.get("OAUTH_CLIENT_ID")),
            auth=bool(os.environ.get("ERANK_AUTH")),
            allow_model_choice=env_flag(ALLOW_MODEL_CHOICE_ENV, default=not (public or on_spaces)),
            allow_downloads=env_flag(ALLOW_DOWNLOADS_ENV, default=not (public or on_spaces)),
        )


def provider_for(defaults: Defaults) -> EngineProvider:
    """The engine provider the settings ask for (the operator's batch size, if any)."""
    return EngineProvider(**({"batch_size": defaults.batch_size} if defaults.batch_size else {}))


@dataclass
class Context:
    store: Store
    provider: EngineProvider
    defaults: Defaults
    jobs: JobManager = None  # type: ignore[assignment]  # set from the store below
    # Who started each run this app judged (the annotator name typed then; "" when none), so other
    # pages can say whose run is in progress.
    started_by: dict[int, str] = field(default_factory=dict)
    _cancels: dict[str, CancelToken] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.jobs is None:
            self.jobs = JobManager(self.store)

    def engine_choice(self, model: str | None, engine: str | None, base_url: str | None,
                      *, strict: bool = True) -> tuple[str, str, str]:
        """(model, engine, base_url) to use. With model choice off, the operator's: a request for
        another raises ``ModelChoiceLocked`` (``strict``) or is replaced by the operator's."""
        d = self.defaults
        wanted = (model or d.model, engine or d.engine, base_url if base_url is not None else d.base_url)
        if d.allow_model_choice:
            return wanted
        if strict and EngineProvider.key(*wanted) != EngineProvider.key(d.model, d.engine, d.base_url):
            raise ModelChoiceLocked(
                "this server runs the model its operator chose; choosing another model or server is "
                f"turned off ({ALLOW_MODEL_CHOICE_ENV})")
        return d.model, d.engine, d.base_url

    # Runs that are still waiting to start (the model loads, or another run holds it) are cancelled
    # through their session's token; a started run is cancelled through the job manager.
    def new_cancel(self, session: str) -> CancelToken:
        token = CancelToken()
        with self._lock:
            self._cancels[session] = token
        return token

    def cancel_token(self, session: str) -> CancelToken:
        """The session's token for a run about to start: the one its Rerank click made (a Cancel
        pressed since then already stops it), else a new one."""
        with self._lock:
            token = self._cancels.get(session)
        return token if token is not None else self.new_cancel(session)

    def waiting(self, session: str) -> bool:
        """Whether the session has a run that waits to start (its Cancel must stay enabled)."""
        with self._lock:
            return session in self._cancels

    def drop_cancel(self, session: str) -> None:
        with self._lock:
            self._cancels.pop(session, None)

    def cancel(self, session: str) -> bool:
        with self._lock:
            token = self._cancels.get(session)
        if token is None:
            return False
        token.cancel()
        return True

    def finished(self, session: str, token: CancelToken) -> None:
        """The wait holding ``token`` ended: Cancel now says nothing is running."""
        with self._lock:
            if self._cancels.get(session) is token:
                del self._cancels[session]
