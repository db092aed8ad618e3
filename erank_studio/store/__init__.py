"""The label store: SQLAlchemy schema, the Store facade, exports and imports.

Never imports gradio or torch."""
from __future__ import annotations

from .errors import FileFormatError
from .store import DEFAULT_URL, LabelRow, RunRow, Store, default_url, migrate

__all__ = ["Store", "LabelRow", "RunRow", "FileFormatError", "DEFAULT_URL", "default_url", "migrate"]
