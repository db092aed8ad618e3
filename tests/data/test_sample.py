"""The bundled BRIGHT sample: deterministic builder, qrels that match the candidates, offline."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from erank_studio.data import SAMPLE_DIR, list_datasets, load_dataset

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared" / "data" / "bright"
FILES = ["queries.jsonl", "corpus.jsonl", "qrels.txt", "run.bm25.txt", "ATTRIBUTION.md"]


@pytest.mark.skipif(not SOURCE.is_dir(), reason="BRIGHT topics not present")
def test_builder_is_deterministic_and_matches_committed_sample(tmp_path):
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        subprocess.run([sys.executable, str(ROOT / "scripts" / "build_sample.py"), "--source", str(SOURCE),
                        "--out", str(out)], check=True, capture_output=True)
        outputs.append({f: (out / f).read_bytes() for f in FILES})
    assert outputs[0] == outputs[1]
    assert outputs[0] == {f: (SAMPLE_DIR / f).read_bytes() for f in FILES}


def test_sample_qrels_match_candidates():
    dataset = load_dataset("sample")
    queries = dataset.queries()
    assert 24 <= len(queries) <= 60
    tasks = {q.query_id.rsplit("-", 1)[0] for q in queries}
    assert tasks == {"biology", "earth-science", "psychology", "robotics", "stackoverflow"}
    for query in queries:
        candidates = dataset.candidates(query.query_id, top_k=100)
        qrels = dataset.qrels(query.query_id)
        ids = [d.doc_id for d in candidates]
        assert len(ids) == 20 == len(set(ids))
        assert set(ids) == set(qrels)
        task, number = query.query_id.rsplit("-", 1)
        assert [d for d, r in qrels.items() if r > 0] == [f"{task}-answer-{number}"]
        assert all(d.startswith(f"{task}-answer-") for d in ids)  # negatives from the same task
        scores = [d.first_stage_score for d in candidates]
        assert scores == sorted(scores, reverse=True)
        assert {d.first_stage_source for d in candidates} == {"run"}
        assert all(d.text.strip() for d in candidates)


def test_sample_listed_first_and_attributed():
    infos = list_datasets()
    assert infos[0].name == "sample" and not infos[0].needs_network
    assert "CC BY 4.0" in (SAMPLE_DIR / "ATTRIBUTION.md").read_text()
    dataset = load_dataset("sample")
    assert dataset.instruction.startswith("A document is relevant if it contains information")
    assert dataset.candidates(dataset.queries()[0].query_id, top_k=5).__len__() == 5
