"""Runs: one reranking pass (a query, an instruction, a model and its settings, a list of
documents), its status, and the process that judges it."""
from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from .. import prompt
from ..types import STATUS_FAILED, Document, GenerationSettings
from . import candidates, schema, validation
from .clock import utcnow
from .schema import JUDGMENTS as J, QUERIES as Q, RUNS as R


@dataclass(frozen=True)
class RunRow:
    id: int
    query_id: int
    query_text: str
    model: str
    engine: str  # the model backend that judged it
    instruction: str
    truncate_length: int
    alpha: float
    status: str
    created_at: datetime
    n_judgments: int
    template: str = prompt.DEFAULT_TEMPLATE  # the prompt template's name (prompt.TEMPLATES)
    chat_template_source: str | None = None  # None for runs that predate its recording


def process_owner() -> str:
    """This process, as written on the runs it starts: host, pid and the process's start time
    (so that a pid reused by another process is not taken for the run's owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def _process_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_alive(owner: str) -> bool | None:
    """Whether the process that wrote ``owner`` still runs; None when that cannot be told (another
    host, an unknown form)."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return None
    pid = int(parts[1])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return not parts[2] or _process_start(pid) in ("", parts[2])


def start_run(conn: Connection, query_id: int, documents: list[Document], *, model: str, engine: str,
              instruction: str, truncate_length: int, generation: GenerationSettings | dict, alpha: float,
              owner: str, created_at: datetime | None = None, template: str = prompt.DEFAULT_TEMPLATE,
              chat_template_source: str | None = None) -> int:
    """A new run, "running", its documents linked to the query (``candidates.link_documents``)."""
    if template not in prompt.TEMPLATES:
        raise ValueError(f"unknown template {template!r}; choose one of {', '.join(prompt.TEMPLATES)}")
    from .queries import query_row

    query_row(conn, query_id)
    candidates.link_documents(conn, query_id, list(documents))
    gen = generation.to_dict() if isinstance(generation, GenerationSettings) else dict(generation)
    return int(conn.execute(R.insert().values(
        query_id=query_id, model=model, engine=engine, instruction=instruction,
        truncate_length=int(truncate_length), generation=gen, alpha=float(alpha), status="running",
        created_at=created_at or utcnow(), template=template, chat_template_source=chat_template_source,
        owner=owner)).inserted_primary_key[0])


def finish_run(conn: Connection, run_id: int, status: str = "done") -> None:
    validation.finished_status(status, "run status")
    done = conn.execute(R.update().where(R.c.id == run_id).values(status=status, finished_at=utcnow()))
    if done.rowcount == 0:
        raise ValueError(f"no run with id {run_id}")


def set_alpha(conn: Connection, run_id: int, alpha: float) -> None:
    if conn.execute(R.update().where(R.c.id == run_id).values(alpha=alpha)).rowcount == 0:
        raise ValueError(f"no run with id {run_id}")


def running_runs(conn: Connection, run_ids: Iterable[int] | None = None) -> list[tuple[int, str | None]]:
    """(id, owner) of the runs still ``running`` (of ``run_ids`` only, when given)."""
    stmt = select(R.c.id, R.c.owner).where(R.c.status == "running")
    if run_ids is not None:
        stmt = stmt.where(R.c.id.in_([int(i) for i in run_ids]))
    return [(r.id, r.owner) for r in conn.execute(stmt)]


def mark_interrupted(conn: Connection, run_ids: list[int]) -> None:
    conn.execute(R.update().where(R.c.id.in_(run_ids), R.c.status == "running")
                 .values(status="interrupted", finished_at=utcnow()))


def list_runs(conn: Connection, query_id: int | None = None, limit: int | None = None) -> list[RunRow]:
    """Runs, newest first (at most ``limit``). Each run's judgments are counted on the
    judgments' run index for the runs shown only, so the cost follows what is listed, not the
    store's size."""
    newest = select(R.c.id).order_by(R.c.created_at.desc(), R.c.id.desc())
    if query_id is not None:
        newest = newest.where(R.c.query_id == query_id)
    if limit is not None:
        newest = newest.limit(limit)
    # The runs are chosen first, then counted: a count in the same select would be computed
    # for every run before the sort and the limit.
    shown = newest.subquery()
    count = select(func.count()).select_from(J).where(J.c.run_id == R.c.id).scalar_subquery()
    stmt = (
        select(R, Q.c.text.label("query_text"), count.label("n_judgments"))
        .join(shown, shown.c.id == R.c.id)
        .join(Q, Q.c.id == R.c.query_id)
        .order_by(R.c.created_at.desc(), R.c.id.desc())
    )
    return [
        RunRow(id=r.id, query_id=r.query_id, query_text=r.query_text, model=r.model, engine=r.engine,
               instruction=r.instruction, truncate_length=r.truncate_length, alpha=r.alpha, status=r.status,
               created_at=r.created_at, n_judgments=r.n_judgments, template=r.template,
               chat_template_source=r.chat_template_source)
        for r in conn.execute(stmt)
    ]


def run_info(conn: Connection, run_id: int) -> dict[str, Any]:
    """A run's full settings (generation included)."""
    row = conn.execute(select(R).where(R.c.id == run_id)).first()
    if row is None:
        raise ValueError(f"no run with id {run_id}")
    return dict(row._mapping)


def judged_doc_ids(conn: Connection, query_id: int, model: str, include_failed: bool = False) -> set[str]:
    """doc_ids this model has already judged for the query (failed judgments excluded unless
    asked, so a resumed batch retries them)."""
    stmt = (select(J.c.doc_id).distinct().join(R, R.c.id == J.c.run_id)
            .where(R.c.query_id == query_id, R.c.model == model))
    if not include_failed:
        stmt = stmt.where(J.c.status != STATUS_FAILED)
    return set(conn.execute(stmt).scalars())
