"""Benchmark and file loaders behind one interface (see base.Dataset).

    from erank_studio.data import list_datasets, load_dataset
    dataset = load_dataset("sample")            # the bundled BRIGHT sample, always offline
    query = dataset.queries()[0]
    docs = dataset.candidates(query.query_id, top_k=20)
    qrels = dataset.qrels(query.query_id)
"""
from __future__ import annotations

from pathlib import Path

from .base import (
    Dataset, DatasetFormatError, DatasetInfo, DatasetUnavailable, Query, SOURCE_BM25, SOURCE_RUN,
    make_dataset,
)
from .files import load_beir_folder, load_user_dataset
from .irds import catalogue, irds_id, load_irds

SAMPLE_NAME = "sample"
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "assets" / "sample"
SAMPLE_TITLE = "BRIGHT StackExchange sample (bundled, offline; CC BY 4.0)"

__all__ = [
    "Dataset", "DatasetFormatError", "DatasetInfo", "DatasetUnavailable", "Query", "SAMPLE_DIR",
    "SAMPLE_NAME", "SOURCE_BM25", "SOURCE_RUN", "list_datasets", "load_dataset",
    "load_user_dataset", "load_beir_folder", "load_sample", "make_dataset",
]


def list_datasets() -> list[DatasetInfo]:
    """The bundled sample first, then BRIGHT's 12 tasks, TREC DL 2019/2020 and BEIR sets."""
    return [DatasetInfo(SAMPLE_NAME, SAMPLE_TITLE, False), *catalogue()]


def load_sample(folder: str | Path | None = None) -> Dataset:
    """The bundled BRIGHT sample (see assets/sample/ATTRIBUTION.md): candidates and BM25
    first-stage scores from its run file."""
    folder = Path(folder) if folder else SAMPLE_DIR
    from ..prompt import instruction_for

    dataset = load_user_dataset(
        topics=folder / "queries.jsonl", corpus=folder / "corpus.jsonl",
        qrels=folder / "qrels.txt", run=folder / "run.bm25.txt",
        name=SAMPLE_NAME, instruction=instruction_for("bright/biology"),
    )
    dataset.title = SAMPLE_TITLE
    return dataset


def load_dataset(name: str, **options: object) -> Dataset:
    """A dataset by name (see ``list_datasets``); a path to a BEIR folder also works.

    Raises DatasetUnavailable within a few seconds when the dataset needs the network and
    cannot reach it."""
    if name == SAMPLE_NAME:
        return load_sample(options.get("folder"))  # type: ignore[arg-type]
    if irds_id(name) is not None:
        return load_irds(name)
    if Path(name).is_dir():
        return load_beir_folder(name, split=str(options.get("split", "test")))
    known = ", ".join(info.name for info in list_datasets()[:3])
    raise DatasetUnavailable(f"unknown dataset {name!r} (try {known}, ... or a BEIR folder path)")
