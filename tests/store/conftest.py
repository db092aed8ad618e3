from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import make_url

from erank_studio import judge
from erank_studio.engines.base import Generation
from erank_studio.store import Store
from erank_studio.store.schema import Base
from erank_studio.store.store import PG_WRITE_LOCK, sqlite_path
from erank_studio.types import Document, GenerationSettings

INSTRUCTION = "A document is relevant if it answers the query."


class CharTokenizer:
    """One token per character: enough to make truncation real and checkable."""

    def __call__(self, text: str, add_special_tokens: bool = False):
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "".join(chr(i) for i in ids)

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "<|user|>" + messages[0]["content"] + "<|assistant|>"


class RecordingEngine:
    """Answers with a fixed score per document and records the prompts it was sent."""

    name = "fake"
    model = "fake/erank-test"
    is_reranker = True
    warning = None
    chat_template_source = "fake chat template"

    def __init__(self, scores: dict[str, int]) -> None:
        self.tokenizer = CharTokenizer()
        self.scores = scores
        self.sent: list[str] = []
        self.doc_ids: list[str] = []

    def generate(self, prompts: Sequence, settings: GenerationSettings, cancel=None) -> Iterator[Generation]:
        for i, p in enumerate(prompts):
            self.sent.append(p.message)
            n = self.scores[self.doc_ids[i]]
            text = f"<think>model thinks doc {self.doc_ids[i]} is {n}</think><answer>{n}</answer>"
            pieces = [f"<think>model thinks doc {self.doc_ids[i]} is {n}</think><answer>"] + list(str(n)) + ["</answer>"]
            logprobs = [0.0] + [-0.1] * len(str(n)) + [0.0]
            yield Generation(index=i, text=text, pieces=pieces, logprobs=logprobs, prompt_tokens=100 + i,
                             output_tokens=20, latency_s=0.25 + i)

    def force_scores(self, prompt, partial_output):
        return None

    def describe(self):
        return {"model": self.model}


def make_docs() -> list[Document]:
    return [
        Document("d1", "Photosynthesis converts light into chemical energy in chloroplasts. " * 3, title="Plants",
                 first_stage_score=12.5, first_stage_source="given"),
        Document("d2", "The stock market fell on Tuesday.", first_stage_score=3.0, first_stage_source="given"),
        Document("d3", "Chlorophyll absorbs red and blue light.", first_stage_score=7.25, first_stage_source="given"),
        Document("d4", "Unicode: café — 日本語 ✓", first_stage_score=1.0, first_stage_source="given"),
    ]


def run_judging(store: Store, query: str = "How do plants make energy from light?", truncate_length: int = 60,
                scores: dict[str, int] | None = None, source: str | None = None, sqid: str | None = None):
    """A complete run through the real judging pipeline with the recording engine."""
    docs = make_docs()
    engine = RecordingEngine(scores or {"d1": 9, "d2": 0, "d3": 6, "d4": 2})
    engine.doc_ids = [d.doc_id for d in docs]
    query_id = store.upsert_query(query, source, sqid)
    run_id = store.start_run(query_id, docs, model=engine.model, engine=engine.name, instruction=INSTRUCTION,
                             truncate_length=truncate_length, generation=GenerationSettings(), alpha=0.2)
    judgments = []
    for j in judge.judge(engine, query, docs, INSTRUCTION, truncate_length):
        store.add_judgment(run_id, j)
        judgments.append(j)
    judge.apply_hybrid(judgments, 0.2)
    store.set_hybrid_scores(run_id, {j.doc_id: j.hybrid_score for j in judgments}, 0.2)
    store.finish_run(run_id)
    return query_id, run_id, judgments, engine


def libpq_url(url: str) -> str:
    """A store's PostgreSQL URL as psycopg itself takes it (without SQLAlchemy's driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def another_writer(url: str) -> Iterator[None]:
    """Another process in the middle of a long write, holding the store's write lock for as long
    as the block lasts: SQLite's (BEGIN IMMEDIATE), or the store's PostgreSQL advisory lock."""
    path = sqlite_path(url)
    if path is not None:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        holder = psycopg.connect(libpq_url(url))
        holder.execute(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


@pytest.fixture
def store(store_url) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def dump(store: Store) -> dict[str, list]:
    """Every row of every table, for "the database is unchanged" checks."""
    with store.read() as conn:
        return {name: [tuple(r) for r in conn.execute(table.select()).all()] for name, table in Base.metadata.tables.items()}
