"""The store's tables (SQLAlchemy 2 declarative). Migrations in db/migrations mirror this file.

Identity choices (why):
- a *document* row is unique on (source, doc_id, sha1(text)): the same external doc_id typed by
  hand under two queries with different texts must never be mixed up, and a label must keep
  pointing at the text the person actually read;
- a query's candidate list lives in ``query_documents`` (query, doc_id) -> document row, with
  the first-stage score the document came with;
- labels are append-only rows; ``action`` is "set" for a person's label, "undo" for a row
  written by undo and "adjudicate" for an adjudicator's final label (its note says why), so
  history, undo and adjudication are computed from the rows alone; an adjudication is never
  anyone's own label.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement


class utf8_text(FunctionElement):  # noqa: N801 (an SQL function's name)
    """UTF-8 bytes read as TEXT, in each database's own words (see ``DocumentText``)."""

    type = Text()
    name = "utf8_text"
    inherit_cache = True


@compiles(utf8_text)
def _cast_to_text(element: utf8_text, compiler: Any, **kw: Any) -> str:
    # SQLite reads a BLOB cast to TEXT as text in the database's encoding (UTF-8).
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"


@compiles(utf8_text, "postgresql")
def _convert_from_utf8(element: utf8_text, compiler: Any, **kw: Any) -> str:
    return f"convert_from({compiler.process(element.clauses, **kw)}, 'UTF8')"


class _Utf8Bytes(TypeDecorator):
    """A ``str`` parameter sent as its UTF-8 bytes."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return value.encode("utf-8") if isinstance(value, str) else value


class DocumentText(TypeDecorator):
    """A document's text: TEXT in every database, sent as UTF-8 bytes that the statement reads
    back as TEXT. Both drivers bind a ``str`` through the UTF-8 form CPython then caches on that
    string for its whole life, so a 50 MB CJK document would carry a second 50 MB through the
    run that judges it; bytes are a copy freed once the row is written. The stored value is the
    same text either way."""

    impl = Text
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> Any:
        return utf8_text(type_coerce(bindvalue, _Utf8Bytes()))


# The newest migration in db/migrations/versions (what ``alembic heads`` says; a test keeps the two
# equal). Opening a store compares its alembic_version row with this by plain SQL, so a store
# that is already current opens without importing alembic.
HEAD_REVISION = "0010"


class Base(DeclarativeBase):
    pass


class Query(Base):
    __tablename__ = "queries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    # "" when the query was typed by hand (NULLs would defeat the unique constraint in SQLite).
    source: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    source_query_id: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    __table_args__ = (
        UniqueConstraint("source", "source_query_id", "text", name="uq_queries_source_id_text"),
        Index("ix_queries_source", "source", "source_query_id"),
    )


class DocumentRow(Base):
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(500), nullable=False)
    text: Mapped[str] = mapped_column(DocumentText, nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    text_sha1: Mapped[str] = mapped_column(String(40), nullable=False)
    __table_args__ = (
        UniqueConstraint("source", "doc_id", "text_sha1", name="uq_documents_identity"),
    )


class QueryDocument(Base):
    """A query's candidate list: which document row a doc_id means under this query."""

    __tablename__ = "query_documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), nullable=False)
    doc_id: Mapped[str] = mapped_column(String(500), nullable=False)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_stage_score: Mapped[float | None] = mapped_column(Float)
    first_stage_source: Mapped[str | None] = mapped_column(String(50))
    __table_args__ = (UniqueConstraint("query_id", "doc_id", name="uq_query_documents"),)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), nullable=False, index=True)
    model: Mapped[str] = mapped_column(String(500), nullable=False)
    engine: Mapped[str] = mapped_column(String(100), nullable=False)
    instruction: Mapped[str] = mapped_column(Text, nullable=False)
    truncate_length: Mapped[int] = mapped_column(Integer, nullable=False)
    generation: Mapped[dict] = mapped_column(JSON, nullable=False)
    alpha: Mapped[float] = mapped_column(Float, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="running")
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Revision 0004: the prompt template's name (prompt.TEMPLATES); runs from before it were
    # judged with the paper's wording, hence the server default.
    template: Mapped[str] = mapped_column(String(20), nullable=False, server_default="paper")
    # Revision 0004: where the chat template came from (engine.chat_template_source); NULL when
    # the run predates the column.
    chat_template_source: Mapped[str | None] = mapped_column(String(200))
    # Revision 0005: "host:pid:process start" of the process judging the run, so that a run
    # whose process died can be told from one still going and marked "interrupted".
    owner: Mapped[str | None] = mapped_column(String(300))
    __table_args__ = (
        Index("ix_runs_status", "status"),
        Index("ix_runs_query_model", "query_id", "model"),
        # Revision 0006: the run list, newest first, reads only the runs it shows.
        Index("ix_runs_created", "created_at", "id"),
    )


class JudgmentRow(Base):
    __tablename__ = "judgments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), nullable=False, index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), nullable=False)
    doc_id: Mapped[str] = mapped_column(String(500), nullable=False)
    idx: Mapped[int] = mapped_column(Integer, nullable=False)
    raw_output: Mapped[str] = mapped_column(Text, nullable=False)
    trace: Mapped[str | None] = mapped_column(Text)
    score: Mapped[int | None] = mapped_column(Integer)
    probability: Mapped[float | None] = mapped_column(Float)
    rank_score: Mapped[float | None] = mapped_column(Float)
    first_stage_score: Mapped[float | None] = mapped_column(Float)
    first_stage_source: Mapped[str | None] = mapped_column(String(50))
    hybrid_score: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    failure: Mapped[str | None] = mapped_column(String(100))
    failure_detail: Mapped[str | None] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    latency_s: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    query_tokens: Mapped[int | None] = mapped_column(Integer)
    query_tokens_kept: Mapped[int | None] = mapped_column(Integer)
    document_tokens: Mapped[int | None] = mapped_column(Integer)
    document_tokens_kept: Mapped[int | None] = mapped_column(Integer)
    prompt_message: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    # Revision 0007: P(0..10) at the answer (11 floats summing to 1), E[N] and the entropy in
    # bits; NULL where the engine could not read the distribution or the row predates it.
    score_distribution: Mapped[list | None] = mapped_column(JSON)
    expected_score: Mapped[float | None] = mapped_column(Float)
    score_entropy: Mapped[float | None] = mapped_column(Float)
    __table_args__ = (
        # Revision 0003: covering index for "latest judgment of each document" (SFT export).
        Index("ix_judgments_run_document", "run_id", "document_id"),
        # Revision 0005: the alpha change's bulk update, keyed by (run_id, doc_id).
        Index("ix_judgments_run_doc_id", "run_id", "doc_id"),
    )


class Annotator(Base):
    __tablename__ = "annotators"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class Label(Base):
    __tablename__ = "labels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), nullable=False)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), nullable=False)
    doc_id: Mapped[str] = mapped_column(String(500), nullable=False)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id"), nullable=False)
    score: Mapped[int | None] = mapped_column(Integer)
    rationale: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    retracted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    action: Mapped[str] = mapped_column(String(10), nullable=False, default="set")
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    __table_args__ = (
        # Revision 0002: the lookup behind current_labels / label_history.
        Index("ix_labels_lookup", "query_id", "doc_id", "annotator_id", "id"),
    )


class Role(Base):
    """Revision 0008: what a person may do beyond labelling ("adjudicator": set final labels)."""

    __tablename__ = "roles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id"), nullable=False)
    role: Mapped[str] = mapped_column(String(30), nullable=False)
    granted_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    __table_args__ = (UniqueConstraint("annotator_id", "role", name="uq_roles_annotator_role"),)


class Qrel(Base):
    """Relevance judgments imported from a benchmark, keyed by the benchmark's own ids."""

    __tablename__ = "qrels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    source_query_id: Mapped[str] = mapped_column(String(200), nullable=False)
    doc_id: Mapped[str] = mapped_column(String(500), nullable=False)
    relevance: Mapped[int] = mapped_column(Integer, nullable=False)
    __table_args__ = (
        UniqueConstraint("source", "source_query_id", "doc_id", name="uq_qrels"),
    )


class RenamedDocument(Base):
    """Revision 0009: a document id that had been re-pointed to a new text, whose older text
    (with its labels and judgments) got an id of its own, ``<old_doc_id>~<sha1[:8]>``."""

    __tablename__ = "renamed_documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), nullable=False)
    old_doc_id: Mapped[str] = mapped_column(String(500), nullable=False)
    new_doc_id: Mapped[str] = mapped_column(String(500), nullable=False)
    old_document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), nullable=False)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), nullable=False)
    labels: Mapped[int] = mapped_column(Integer, nullable=False)
    judgments: Mapped[int] = mapped_column(Integer, nullable=False)
    renamed_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


# The tables as SQL Core sees them, for the store's noun modules (``from .schema import LABELS as
# L``); nothing outside erank_studio/store/ imports them.
QUERIES = Query.__table__
DOCUMENTS = DocumentRow.__table__
CANDIDATES = QueryDocument.__table__
RUNS = Run.__table__
JUDGMENTS = JudgmentRow.__table__
ANNOTATORS = Annotator.__table__
LABELS = Label.__table__
ROLES = Role.__table__
QRELS = Qrel.__table__
RENAMED_DOCUMENTS = RenamedDocument.__table__


# -- campaigns (revision 0010) -----------------------------------------------------------------
# Labels made in a campaign say which campaign, whether the model's answer was withheld, which
# guideline version the person read and how long they took; labels made elsewhere leave them NULL,
# so every existing label query reads them unchanged. Added to the mapped class here (SQLAlchemy's
# documented way to extend a declarative class) so the campaign columns live with the campaign
# tables below.
Label.campaign_id = mapped_column("campaign_id", ForeignKey("campaigns.id"), nullable=True)
Label.blind = mapped_column("blind", Boolean, nullable=True)
Label.guideline_version = mapped_column("guideline_version", Integer, nullable=True)
Label.seconds = mapped_column("seconds", Float, nullable=True)
# A blind label's rationale may fall back on the model's trace (the SFT export) only when the
# person kept that trace after it was revealed: True then, False for a blind label, NULL elsewhere.
Label.trace_kept = mapped_column("trace_kept", Boolean, nullable=True)


class Campaign(Base):
    """A named set of items that ``overlap`` people each label (campaigns/)."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    overlap: Mapped[int] = mapped_column(Integer, nullable=False)
    blind: Mapped[bool] = mapped_column(Boolean, nullable=False)
    strategy: Mapped[str] = mapped_column(String(30), nullable=False)
    lease_s: Mapped[int] = mapped_column(Integer, nullable=False)
    # where the items came from, for people: "run 3", "dataset sample (model m, top 10)"
    origin: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class CampaignGuidelines(Base):
    """One version of a campaign's guidelines (markdown); editing adds the next version."""

    __tablename__ = "campaign_guidelines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    __table_args__ = (UniqueConstraint("campaign_id", "version", name="uq_campaign_guidelines"),)


class CampaignItem(Base):
    """One (query, document row) of a campaign, in the order its strategy hands them out. The
    document row (not only its doc_id) keeps the label bound to the text the person read; the run
    is where the model's judgment comes from (NULL: none)."""

    __tablename__ = "campaign_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), nullable=False)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), nullable=False)
    doc_id: Mapped[str] = mapped_column(String(500), nullable=False)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    __table_args__ = (
        UniqueConstraint("campaign_id", "query_id", "doc_id", name="uq_campaign_items"),
        Index("ix_campaign_items_order", "campaign_id", "position"),
    )


class CampaignLease(Base):
    """Who holds an item now: ``state`` "leased" until ``expires_at`` (then free again), or
    "skipped" (never handed to that person again). One row per (item, person), updated."""

    __tablename__ = "campaign_leases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("campaign_items.id"), nullable=False)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id"), nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False)
    leased_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    __table_args__ = (UniqueConstraint("item_id", "annotator_id", name="uq_campaign_leases"),)


CAMPAIGNS = Campaign.__table__
CAMPAIGN_GUIDELINES = CampaignGuidelines.__table__
CAMPAIGN_ITEMS = CampaignItem.__table__
CAMPAIGN_LEASES = CampaignLease.__table__
