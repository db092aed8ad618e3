"""The ``hf-dataset`` export: a folder that ``datasets.load_dataset(DIR)`` reads, with a dataset
card, and its upload to the Hugging Face Hub.

Layout (Parquet, written through ``datasets`` with explicit features, so every split has the
same columns even where a value is always empty):

- ``sft/{train,test}.parquet`` (config ``sft``, the default): ``messages`` (ERank's prompt and
  ``<think>…</think><answer>N</answer>``, as the sft-messages export), ``query_id``, ``doc_id``,
  ``score`` and ``label_source`` (where N came from under the resolve rule);
- ``relevance/{train,test}.parquet`` (config ``relevance``): ``query_id``, ``query``, ``doc_id``,
  ``document``, ``labels`` (every annotator's current label), ``label`` and ``label_source`` (the
  resolved label; null where the rule gives none), ``relevance`` (its grade), the adjudication
  (``adjudicated_score``, ``adjudicator``, ``adjudication_reason``) and ``judgments`` (every
  model judgment of that document for that query);
- ``README.md``: the dataset card, with the Hub's YAML header (licence, task, configs).

Splits are by query (all of a query's rows in one split): the queries sorted by the SHA-1 of
their id, the first ``test_fraction`` of them (at least one when there are two or more) test.
A test split with no rows is not written."""
from __future__ import annotations

import hashlib
import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .. import network
from ..grading import RULE as GRADE_RULE
from ..grading import grade
from .exports import ExportFilter, ExportRefused, sft_records
from .resolve import Rule
from .resolve import resolve as resolve_label
from ..safe_output import check_output_folder, is_sqlite_file
from . import schema
from .store import Store, store_files

from .teams import items_in
from .schema import DOCUMENTS as D, JUDGMENTS as J, QUERIES as Q, RUNS as R

FORMAT = "hf-dataset"
CARD_MARK = "erank-studio-dataset"  # a tag in the card: --force replaces only a folder holding it
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_LICENSE = "unknown"
HUB_HOST = "huggingface.co"


class HubUnavailable(ValueError):
    """The Hub cannot be reached from here (offline, no token, no network): said at once."""


@dataclass
class DatasetSummary:
    rows: dict[str, dict[str, int]]  # config -> split -> rows
    annotators: int
    adjudicated: int
    rule: str


def _features():
    from datasets import Features, List, Value

    sft = Features({
        "query_id": Value("string"), "doc_id": Value("string"),
        "messages": List({"role": Value("string"), "content": Value("string")}),
        "score": Value("int32"), "label_source": Value("string"),
    })
    relevance = Features({
        "query_id": Value("string"), "query": Value("string"), "doc_id": Value("string"),
        "document": Value("string"),
        "labels": List({"annotator": Value("string"), "score": Value("int32")}),
        "label": Value("int32"), "label_source": Value("string"), "relevance": Value("int32"),
        "adjudicated_score": Value("int32"), "adjudicator": Value("string"),
        "adjudication_reason": Value("string"),
        "judgments": List({"run_id": Value("int64"), "model": Value("string"), "score": Value("int32"),
                           "probability": Value("float64"), "rank_score": Value("float64"),
                           "status": Value("string")}),
    })
    return {"sft": sft, "relevance": relevance}


def held_out_queries(qids: Iterable[str], fraction: float) -> set[str]:
    """The queries of the test split (deterministic, independent of the store's row order)."""
    ordered = sorted(set(qids), key=lambda q: (hashlib.sha1(q.encode("utf-8")).hexdigest(), q))
    if len(ordered) < 2 or fraction <= 0:
        return set()
    n = min(len(ordered) - 1, max(1, math.floor(fraction * len(ordered) + 0.5)))
    return set(ordered[:n])


def sft_rows(store: Store, rule: Rule) -> list[dict[str, Any]]:
    rows = []
    for pair, user, target in sft_records(store, ExportFilter(resolve=rule)):
        rows.append({"query_id": pair.source_query_id or str(pair.query_id), "doc_id": pair.doc_id,
                     "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": target}],
                     "score": pair.score, "label_source": pair.annotator})
    return rows


def relevance_rows(store: Store, rule: Rule) -> list[dict[str, Any]]:
    """One row per labelled (query, document)."""
    with store.read() as conn:
        chosen = items_in(conn, None)
        query_text = dict(conn.execute(select(Q.c.id, Q.c.text)).all())
        wanted = sorted({it.document_id for it in chosen})
        texts: dict[int, str] = {}
        for i in range(0, len(wanted), 500):
            texts.update(conn.execute(select(D.c.id, D.c.text).where(D.c.id.in_(wanted[i:i + 500]))).all())
        judgments: dict[tuple[int, int], list[dict[str, Any]]] = {}
        query_ids = sorted({it.query_id for it in chosen})
        for i in range(0, len(query_ids), 500):
            for j in conn.execute(
                select(J.c.run_id, J.c.document_id, J.c.score, J.c.probability, J.c.rank_score, J.c.status,
                       R.c.model, R.c.query_id).join(R, R.c.id == J.c.run_id)
                .where(R.c.query_id.in_(query_ids[i:i + 500])).order_by(J.c.id)
            ):
                judgments.setdefault((j.query_id, j.document_id), []).append(
                    {"run_id": j.run_id, "model": j.model, "score": j.score, "probability": j.probability,
                     "rank_score": j.rank_score, "status": j.status})
    rows = []
    for it in chosen:
        adjudication = it.adjudication
        got = resolve_label(rule, it.scores, adjudication.score if adjudication else None)
        rows.append({
            "query_id": it.qid, "query": query_text[it.query_id], "doc_id": it.doc_id,
            "document": texts[it.document_id],
            "labels": [{"annotator": a, "score": s} for a, s in sorted(it.scores.items())],
            "label": got[0] if got else None, "label_source": got[1] if got else None,
            "relevance": grade(got[0]) if got else None,
            "adjudicated_score": adjudication.score if adjudication else None,
            "adjudicator": adjudication.adjudicator if adjudication else None,
            "adjudication_reason": adjudication.reason if adjudication else None,
            "judgments": judgments.get((it.query_id, it.document_id), []),
        })
    return rows


def check_folder(store: Store, out: str | Path, overwrite: bool) -> Path:
    """Refuse a destination that would destroy something: a file; a folder holding the store's
    files or any SQLite database (even with ``overwrite``); a non-empty folder unless
    ``overwrite``, and then only one an earlier hf-dataset export wrote (its card has our tag)."""
    path = check_output_folder(out, protected=store_files(store.url), what=FORMAT)
    if path.is_dir() and any(path.iterdir()):
        if any(is_sqlite_file(p) for p in path.rglob("*")):
            raise ExportRefused(f"refusing to replace {path}: it holds an SQLite database")
        if not overwrite:
            raise ExportRefused(f"{path} exists and is not empty; pass --force to replace an earlier dataset export")
        card = path / "README.md"
        if not card.is_file() or CARD_MARK not in card.read_text(encoding="utf-8", errors="replace"):
            raise ExportRefused(f"refusing to replace {path}: --force replaces only a folder an earlier "
                                "hf-dataset export wrote")
    return path


def export_dataset(store: Store, out: str | Path, rule: Rule, *, overwrite: bool = False, test_fraction: float = DEFAULT_TEST_FRACTION,
                   license: str = DEFAULT_LICENSE) -> DatasetSummary:
    """Write the dataset folder whole or not at all (built beside it, then renamed into place)."""
    from datasets import Dataset
    from datasets.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if not 0 <= test_fraction < 1:
        raise ValueError("the test fraction must be at least 0 and below 1")
    path = check_folder(store, out, overwrite)
    tables = {"sft": sft_rows(store, rule), "relevance": relevance_rows(store, rule)}
    if not tables["relevance"]:
        raise ExportRefused("nothing to export: the store holds no labelled documents")
    test = held_out_queries((r["query_id"] for r in tables["relevance"]), test_fraction)
    features = _features()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    counts: dict[str, dict[str, int]] = {}
    quiet = not are_progress_bars_disabled()
    if quiet:  # datasets draws a bar per file on stderr; the CLI prints its own one-line summary
        disable_progress_bars()
    try:
        for config, rows in tables.items():
            counts[config] = {}
            for split in ("train", "test"):
                chosen = [r for r in rows if (r["query_id"] in test) == (split == "test")]
                if not chosen:
                    continue
                (tmp / config).mkdir(parents=True, exist_ok=True)
                Dataset.from_list(chosen, features=features[config]).to_parquet(str(tmp / config / f"{split}.parquet"))
                counts[config][split] = len(chosen)
        adjudicated = sum(1 for r in tables["relevance"] if r["adjudicated_score"] is not None)
        annotators = len({lab["annotator"] for r in tables["relevance"] for lab in r["labels"]})
        summary = DatasetSummary(counts, annotators, adjudicated, str(rule))
        (tmp / "README.md").write_text(dataset_card(summary, license), encoding="utf-8")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        if quiet:
            enable_progress_bars()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return summary


def dataset_card(summary: DatasetSummary, license: str = DEFAULT_LICENSE) -> str:
    """README.md: the Hub's YAML header (through huggingface_hub's DatasetCardData) and a body
    that says what the rows are, the label rules and how they were collected."""
    from huggingface_hub import DatasetCard, DatasetCardData

    configs = [
        {"config_name": config, **({"default": True} if config == "sft" else {}),
         "data_files": [{"split": split, "path": f"{config}/{split}.parquet"} for split in splits]}
        for config, splits in summary.rows.items() if splits
    ]
    total = sum(summary.rows.get("relevance", {}).values())
    size = "n<1K" if total < 1000 else "1K<n<10K" if total < 10000 else "10K<n<100K" if total < 100000 else "100K<n<1M"
    data = DatasetCardData(license=license, task_categories=["text-ranking"], size_categories=[size],
                           tags=["reranking", "relevance", "erank", "reasoning", CARD_MARK],
                           pretty_name="ERank Studio relevance labels", configs=configs)
    counts = "\n".join(f"| {config} | {split} | {n} |" for config, splits in summary.rows.items()
                       for split, n in splits.items())
    body = f"""
# ERank Studio relevance labels

People judged how relevant each document is to a query, on ERank's 0-10 scale, in
[ERank Studio](https://arxiv.org/abs/2509.00520) while reading the ERank reranker's reasoning.

| config | split | rows |
|---|---|---|
{counts}

Load it with `datasets.load_dataset(FOLDER_OR_REPO)` (config `sft`, the default) or
`datasets.load_dataset(FOLDER_OR_REPO, "relevance")`. Splits are by query: a query's rows are all
in train or all in test.

## Labels

- Each annotator gives an integer 0-10; a correction is a new row and their latest counts
  (`labels` holds every annotator's current label).
- One label per (query, document) by the rule **{summary.rule}**: `adjudicated` = the label an
  adjudicator set where annotators disagreed, else the mean of the annotators' labels rounded half
  up; `mean` = that mean; `majority` = the most frequent label (a tie gives none: null `label`, no
  SFT example); `annotator:NAME` = that person's label. `label_source` says which applied.
- `relevance` grades the label: {GRADE_RULE}.
- `sft` examples: the user message is exactly the prompt the model read (ERank's template,
  truncation included); the assistant message is `<think>rationale</think><answer>label</answer>`
  with the annotator's or adjudicator's edited rationale, else the model's trace.

## How it was collected

{summary.annotators} annotator(s) labelled documents in ERank Studio next to the model's judgment
(`judgments`: model, score, P(N), rank score, status of every judgment of that document);
{summary.adjudicated} item(s) were settled by an adjudicator (`adjudicated_score`, `adjudicator`,
`adjudication_reason`).
"""
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}"))


# -- the Hub -----------------------------------------------------------------------------------


def hub_token() -> str:
    """The token for an upload, or ``HubUnavailable`` at once (offline, no token, no network)."""
    if network.offline_forced():
        raise HubUnavailable("offline (HF_HUB_OFFLINE, HF_DATASETS_OFFLINE or ERANK_OFFLINE is set): "
                             "cannot push to the Hugging Face Hub; the folder can be uploaded later")
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise HubUnavailable("no Hugging Face token: set HF_TOKEN or run `hf auth login`, then push again")
    if not network.host_reachable(HUB_HOST):
        raise HubUnavailable(f"{HUB_HOST} cannot be reached from here: cannot push to the Hub")
    return token


def push_to_hub(folder: str | Path, repo: str, token: str, private: bool = True) -> str:
    """Upload the folder as a dataset repository; returns its URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo, folder_path=str(folder), repo_type="dataset",
                      commit_message="ERank Studio dataset export")
    return str(url)
