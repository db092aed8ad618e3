"""Benchmarks through ir_datasets: BRIGHT (``bright/<task>``), TREC DL 2019/2020 (the judged
query subsets of ``msmarco-passage/trec-dl-20xx``, with their official BM25 top-1000 as
scoreddocs) and BEIR (``beir/<name>[/test]``).

ir_datasets downloads on first use and would wait on an unreachable host; so before touching it
we probe the hosts its files come from (a TCP connect, a few seconds at most) unless the files are
already in its cache, and fail at once with DatasetUnavailable when they cannot be had.

``cached_qrels`` reads a benchmark's qrels only from that cache: while it runs, ir_datasets'
downloaders refuse to start on its thread (``_cache_only``), so an evaluation never waits on the
network; qrels that are not held yet give None."""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import network
from ..prompt import instruction_for
from .base import Dataset, DatasetInfo, DatasetUnavailable, Query, make_dataset

log = logging.getLogger(__name__)

BRIGHT_TASKS = [
    "biology", "earth-science", "economics", "psychology", "robotics", "stackoverflow",
    "sustainable-living", "leetcode", "pony", "aops", "theoremqa-questions", "theoremqa-theorems",
]
# BEIR sets in ir_datasets: name -> ir_datasets id (multi-split sets use their test split).
BEIR_SETS = {
    "trec-covid": "beir/trec-covid",
    "nfcorpus": "beir/nfcorpus/test",
    "webis-touche2020": "beir/webis-touche2020/v2",
    "dbpedia-entity": "beir/dbpedia-entity/test",
    "scifact": "beir/scifact/test",
    "scidocs": "beir/scidocs",
    "fiqa": "beir/fiqa/test",
    "arguana": "beir/arguana",
    "climate-fever": "beir/climate-fever",
    "quora": "beir/quora/test",
    "nq": "beir/nq",
    "hotpotqa": "beir/hotpotqa/test",
    "fever": "beir/fever/test",
}
TREC_DL = {
    "trec-dl-2019": "msmarco-passage/trec-dl-2019/judged",
    "trec-dl-2020": "msmarco-passage/trec-dl-2020/judged",
}
# Where ir_datasets fetches each family's files (its etc/downloads.json).
HOSTS = {
    "bright": ["huggingface.co"],
    "msmarco-passage": ["msmarco.z22.web.core.windows.net", "trec.nist.gov"],
    "beir": ["public.ukp.informatik.tu-darmstadt.de"],
}


def catalogue() -> list[DatasetInfo]:
    infos = [DatasetInfo(f"bright/{t}", f"BRIGHT {t} (ir_datasets bright/{t})", True) for t in BRIGHT_TASKS]
    infos += [
        DatasetInfo("trec-dl-2019", "TREC DL 2019 passage, judged queries, BM25 top-1000", True),
        DatasetInfo("trec-dl-2020", "TREC DL 2020 passage, judged queries, BM25 top-1000", True),
    ]
    infos += [DatasetInfo(f"beir/{n}", f"BEIR {n} ({irds_id})", True) for n, irds_id in BEIR_SETS.items()]
    return infos


def irds_id(name: str) -> str | None:
    """The ir_datasets id behind one of our names (None when the name is not ours)."""
    key = name.strip().lower()
    if key.startswith("bright/"):
        task = key.split("/", 1)[1].replace("_", "-")
        return f"bright/{task}" if task in BRIGHT_TASKS else None
    if key in TREC_DL:
        return TREC_DL[key]
    if key.startswith("beir/"):
        rest = key.split("/", 1)[1]
        return BEIR_SETS.get(rest) or (f"beir/{rest}" if rest.split("/")[0] in BEIR_SETS else None)
    return None


def _cached(irds_name: str) -> bool:
    """Whether ir_datasets' home already holds files for this family (then try it offline)."""
    home = Path(os.environ.get("IR_DATASETS_HOME") or Path.home() / ".ir_datasets")
    folder = home / irds_name.split("/")[0]
    return folder.is_dir() and any(folder.rglob("*"))


def check_available(name: str, irds_name: str) -> None:
    """Raise DatasetUnavailable quickly when the dataset's files cannot be had from here."""
    family = irds_name.split("/")[0]
    if _cached(irds_name):
        return
    why = None
    if network.offline_forced():
        why = "offline mode is on (ERANK_OFFLINE / HF_HUB_OFFLINE)"
    else:
        hosts = HOSTS.get(family, [])
        down = [h for h in hosts if not network.host_reachable(h)]
        if down:
            why = f"{', '.join(down)} cannot be reached"
    if why:
        raise DatasetUnavailable(
            f"{name} needs the network: ir_datasets downloads {irds_name} on first use, and {why}. "
            "Load the bundled 'sample' or your own files (BEIR folder, TREC topics + JSONL corpus) instead."
        )


class NotCached(OSError):
    """ir_datasets would have downloaded a file (refused by ``_cache_only``)."""


_CACHE_ONLY = threading.local()  # .on: this thread reads ir_datasets' cache and downloads nothing
_GUARD_LOCK = threading.Lock()
_guarded = False


def _refusing(original):
    def stream(self, *args, **kwargs):
        if getattr(_CACHE_ONLY, "on", False):
            raise NotCached(f"not in ir_datasets' cache (would download {getattr(self, 'url', 'a file')})")
        return original(self, *args, **kwargs)

    return stream


class _QuietWhileCacheOnly(logging.Filter):
    """ir_datasets logs each refused download as a failure: not news while only its cache is read."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_CACHE_ONLY, "on", False)


def _guard_downloads() -> None:
    """Wrap ir_datasets' network downloaders once, so that a thread in ``_cache_only`` is refused
    (other threads download as before)."""
    global _guarded
    with _GUARD_LOCK:
        if _guarded:
            return
        from ir_datasets.util import download

        for name in ("RequestsDownload", "GoogleDriveDownload", "GoogleCloudBucketStream"):
            cls = getattr(download, name, None)
            if cls is not None:
                cls.stream = _refusing(cls.stream)
        logging.getLogger("ir_datasets").addFilter(_QuietWhileCacheOnly())
        _guarded = True


@contextmanager
def _cache_only() -> Iterator[None]:
    _guard_downloads()
    _CACHE_ONLY.on = True
    try:
        yield
    finally:
        _CACHE_ONLY.on = False


def _read_qrels(source) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for row in source.qrels_iter():
        qrels.setdefault(str(row.query_id), {})[str(row.doc_id)] = int(row.relevance)
    return qrels


def cached_qrels(name: str) -> dict[str, dict[str, int]] | None:
    """qid -> doc -> relevance for every query of one of the ir_datasets-backed benchmarks when
    ir_datasets' cache already holds its qrels; None when it does not (or the name is not one of
    ours). Never reaches for the network."""
    irds_name = irds_id(name)
    if irds_name is None or not _cached(irds_name):  # no folder for the family: nothing held
        return None
    try:
        import ir_datasets

        with _cache_only():
            source = ir_datasets.load(irds_name)
            if not source.has_qrels():
                return None
            return _read_qrels(source) or None
    except Exception as error:  # not cached (NotCached, wrapped by ir_datasets), or unreadable
        log.debug("qrels of %s not read from ir_datasets' cache: %s", irds_name, error)
        return None


def load_irds(name: str, *, top_k_hint: int = 100) -> Dataset:
    """Load one of the ir_datasets-backed benchmarks (queries, corpus, qrels, and scoreddocs
    when the dataset ships a first stage; BM25 over the corpus otherwise)."""
    irds_name = irds_id(name)
    if irds_name is None:
        raise DatasetUnavailable(f"unknown dataset {name!r}")
    check_available(name, irds_name)
    try:
        import ir_datasets

        source = ir_datasets.load(irds_name)
        queries = [Query(str(q.query_id), _query_text(q)) for q in source.queries_iter()]
        qrels = _read_qrels(source)
        run = None
        if source.has_scoreddocs():
            wanted = {q.query_id for q in queries}
            scored: dict[str, list[tuple[str, float]]] = {}
            for row in source.scoreddocs_iter():
                if row.query_id in wanted:
                    scored.setdefault(str(row.query_id), []).append((str(row.doc_id), float(row.score)))
            run = {q: sorted(items, key=lambda x: (-x[1], x[0])) for q, items in scored.items()}
            needed = {d for items in run.values() for d, _ in items}
            store = source.docs_store()
            corpus = {d.doc_id: (getattr(d, "title", None), d.text) for d in store.get_many_iter(needed)}
        else:
            corpus = {d.doc_id: (getattr(d, "title", None) or None, d.text) for d in source.docs_iter()}
    except DatasetUnavailable:
        raise
    except Exception as error:  # download or parse failure inside ir_datasets
        raise DatasetUnavailable(f"{name} ({irds_name}) could not be loaded through ir_datasets: {error}") from error
    return make_dataset(name, queries, corpus, qrels, run, instruction=instruction_for(name),
                        title=f"{name} (ir_datasets {irds_name})")


def _query_text(query) -> str:
    return str(getattr(query, "text", None) or getattr(query, "query", None) or query[1])
