"""The score distribution leaves the store in the CSV / Parquet tables (E[N], entropy and one
column per P(n)), blank where a judgment has none."""
from __future__ import annotations

import pandas as pd
import pytest

from erank_studio import scoring
from erank_studio.store.exports import DISTRIBUTION_COLUMNS, ExportFilter, export
from erank_studio.types import Document, Judgment

DIST = [0.0, 0.01, 0.02, 0.02, 0.05, 0.1, 0.2, 0.4, 0.15, 0.04, 0.01]


def _run(store) -> int:
    query_id = store.upsert_query("q")
    run_id = store.start_run(query_id, [Document("d1", "one"), Document("d2", "two")], model="m",
                             engine="transformers", instruction="i", truncate_length=2048, generation={},
                             alpha=0.2)
    expected, entropy = scoring.distribution_summary(DIST)
    store.add_judgments(run_id, [
        Judgment("d1", 0, "<think>t</think><answer>7</answer>", "ok", score=7, probability=0.4, rank_score=2.8,
                 score_distribution=DIST, expected_score=expected, score_entropy=entropy),
        Judgment("d2", 1, "<think>t</think><answer>3</answer>", "ok", score=3, probability=0.5, rank_score=1.5),
    ])
    return run_id


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_carry_the_distribution(store, tmp_path, fmt):
    run_id = _run(store)
    path = tmp_path / f"t.{fmt}"
    export(store, fmt, path, ExportFilter(run_id=run_id))
    frame = (pd.read_csv if fmt == "csv" else pd.read_parquet)(path).set_index("doc_id")
    expected, entropy = scoring.distribution_summary(DIST)
    assert [float(frame.loc["d1", c]) for c in DISTRIBUTION_COLUMNS] == pytest.approx(DIST)
    assert frame.loc["d1", "expected_score"] == pytest.approx(expected)
    assert frame.loc["d1", "score_entropy"] == pytest.approx(entropy)
    assert frame.loc["d2", DISTRIBUTION_COLUMNS + ["expected_score", "score_entropy"]].isna().all()
