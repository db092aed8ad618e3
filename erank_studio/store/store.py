"""The label store facade: runs, judgments and human labels in SQLite (the zero-setup default) or
PostgreSQL (a team's shared server), one object for the UI, the web API and the CLI.

The work is done by one module per noun, each a set of small functions taking a connection:
``database`` (opening, transactions, the writer lock, migrations), ``queries``, ``candidates``
(documents, and which text a query's doc_id names), ``runs``, ``judgments`` (``writer``: their
batched writer), ``annotators``, ``labels``, ``qrels`` and ``teams``. A ``Store`` method opens one
transaction (``read()`` or ``write()``: committed before it returns) and hands it to them.
Labels are append-only (a correction or an undo is a new row; the latest row per annotator is
the current label)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .. import prompt
from ..errors import StoreError
from ..types import Document, GenerationSettings, Judgment
from . import annotators, candidates, judgments, labels, qrels, queries, runs, validation
from .candidates import DocumentIdTaken, text_sha1  # noqa: F401 - re-exported
from .clock import utcnow  # noqa: F401 - re-exported
from .database import (  # noqa: F401 - re-exported: callers and tests import them from here
    BULK_PAUSE_S,
    BUSY_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    DB_DIR,
    DEFAULT_URL,
    MIGRATIONS_DIR,
    PG_WRITE_LOCK,
    REPO_ROOT,
    VERSIONS,
    WRITE_WAIT_S,
    Database,
    _alembic_config,
    _head_revision,
    _make_database,
    _scripts,
    check_sqlite_health,
    checked_url,
    default_url,
    migrate,
    sqlite_path,
    store_files,
    without_password,
)
from .judgments import judgment_from_row
from .judgments import model_text as _model_text  # noqa: F401 - re-exported
from .labels import LabelRow
from .runs import RunRow
from .validation import RUN_STATUSES  # noqa: F401 - re-exported: callers import it from here
from .writer import JudgmentWriter


class Store(Database):
    """Everything a run produces and everything a person says, kept and never overwritten.

    ``read_only``: open for reading only (no write transaction); implies ``must_exist``.
    ``must_exist``: refuse a missing store (``StoreMissing``) instead of creating an empty one.
    ``write_wait_s``: how long a write waits for another writer before ``StoreBusy``. Opening
    a store runs every check of ``Database`` (a damaged store is refused here, before any model
    loads: a command that will write opens its store first); opening it for writing also marks
    its runs whose process has died as ``interrupted`` (``mark_interrupted``)."""

    def __init__(self, url: str | None = None, *, migrate_on_open: bool = True,
                 read_only: bool = False, must_exist: bool = False,
                 write_wait_s: float = WRITE_WAIT_S) -> None:
        super().__init__(url, migrate_on_open=migrate_on_open, read_only=read_only,
                         must_exist=must_exist, write_wait_s=write_wait_s)
        self.owner = runs.process_owner()
        if not read_only and migrate_on_open:
            try:
                self.mark_interrupted()
            except StoreError:
                self.close()
                raise

    # -- queries and documents ----------------------------------------------------------------

    def upsert_query(self, text: str, source: str | None = None, source_query_id: str | None = None) -> int:
        """A benchmark query is found by (source, id), a typed one by its text; added if new."""
        with self.write() as conn:
            return queries.upsert_query(conn, text, source, source_query_id)[0]

    def add_documents(self, query_id: int, documents: Iterable[Document], source: str | None = None) -> int:
        """Add documents to a query's candidate list (without judging them); an id the query
        already uses for another text is refused (``DocumentIdTaken``)."""
        docs = list(documents)
        with self.write() as conn:
            queries.query_row(conn, query_id)
            candidates.link_documents(conn, query_id, docs, source or "")
        return len(docs)

    def documents_for_query(self, query_id: int) -> list[Document]:
        with self.read() as conn:
            return candidates.documents_of(conn, query_id)

    def query_text(self, query_id: int) -> str:
        with self.read() as conn:
            return queries.query_row(conn, query_id).text

    def queries(self) -> list[dict[str, Any]]:
        """Every query: id, text, source, source_query_id (oldest first)."""
        with self.read() as conn:
            return [q.as_dict() for q in queries.query_rows(conn)]

    def renamed_documents(self) -> list[dict[str, Any]]:
        """What migration 0009 did (query_id, old_doc_id, new_doc_id, labels, judgments, renamed_at)."""
        with self.read() as conn:
            return candidates.renamed_documents(conn)

    # -- runs and judgments -------------------------------------------------------------------

    def start_run(self, query_id: int, documents: list[Document], *, model: str, engine: str,
                  instruction: str, truncate_length: int, generation: GenerationSettings, alpha: float,
                  created_at: datetime | None = None, template: str = prompt.DEFAULT_TEMPLATE,
                  chat_template_source: str | None = None) -> int:
        """A new run, "running". ``engine`` is the model backend; ``template`` names the prompt
        wording (``prompt.TEMPLATES``), ``chat_template_source`` where the chat template came from."""
        with self.write() as conn:
            return runs.start_run(conn, query_id, documents, model=model, engine=engine, instruction=instruction,
                                  truncate_length=truncate_length, generation=generation, alpha=alpha,
                                  owner=self.owner, created_at=created_at, template=template,
                                  chat_template_source=chat_template_source)

    @staticmethod
    def judgment_from_row(r: Any) -> Judgment:
        return judgment_from_row(r)

    def add_judgment(self, run_id: int, judgment: Judgment) -> None:
        """Store one judgment, committed before returning (for streaming)."""
        self.add_judgments(run_id, [judgment])

    def add_judgments(self, run_id: int, judgments_: Iterable[Judgment]) -> int:
        """Store many judgments of one run in one transaction (bulk import, benchmarks)."""
        with self.write() as conn:
            return judgments.add_judgments(conn, run_id, judgments_)

    def set_hybrid_scores(self, run_id: int, hybrid: dict[str, float | None], alpha: float) -> None:
        """Save the run's alpha and the given documents' hybrid scores in one transaction."""
        alpha = validation.alpha(alpha)
        with self.write() as conn:
            runs.set_alpha(conn, run_id, alpha)
            judgments.set_hybrid_scores(conn, run_id, hybrid)

    def mark_interrupted(self, run_ids: Iterable[int] | None = None) -> list[int]:
        """Mark runs that stopped without finishing as ``interrupted``; returns their ids.

        With ``run_ids``: those runs, if still ``running`` (a resumed batch, a run its owner
        knows is dead). Without: every ``running`` run started on this host by a process that
        no longer exists (runs of other hosts, or of older versions that did not record their
        process, are left alone). Called by every opening for writing."""
        with self.read() as conn:
            running = runs.running_runs(conn, run_ids)
        if run_ids is None:
            dead = [i for i, owner in running if owner and owner != self.owner and runs.owner_alive(owner) is False]
        else:
            dead = [i for i, _ in running]
        if dead:
            with self.write() as conn:
                runs.mark_interrupted(conn, dead)
        return dead

    def judgment_writer(self, run_id: int, *, max_rows: int | None = None,
                        max_delay_s: float | None = None) -> JudgmentWriter:
        """A buffered writer of this run's judgments (see ``writer.JudgmentWriter``)."""
        kwargs = {k: v for k, v in (("max_rows", max_rows), ("max_delay_s", max_delay_s)) if v is not None}
        return JudgmentWriter(self, run_id, **kwargs)

    def finish_run(self, run_id: int, status: str = "done") -> None:
        with self.write() as conn:
            runs.finish_run(conn, run_id, status)

    def run_judgments(self, run_id: int) -> list[Judgment]:
        with self.read() as conn:
            return judgments.run_judgments(conn, run_id)

    def runs(self, query_id: int | None = None, limit: int | None = None) -> list[RunRow]:
        """Runs, newest first (at most ``limit``), with their judgment counts."""
        with self.read() as conn:
            return runs.list_runs(conn, query_id, limit)

    def run_info(self, run_id: int) -> dict[str, Any]:
        """A run's full settings (generation included)."""
        with self.read() as conn:
            return runs.run_info(conn, run_id)

    def judged_doc_ids(self, query_id: int, model: str, include_failed: bool = False) -> set[str]:
        """doc_ids this model has already judged for the query (failed ones excluded unless asked)."""
        with self.read() as conn:
            return runs.judged_doc_ids(conn, query_id, model, include_failed)

    # -- labels -------------------------------------------------------------------------------

    @staticmethod
    def validate_score(score: Any) -> int | None:
        return validation.label_score(score, "a label score")

    def add_label(self, query_id: int, doc_id: str, annotator: str, score: int | None,
                  rationale: str | None = None, note: str | None = None, *,
                  document: Document | None = None) -> LabelRow:
        """Append a label and commit it before returning; a label equal to the person's current
        one writes nothing and returns it (``labels.add_label``). ``document`` links a document
        that is not yet among the query's candidates (a label on a document no run has seen)."""
        score, rationale, note, annotator = validation.label(score, rationale, note, annotator)
        if document is not None:
            validation.document(document.doc_id, document.text, document.title)
        with self.write() as conn:
            return labels.add_label(conn, query_id, doc_id, annotator, score, rationale, note, document)

    def add_labels(self, items: Iterable[tuple[int, str, str, int | None, str | None, str | None]]) -> int:
        """Many labels ``(query_id, doc_id, annotator, score, rationale, note)`` in one
        transaction (imports, benchmarks); the UI uses ``add_label``, one commit per label."""
        with self.write() as conn:
            return labels.add_labels(conn, items)

    def current_labels(self, query_id: int, annotator: str | None = None) -> dict[str, LabelRow]:
        """doc_id -> the current label (``labels.current_labels``)."""
        with self.read() as conn:
            return labels.current_labels(conn, query_id, annotator)

    def label_history(self, query_id: int, doc_id: str, annotator: str | None = None) -> list[LabelRow]:
        """Every label row of the document, oldest first: sets, undos and adjudications."""
        with self.read() as conn:
            return labels.label_history(conn, query_id, doc_id, annotator)

    def undo_label(self, query_id: int, doc_id: str, annotator: str) -> LabelRow | None:
        """Undo this annotator's last action (``labels.undo_label``); returns the new current label."""
        with self.write() as conn:
            return labels.undo_label(conn, query_id, doc_id, annotator)

    def annotators(self) -> list[str]:
        with self.read() as conn:
            return annotators.annotator_names(conn)

    def count_labels(self) -> int:
        with self.read() as conn:
            return labels.count_labels(conn)

    # -- qrels --------------------------------------------------------------------------------

    def add_qrels(self, triples: Iterable[tuple[str, str, int]], source: str) -> int:
        """Benchmark qrels (query id as the benchmark spells it, doc_id, relevance); a pair seen
        again takes the new relevance. Returns how many triples were stored."""
        checked = [(validation.identifier(str(q), "query id"), validation.identifier(str(d), "document id"),
                    validation.relevance(int(rel))) for q, d, rel in triples]
        with self.write() as conn:
            qrels.add_qrels(conn, checked, source)
        return len(checked)

    def qrels_for(self, query_id: int) -> dict[str, int]:
        with self.read() as conn:
            return qrels.qrels_for(conn, query_id)
