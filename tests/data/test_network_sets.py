"""ir_datasets-backed sets: names, ids, and the fast, clear failure when offline."""
from __future__ import annotations

import time

import pytest

from erank_studio.data import DatasetUnavailable, irds, list_datasets, load_dataset


def test_catalogue():
    names = [info.name for info in list_datasets()]
    assert names[0] == "sample"
    assert sum(n.startswith("bright/") for n in names) == 12
    assert {"trec-dl-2019", "trec-dl-2020", "beir/scifact", "beir/trec-covid", "beir/nfcorpus"} <= set(names)
    assert all(info.needs_network for info in list_datasets()[1:])


def test_ir_datasets_ids():
    assert irds.irds_id("bright/biology") == "bright/biology"
    assert irds.irds_id("bright/earth_science") == "bright/earth-science"
    assert irds.irds_id("trec-dl-2019") == "msmarco-passage/trec-dl-2019/judged"
    assert irds.irds_id("beir/scifact") == "beir/scifact/test"
    assert irds.irds_id("beir/arguana") == "beir/arguana"
    assert irds.irds_id("nope") is None
    import ir_datasets  # every id we use is registered in the installed ir_datasets

    for info in list_datasets()[1:]:
        assert irds.irds_id(info.name) in ir_datasets.registry


@pytest.mark.parametrize("name", ["bright/biology", "trec-dl-2019", "beir/scifact"])
def test_offline_fails_fast_with_a_clear_message(monkeypatch, tmp_path, name):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path))  # nothing cached
    monkeypatch.setenv("ERANK_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(DatasetUnavailable) as error:
        load_dataset(name)
    assert time.perf_counter() - started < 5
    assert name in str(error.value) and "needs the network" in str(error.value)


def test_unreachable_host_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path))
    monkeypatch.delenv("ERANK_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    probed = []
    monkeypatch.setattr(irds.network, "host_reachable", lambda host, timeout=3.0: probed.append(host) or False)
    with pytest.raises(DatasetUnavailable, match="cannot be reached"):
        load_dataset("beir/nfcorpus")
    assert probed == ["public.ukp.informatik.tu-darmstadt.de"]


def test_unknown_name():
    with pytest.raises(DatasetUnavailable, match="unknown dataset"):
        load_dataset("no-such-set")
