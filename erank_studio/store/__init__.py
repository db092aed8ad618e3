"""The label store: SQLAlchemy schema, the Store facade, exports and imports.

- ``Store`` (store.py): the facade over one module per noun, each small functions taking a
  connection: ``database`` (opening, checks, transactions, the writer lock, migrations),
  ``queries``, ``candidates`` (documents; a doc_id names one text), ``runs``, ``judgments``,
  ``annotators``, ``labels``, ``qrels`` (tables in ``schema``).
- ``exports`` (exports.py): ``export(store, fmt, path, ExportFilter(...))`` and friends.
- ``imports`` (imports.py): ``import_file(store, fmt, path, source=..., query_id=...)``.
- ``trec`` (trec.py): strict TREC readers ``read_qrels`` / ``read_run`` and writers.
- ``validation`` (validation.py): the one set of rules for labels, ids, scores, alpha, statuses.
- ``writer`` (writer.py): ``JudgmentWriter``, judgments committed in small batches.
- ``teams`` (teams.py): roles, every annotator's current label per item, the disputed items
  and adjudications; ``resolve`` (resolve.py): one label per item from several annotators;
  ``hf_dataset`` (hf_dataset.py): the folder ``datasets.load_dataset`` reads, and the Hub upload.
- errors: ``StoreError`` and its kinds (``StoreBusy``, ``StoreNewer``, ``StoreMissing``,
  ``StoreReadOnly``, ``StoreCorrupt``) and ``ValidationError``, all ValueErrors with one-line
  messages.

Never imports gradio or torch."""
from __future__ import annotations

from typing import Any

from ..errors import (
    FileFormatError,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    StoreMissing,
    StoreNewer,
    StoreReadOnly,
    ValidationError,
)
from .candidates import DocumentIdTaken
from .store import DEFAULT_URL, WRITE_WAIT_S, LabelRow, RunRow, Store, default_url, migrate
from .writer import JudgmentWriter

__all__ = [
    "Store", "LabelRow", "RunRow", "FileFormatError", "DEFAULT_URL", "default_url", "migrate",
    "WRITE_WAIT_S", "JudgmentWriter", "StoreError", "StoreBusy", "StoreCorrupt", "StoreMissing",
    "StoreNewer", "StoreReadOnly", "ValidationError", "DocumentIdTaken",
    "ExportFilter", "export", "export_bytes", "export_to_tempfile", "EXPORT_FORMATS", "import_file",
]

_LAZY = {
    "ExportFilter": ("exports", "ExportFilter"),
    "export": ("exports", "export"),
    "export_bytes": ("exports", "export_bytes"),
    "export_to_tempfile": ("exports", "export_to_tempfile"),
    "EXPORT_FORMATS": ("exports", "FORMATS"),
    "import_file": ("imports", "import_file"),
}


def __getattr__(name: str) -> Any:
    # Exports and imports load ir_measures (and pandas for tables) only when asked for.
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(name)
