"""What every tab shares: the store, the engine provider, the app's defaults, live cancel tokens."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from ..engines.base import CancelToken
from ..models import DEMO_MODEL, ERANK_MODELS
from ..store import Store
from .engine_provider import AUTO_MODEL, EngineProvider


@dataclass
class Defaults:
    model: str = AUTO_MODEL
    engine: str = "auto"
    base_url: str = ""
    max_new_tokens: int = 4096  # ERank's released code generates up to 4096 new tokens
    truncate_length: int = 2048
    annotator: str = ""
    batch_size: int | None = None  # prompts decoded together (transformers); None: the engine's default
    on_spaces: bool = False
    auth: bool = False

    def model_choices(self) -> list[str]:
        choices = [AUTO_MODEL, *ERANK_MODELS, DEMO_MODEL]
        if self.model not in choices:
            choices.insert(0, self.model)
        return choices

    @classmethod
    def from_env(cls) -> Defaults:
        return cls(
            model=os.environ.get("ERANK_MODEL") or AUTO_MODEL,
            engine=os.environ.get("ERANK_ENGINE") or "auto",
            base_url=os.environ.get("ERANK_BASE_URL") or "",
            max_new_tokens=int(os.environ.get("ERANK_MAX_NEW_TOKENS") or 4096),
            truncate_length=int(os.environ.get("ERANK_TRUNCATE_LENGTH") or 2048),
            annotator=os.environ.get("ERANK_ANNOTATOR") or "",
            batch_size=int(os.environ["ERANK_BATCH_SIZE"]) if os.environ.get("ERANK_BATCH_SIZE") else None,
            on_spaces=bool(os.environ.get("SPACE_ID")),
            auth=bool(os.environ.get("ERANK_AUTH")),
        )


@dataclass
class Context:
    store: Store
    provider: EngineProvider
    defaults: Defaults
    _cancels: dict[str, CancelToken] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_cancel(self, session: str) -> CancelToken:
        token = CancelToken()
        with self._lock:
            self._cancels[session] = token
        return token

    def cancel(self, session: str) -> bool:
        with self._lock:
            token = self._cancels.get(session)
        if token is None:
            return False
        token.cancel()
        return True

    def finished(self, session: str, token: CancelToken) -> None:
        """The run holding ``token`` ended: Cancel now says nothing is running."""
        with self._lock:
            if self._cancels.get(session) is token:
                del self._cancels[session]
