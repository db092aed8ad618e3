"""The label store facade: runs, judgments and human labels in any SQLAlchemy database.

Never lose a label: on SQLite the database runs in WAL mode with a 30 s busy timeout, every
write is its own ``BEGIN IMMEDIATE`` transaction committed before the method returns, and
labels are append-only (a correction or an undo is a new row; the latest row per annotator is
the current label)."""
from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url

try:
    import fcntl
except ImportError:  # Windows: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]

from .. import prompt
from ..types import STATUS_FAILED, Document, GenerationSettings, Judgment, Truncation
from . import schema

REPO_ROOT = Path(__file__).resolve().parents[2]
DB_DIR = REPO_ROOT / "db"
MIGRATIONS_DIR = DB_DIR / "migrations"
DEFAULT_URL = f"sqlite:///{DB_DIR / 'erank_studio.sqlite'}"
BUSY_TIMEOUT_S = 30
RUN_STATUSES = ("running", "done", "cancelled", "failed")

Q = schema.Query.__table__
D = schema.DocumentRow.__table__
QD = schema.QueryDocument.__table__
R = schema.Run.__table__
J = schema.JudgmentRow.__table__
A = schema.Annotator.__table__
L = schema.Label.__table__
QR = schema.Qrel.__table__


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def text_sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass
class LabelRow:
    id: int
    query_id: int
    doc_id: str
    annotator: str
    score: int | None
    rationale: str | None
    note: str | None
    created_at: datetime
    retracted: bool = False


@dataclass
class RunRow:
    id: int
    query_id: int
    query_text: str
    model: str
    engine: str
    instruction: str
    truncate_length: int
    alpha: float
    status: str
    created_at: datetime
    n_judgments: int
    template: str = prompt.DEFAULT_TEMPLATE  # the prompt template's name (prompt.TEMPLATES)
    chat_template_source: str | None = None  # None for runs that predate its recording


def default_url() -> str:
    return os.environ.get("ERANK_DB_URL") or DEFAULT_URL


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {}
    if is_sqlite:
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):  # noqa: ANN001
            # Driver-level autocommit: we emit BEGIN ourselves (below) so that writers can take
            # the write lock up front; a deferred BEGIN that upgrades to a write lock can fail
            # with "database is locked" regardless of the busy timeout.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed label survives a power cut too, not just a crash of the app.
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("erank_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_HEAD: str | None = None


def _alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _head_revision() -> str:
    global _HEAD
    if _HEAD is None:
        from alembic.script import ScriptDirectory

        _HEAD = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    return _HEAD


def migrate(engine: Engine, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` inside one write transaction (concurrent openers wait)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    write = engine.execution_options(erank_write=True)
    with write.connect() as conn:
        with conn.begin():
            current = MigrationContext.configure(conn).get_current_revision()
            if revision == "head" and current == _head_revision():
                return
            command.upgrade(_alembic_config(conn), revision)


class Store:
    """Everything a run produces and everything a person says, kept and never overwritten."""

    def __init__(self, url: str | None = None, *, migrate_on_open: bool = True) -> None:
        self.url: str = url or default_url()
        self.engine: Engine = _make_engine(self.url)
        parsed = make_url(self.url)
        self._lock_path: str | None = None
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            self._lock_path = str(Path(parsed.database).expanduser()) + ".lock"
        self._lock_fd: int | None = None
        self._lock_pid: int | None = None
        self._thread_lock = threading.Lock()
        self._write_engine = self.engine.execution_options(erank_write=True)
        if migrate_on_open:
            migrate(self.engine)

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        self.engine.dispose()
        if self._lock_fd is not None and self._lock_pid == os.getpid():
            os.close(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, committed on exit (rolled back on error).

        SQLite serialises writers itself (BEGIN IMMEDIATE + busy timeout); for a database file
        writers also queue on an advisory lock file first, because SQLite's busy handler waits
        by sleeping with back-off and many concurrent writers then spend most time asleep."""
        with self._writer_lock():
            with self._write_engine.connect() as conn:
                with conn.begin():
                    yield conn

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        if self._lock_path is None or fcntl is None:
            yield
            return
        with self._thread_lock:
            if self._lock_fd is None or self._lock_pid != os.getpid():
                self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
                self._lock_pid = os.getpid()
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    # -- queries and documents ----------------------------------------------------------------

    def upsert_query(
        self, text: str, source: str | None = None, source_query_id: str | None = None
    ) -> int:
        with self.write() as conn:
            return self._upsert_query(conn, text, source, source_query_id)

    @staticmethod
    def _upsert_query(
        conn: Connection, text: str, source: str | None, source_query_id: str | None
    ) -> int:
        if not isinstance(text, str):
            raise ValueError("query text must be a string")
        src, sqid = source or "", source_query_id or ""
        stmt = select(Q.c.id).where(Q.c.source == src, Q.c.source_query_id == sqid)
        if not sqid:
            stmt = stmt.where(Q.c.text == text)
        found = conn.execute(stmt.order_by(Q.c.id).limit(1)).scalar()
        if found is not None:
            return int(found)
        return int(
            conn.execute(
                Q.insert().values(text=text, source=src, source_query_id=sqid, created_at=utcnow())
            ).inserted_primary_key[0]
        )

    @staticmethod
    def _document_row(conn: Connection, doc: Document, source: str = "") -> int:
        sha = text_sha1(doc.text)
        found = conn.execute(
            select(D.c.id).where(D.c.source == source, D.c.doc_id == doc.doc_id, D.c.text_sha1 == sha)
        ).scalar()
        if found is not None:
            return int(found)
        return int(
            conn.execute(
                D.insert().values(
                    doc_id=doc.doc_id, text=doc.text, title=doc.title, source=source, text_sha1=sha
                )
            ).inserted_primary_key[0]
        )

    def _link(
        self, conn: Connection, query_id: int, doc: Document, position: int, source: str = ""
    ) -> int:
        """Make ``doc`` a candidate of the query; a doc_id retyped with another text now means
        the new text (older labels and judgments keep pointing at the text they saw)."""
        document_id = self._document_row(conn, doc, source)
        row = conn.execute(
            select(QD.c.id, QD.c.document_id).where(QD.c.query_id == query_id, QD.c.doc_id == doc.doc_id)
        ).first()
        if row is None:
            conn.execute(
                QD.insert().values(
                    query_id=query_id,
                    doc_id=doc.doc_id,
                    document_id=document_id,
                    position=position,
                    first_stage_score=doc.first_stage_score,
                    first_stage_source=doc.first_stage_source,
                )
            )
        else:
            values: dict[str, Any] = {"document_id": document_id}
            if doc.first_stage_score is not None:
                values["first_stage_score"] = doc.first_stage_score
                values["first_stage_source"] = doc.first_stage_source
            conn.execute(QD.update().where(QD.c.id == row.id).values(**values))
        return document_id

    def _link_many(
        self, conn: Connection, query_id: int, docs: list[Document], source: str = ""
    ) -> dict[str, int]:
        """``_link`` for a whole candidate list in a few statements: doc_id -> document row."""
        shas = [text_sha1(d.text) for d in docs]
        wanted = {d.doc_id for d in docs}

        def known() -> dict[tuple[str, str], int]:
            found: dict[tuple[str, str], int] = {}
            ids = sorted(wanted)
            for i in range(0, len(ids), 500):
                for r in conn.execute(select(D.c.id, D.c.doc_id, D.c.text_sha1).where(
                        D.c.source == source, D.c.doc_id.in_(ids[i:i + 500]))):
                    found[(r.doc_id, r.text_sha1)] = r.id
            return found

        rows = known()
        new: dict[tuple[str, str], dict[str, Any]] = {}
        for d, sha in zip(docs, shas):
            if (d.doc_id, sha) not in rows and (d.doc_id, sha) not in new:
                new[(d.doc_id, sha)] = {"doc_id": d.doc_id, "text": d.text, "title": d.title,
                                        "source": source, "text_sha1": sha}
        if new:
            conn.execute(D.insert(), list(new.values()))
            rows = known()
        links = {r.doc_id: (r.id, r.document_id) for r in conn.execute(
            select(QD.c.id, QD.c.doc_id, QD.c.document_id).where(QD.c.query_id == query_id))}
        position = self._next_position(conn, query_id)
        inserts, result = [], {}
        for d, sha in zip(docs, shas):
            document_id = rows[(d.doc_id, sha)]
            result[d.doc_id] = document_id
            if d.doc_id in links:
                values: dict[str, Any] = {"document_id": document_id}
                if d.first_stage_score is not None:
                    values.update(first_stage_score=d.first_stage_score, first_stage_source=d.first_stage_source)
                conn.execute(QD.update().where(QD.c.id == links[d.doc_id][0]).values(**values))
            else:
                inserts.append({"query_id": query_id, "doc_id": d.doc_id, "document_id": document_id,
                                "position": position, "first_stage_score": d.first_stage_score,
                                "first_stage_source": d.first_stage_source})
                links[d.doc_id] = (None, document_id)
                position += 1
        if inserts:
            conn.execute(QD.insert(), inserts)
        return result

    def _ensure_query(self, conn: Connection, query_id: int) -> Any:
        row = conn.execute(select(Q).where(Q.c.id == query_id)).first()
        if row is None:
            raise ValueError(f"no query with id {query_id}")
        return row

    def add_documents(
        self, query_id: int, documents: Iterable[Document], source: str | None = None
    ) -> int:
        """Add documents to a query's candidate list (without judging them)."""
        with self.write() as conn:
            self._ensure_query(conn, query_id)
            docs = list(documents)
            self._link_many(conn, query_id, docs, source or "")
            return len(docs)

    @staticmethod
    def _next_position(conn: Connection, query_id: int) -> int:
        top = conn.execute(select(func.max(QD.c.position)).where(QD.c.query_id == query_id)).scalar()
        return 0 if top is None else int(top) + 1

    def documents_for_query(self, query_id: int) -> list[Document]:
        with self.read() as conn:
            rows = conn.execute(
                select(QD.c.doc_id, D.c.text, D.c.title, QD.c.first_stage_score, QD.c.first_stage_source)
                .join(D, D.c.id == QD.c.document_id)
                .where(QD.c.query_id == query_id)
                .order_by(QD.c.position, QD.c.id)
            ).all()
        return [
            Document(doc_id=r.doc_id, text=r.text, title=r.title, first_stage_score=r.first_stage_score,
                     first_stage_source=r.first_stage_source)
            for r in rows
        ]

    def query_text(self, query_id: int) -> str:
        with self.read() as conn:
            return self._ensure_query(conn, query_id).text

    def queries(self) -> list[dict[str, Any]]:
        """Every query: id, text, source, source_query_id (oldest first)."""
        with self.read() as conn:
            rows = conn.execute(select(Q).order_by(Q.c.id)).all()
        return [
            {"id": r.id, "text": r.text, "source": r.source or None,
             "source_query_id": r.source_query_id or None}
            for r in rows
        ]

    # -- runs and judgments -------------------------------------------------------------------

    def start_run(
        self,
        query_id: int,
        documents: list[Document],
        *,
        model: str,
        engine: str,
        instruction: str,
        truncate_length: int,
        generation: GenerationSettings,
        alpha: float,
        created_at: datetime | None = None,
        template: str = prompt.DEFAULT_TEMPLATE,
        chat_template_source: str | None = None,
    ) -> int:
        """A new run, "running". ``template`` names the prompt wording it is judged with
        (``prompt.TEMPLATES``) and ``chat_template_source`` where the chat template came from
        (``engine.chat_template_source``)."""
        if template not in prompt.TEMPLATES:
            raise ValueError(f"unknown template {template!r}; choose one of {', '.join(prompt.TEMPLATES)}")
        with self.write() as conn:
            self._ensure_query(conn, query_id)
            self._link_many(conn, query_id, list(documents))
            gen = generation.to_dict() if isinstance(generation, GenerationSettings) else dict(generation)
            return int(
                conn.execute(
                    R.insert().values(
                        query_id=query_id, model=model, engine=engine, instruction=instruction,
                        truncate_length=int(truncate_length), generation=gen, alpha=float(alpha),
                        status="running", created_at=created_at or utcnow(), template=template,
                        chat_template_source=chat_template_source,
                    )
                ).inserted_primary_key[0]
            )

    @staticmethod
    def _judgment_values(judgment: Judgment, run_id: int, document_id: int,
                         now: datetime | None = None) -> dict[str, Any]:
        qt, dt = judgment.query_truncation, judgment.document_truncation
        return {
            "run_id": run_id,
            "document_id": document_id,
            "doc_id": judgment.doc_id,
            "idx": judgment.index,
            "raw_output": judgment.raw_output,
            "trace": judgment.trace,
            "score": judgment.score,
            "probability": judgment.probability,
            "rank_score": judgment.rank_score,
            "first_stage_score": judgment.first_stage_score,
            "first_stage_source": judgment.first_stage_source,
            "hybrid_score": judgment.hybrid_score,
            "status": judgment.status,
            "failure": judgment.failure,
            "failure_detail": judgment.failure_detail,
            "prompt_tokens": judgment.prompt_tokens,
            "output_tokens": judgment.output_tokens,
            "latency_s": judgment.latency_s,
            "query_tokens": qt.original_tokens if qt else None,
            "query_tokens_kept": qt.kept_tokens if qt else None,
            "document_tokens": dt.original_tokens if dt else None,
            "document_tokens_kept": dt.kept_tokens if dt else None,
            "prompt_message": judgment.prompt_message,
            "extra": judgment.extra or {},
            "created_at": now or utcnow(),
        }

    @staticmethod
    def judgment_from_row(r: Any) -> Judgment:
        m = r._mapping
        return Judgment(
            doc_id=m["doc_id"], index=m["idx"], raw_output=m["raw_output"], status=m["status"],
            trace=m["trace"], score=m["score"], probability=m["probability"],
            rank_score=m["rank_score"], failure=m["failure"], failure_detail=m["failure_detail"],
            first_stage_score=m["first_stage_score"], first_stage_source=m["first_stage_source"],
            hybrid_score=m["hybrid_score"], prompt_tokens=m["prompt_tokens"],
            output_tokens=m["output_tokens"], latency_s=m["latency_s"],
            query_truncation=None if m["query_tokens"] is None
            else Truncation(m["query_tokens"], m["query_tokens_kept"]),
            document_truncation=None if m["document_tokens"] is None
            else Truncation(m["document_tokens"], m["document_tokens_kept"]),
            prompt_message=m["prompt_message"], extra=dict(m["extra"] or {}),
        )

    def _run_doc_map(self, conn: Connection, run_id: int, doc_ids: set[str]) -> dict[str, int]:
        query_id = conn.execute(select(R.c.query_id).where(R.c.id == run_id)).scalar()
        if query_id is None:
            raise ValueError(f"no run with id {run_id}")
        found: dict[str, int] = {}
        ids = sorted(doc_ids)
        for i in range(0, len(ids), 500):
            found.update(conn.execute(select(QD.c.doc_id, QD.c.document_id).where(
                QD.c.query_id == query_id, QD.c.doc_id.in_(ids[i:i + 500]))).all())
        return found

    def add_judgment(self, run_id: int, judgment: Judgment) -> None:
        """Store one judgment, committed before returning (for streaming)."""
        self.add_judgments(run_id, [judgment])

    def add_judgments(self, run_id: int, judgments: Iterable[Judgment]) -> int:
        """Store many judgments of one run in one transaction (bulk import, benchmarks)."""
        judgments = list(judgments)
        with self.write() as conn:
            docs = self._run_doc_map(conn, run_id, {j.doc_id for j in judgments})
            rows = []
            now = utcnow()
            for j in judgments:
                if j.doc_id not in docs:
                    raise ValueError(f"document {j.doc_id!r} is not among run {run_id}'s documents")
                rows.append(self._judgment_values(j, run_id, docs[j.doc_id], now))
            if rows:
                conn.execute(J.insert(), rows)
            return len(rows)

    def set_hybrid_scores(self, run_id: int, hybrid: dict[str, float | None], alpha: float) -> None:
        with self.write() as conn:
            if conn.execute(select(R.c.id).where(R.c.id == run_id)).scalar() is None:
                raise ValueError(f"no run with id {run_id}")
            conn.execute(R.update().where(R.c.id == run_id).values(alpha=float(alpha)))
            for doc_id, value in hybrid.items():
                conn.execute(
                    J.update().where(J.c.run_id == run_id, J.c.doc_id == doc_id).values(hybrid_score=value)
                )

    def finish_run(self, run_id: int, status: str = "done") -> None:
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES[1:])}, not {status!r}")
        with self.write() as conn:
            done = conn.execute(
                R.update().where(R.c.id == run_id).values(status=status, finished_at=utcnow())
            )
            if done.rowcount == 0:
                raise ValueError(f"no run with id {run_id}")

    def run_judgments(self, run_id: int) -> list[Judgment]:
        with self.read() as conn:
            rows = conn.execute(select(J).where(J.c.run_id == run_id).order_by(J.c.id)).all()
        return [self.judgment_from_row(r) for r in rows]

    def runs(self, query_id: int | None = None) -> list[RunRow]:
        counts = (
            select(J.c.run_id, func.count().label("n")).group_by(J.c.run_id).subquery()
        )
        stmt = (
            select(R, Q.c.text.label("query_text"), func.coalesce(counts.c.n, 0).label("n_judgments"))
            .join(Q, Q.c.id == R.c.query_id)
            .outerjoin(counts, counts.c.run_id == R.c.id)
            .order_by(R.c.created_at.desc(), R.c.id.desc())
        )
        if query_id is not None:
            stmt = stmt.where(R.c.query_id == query_id)
        with self.read() as conn:
            rows = conn.execute(stmt).all()
        return [
            RunRow(id=r.id, query_id=r.query_id, query_text=r.query_text, model=r.model,
                   engine=r.engine, instruction=r.instruction, truncate_length=r.truncate_length,
                   alpha=r.alpha, status=r.status, created_at=r.created_at, n_judgments=r.n_judgments,
                   template=r.template, chat_template_source=r.chat_template_source)
            for r in rows
        ]

    def run_info(self, run_id: int) -> dict[str, Any]:
        """A run's full settings (generation included)."""
        with self.read() as conn:
            row = conn.execute(select(R).where(R.c.id == run_id)).first()
        if row is None:
            raise ValueError(f"no run with id {run_id}")
        return dict(row._mapping)

    def judged_doc_ids(self, query_id: int, model: str, include_failed: bool = False) -> set[str]:
        """doc_ids this model has already judged for the query (failed judgments excluded unless
        asked, so a resumed batch retries them)."""
        stmt = (
            select(J.c.doc_id).distinct().join(R, R.c.id == J.c.run_id)
            .where(R.c.query_id == query_id, R.c.model == model)
        )
        if not include_failed:
            stmt = stmt.where(J.c.status != STATUS_FAILED)
        with self.read() as conn:
            return set(conn.execute(stmt).scalars())

    # -- labels -------------------------------------------------------------------------------

    @staticmethod
    def _annotator_id(conn: Connection, name: str, create: bool = True) -> int | None:
        found = conn.execute(select(A.c.id).where(A.c.name == name)).scalar()
        if found is not None or not create:
            return found
        return int(conn.execute(A.insert().values(name=name, created_at=utcnow())).inserted_primary_key[0])

    @staticmethod
    def validate_score(score: Any) -> int | None:
        if score is None:
            return None
        if isinstance(score, bool) or not isinstance(score, int):
            if isinstance(score, float) and score.is_integer():
                score = int(score)
            else:
                raise ValueError(f"a label score must be an integer from 0 to 10, got {score!r}")
        if not 0 <= score <= 10:
            raise ValueError(f"a label score must be an integer from 0 to 10, got {score}")
        return int(score)

    def add_label(
        self,
        query_id: int,
        doc_id: str,
        annotator: str,
        score: int | None,
        rationale: str | None = None,
        note: str | None = None,
        *,
        document: Document | None = None,
    ) -> LabelRow:
        """Append a label and commit it before returning. ``document`` links a document that
        is not yet among the query's candidates (a label on a document no run has seen)."""
        score = self.validate_score(score)
        annotator = (annotator or "").strip()
        if not annotator:
            raise ValueError("a label needs an annotator name")
        if score is None and not (note or rationale):
            raise ValueError("a label without a score needs a note or a rationale")
        with self.write() as conn:
            return self._insert_label(conn, query_id, doc_id, annotator, score, rationale, note,
                                      document=document)

    def add_labels(
        self, labels: Iterable[tuple[int, str, str, int | None, str | None, str | None]]
    ) -> int:
        """Many labels ``(query_id, doc_id, annotator, score, rationale, note)`` in one
        transaction (imports, benchmarks); the UI uses ``add_label``, one commit per label."""
        items = list(labels)
        now = utcnow()
        with self.write() as conn:
            annotators: dict[str, int] = {}
            docs: dict[tuple[int, str], int] = {}
            loaded: set[int] = set()
            rows = []
            for query_id, doc_id, annotator, score, rationale, note in items:
                score = self.validate_score(score)
                if score is None and not (note or rationale):
                    raise ValueError("a label without a score needs a note or a rationale")
                if annotator not in annotators:
                    annotators[annotator] = self._annotator_id(conn, annotator)
                if query_id not in loaded:
                    loaded.add(query_id)
                    for r in conn.execute(select(QD.c.doc_id, QD.c.document_id).where(QD.c.query_id == query_id)):
                        docs[(query_id, r.doc_id)] = r.document_id
                if (query_id, doc_id) not in docs:
                    raise ValueError(f"document {doc_id!r} is not a candidate of query {query_id}")
                rows.append({"query_id": query_id, "document_id": docs[(query_id, doc_id)], "doc_id": doc_id,
                             "annotator_id": annotators[annotator], "score": score, "rationale": rationale,
                             "note": note, "retracted": False, "action": "set", "created_at": now})
            if rows:
                conn.execute(L.insert(), rows)
        return len(items)

    def _insert_label(
        self, conn: Connection, query_id: int, doc_id: str, annotator: str, score: int | None,
        rationale: str | None, note: str | None, *, retracted: bool = False, action: str = "set",
        document: Document | None = None, created_at: datetime | None = None,
        document_id: int | None = None,
    ) -> LabelRow:
        if document_id is None:
            if document is not None:
                if document.doc_id != doc_id:
                    raise ValueError(f"document id {document.doc_id!r} does not match {doc_id!r}")
                self._ensure_query(conn, query_id)
                document_id = self._link(conn, query_id, document, self._next_position(conn, query_id))
            else:
                document_id = conn.execute(
                    select(QD.c.document_id).where(QD.c.query_id == query_id, QD.c.doc_id == doc_id)
                ).scalar()
                if document_id is None:
                    raise ValueError(
                        f"document {doc_id!r} is not a candidate of query {query_id}: "
                        "add it first (store.add_documents or add_label(document=...))"
                    )
        annotator_id = self._annotator_id(conn, annotator)
        created = created_at or utcnow()
        new_id = conn.execute(
            L.insert().values(
                query_id=query_id, document_id=document_id, doc_id=doc_id, annotator_id=annotator_id,
                score=score, rationale=rationale, note=note, retracted=retracted, action=action,
                created_at=created,
            )
        ).inserted_primary_key[0]
        return LabelRow(id=int(new_id), query_id=query_id, doc_id=doc_id, annotator=annotator,
                        score=score, rationale=rationale, note=note, created_at=created,
                        retracted=retracted)

    @staticmethod
    def _label_row(r: Any) -> LabelRow:
        return LabelRow(id=r.id, query_id=r.query_id, doc_id=r.doc_id, annotator=r.annotator,
                        score=r.score, rationale=r.rationale, note=r.note, created_at=r.created_at,
                        retracted=bool(r.retracted))

    def _label_select(self):
        return select(
            L.c.id, L.c.query_id, L.c.doc_id, A.c.name.label("annotator"), L.c.score, L.c.rationale,
            L.c.note, L.c.created_at, L.c.retracted, L.c.action,
        ).join(A, A.c.id == L.c.annotator_id)

    def current_labels(self, query_id: int, annotator: str | None = None) -> dict[str, LabelRow]:
        """doc_id -> the current label: the latest row of that annotator, or with no annotator
        the most recent current label of anyone. Retracted (undone) labels are absent."""
        latest = select(func.max(L.c.id)).where(L.c.query_id == query_id)
        with self.read() as conn:
            if annotator is not None:
                aid = self._annotator_id(conn, annotator, create=False)
                if aid is None:
                    return {}
                latest = latest.where(L.c.annotator_id == aid)
            latest = latest.group_by(L.c.doc_id, L.c.annotator_id)
            rows = conn.execute(self._label_select().where(L.c.id.in_(latest)).order_by(L.c.id)).all()
        out: dict[str, LabelRow] = {}
        for r in rows:
            if not r.retracted:
                out[r.doc_id] = self._label_row(r)  # ordered by id: the newest wins
        return out

    def label_history(self, query_id: int, doc_id: str, annotator: str | None = None) -> list[LabelRow]:
        stmt = self._label_select().where(L.c.query_id == query_id, L.c.doc_id == doc_id)
        if annotator is not None:
            stmt = stmt.where(A.c.name == annotator)
        with self.read() as conn:
            return [self._label_row(r) for r in conn.execute(stmt.order_by(L.c.id)).all()]

    def undo_label(self, query_id: int, doc_id: str, annotator: str) -> LabelRow | None:
        """Undo this annotator's last action by appending a row: the state before it, or a
        retracted row when there was none. Repeated undos walk further back. Returns the new
        current label (None when the document is now unlabelled by this annotator)."""
        with self.write() as conn:
            rows = conn.execute(
                self._label_select().where(
                    L.c.query_id == query_id, L.c.doc_id == doc_id, A.c.name == annotator
                ).order_by(L.c.id)
            ).all()
            stack: list[Any] = []
            for r in rows:
                if r.action == "undo":
                    if stack:
                        stack.pop()
                else:
                    stack.append(r)
            if not stack:
                return None  # nothing to undo
            stack.pop()
            document_id = conn.execute(
                select(L.c.document_id).where(L.c.id == rows[-1].id)
            ).scalar()
            if stack:
                prev = stack[-1]
                return self._insert_label(
                    conn, query_id, doc_id, annotator, prev.score, prev.rationale, prev.note,
                    action="undo", document_id=document_id,
                )
            self._insert_label(conn, query_id, doc_id, annotator, None, None, None,
                               retracted=True, action="undo", document_id=document_id)
            return None

    def annotators(self) -> list[str]:
        with self.read() as conn:
            return list(conn.execute(select(A.c.name).order_by(A.c.id)).scalars())

    def count_labels(self) -> int:
        with self.read() as conn:
            return int(conn.execute(select(func.count()).select_from(L)).scalar())

    # -- qrels --------------------------------------------------------------------------------

    def add_qrels(self, qrels: Iterable[tuple[str, str, int]], source: str) -> int:
        """Benchmark qrels (query id as the benchmark spells it, doc_id, relevance); a pair seen
        again takes the new relevance. Returns how many triples were stored."""
        triples = [(str(q), str(d), int(rel)) for q, d, rel in qrels]
        with self.write() as conn:
            return self._add_qrels(conn, triples, source)

    @staticmethod
    def _add_qrels(conn: Connection, triples: list[tuple[str, str, int]], source: str) -> int:
        existing = {
            (r.source_query_id, r.doc_id): (r.id, r.relevance)
            for r in conn.execute(select(QR.c.id, QR.c.source_query_id, QR.c.doc_id, QR.c.relevance)
                                  .where(QR.c.source == source))
        }
        new: dict[tuple[str, str], int] = {}
        for q, d, rel in triples:
            new[(q, d)] = rel
        inserts, updates = [], []
        for (q, d), rel in new.items():
            old = existing.get((q, d))
            if old is None:
                inserts.append({"source": source, "source_query_id": q, "doc_id": d, "relevance": rel})
            elif old[1] != rel:
                updates.append((old[0], rel))
        if inserts:
            conn.execute(QR.insert(), inserts)
        for row_id, rel in updates:
            conn.execute(QR.update().where(QR.c.id == row_id).values(relevance=rel))
        return len(triples)

    def qrels_for(self, query_id: int) -> dict[str, int]:
        with self.read() as conn:
            q = self._ensure_query(conn, query_id)
            if not q.source_query_id:
                return {}
            rows = conn.execute(
                select(QR.c.doc_id, QR.c.relevance).where(
                    QR.c.source == q.source, QR.c.source_query_id == q.source_query_id
                )
            ).all()
        return dict(rows)
