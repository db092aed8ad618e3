"""Several annotators on one store: agreement read from the store, the adjudication queue, the
adjudicator role, adjudications as append-only rows, and the --resolve rules in exports."""
from __future__ import annotations

import json
import math

import krippendorff
import numpy as np
import pytest

from erank_studio.errors import FileFormatError
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from erank_studio import agreement
from erank_studio.store import teams
from erank_studio.store.exports import ExportFilter, export_bytes, qrels_rows
from erank_studio.store.imports import import_bundle
from erank_studio.store.resolve import parse_rule
from erank_studio.types import Document, GenerationSettings, Judgment

from .conftest import INSTRUCTION, run_judging

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 observers x 12 units
# example with missing values: published alpha ordinal 0.815, interval 0.849.
KRIPPENDORFF_EXAMPLE = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
MODEL = [1, 3, 3, 4, 2, 2, 5, 0, 2, 6, 1, 3]
ANNOTATORS = ["ann-a", "ann-b", "ann-c", "ann-d"]


def _labelled_query(store, matrix=KRIPPENDORFF_EXAMPLE, model=MODEL, sqid="K1"):
    """One benchmark query with a document per column, a run whose model gave ``model``, and each
    annotator's labels (NaN: not labelled)."""
    docs = [Document(f"u{i}", f"unit {i} text") for i in range(len(model))]
    query_id = store.upsert_query("the example query", "example", sqid)
    run_id = store.start_run(query_id, docs, model="fake/model", engine="fake", instruction=INSTRUCTION,
                             truncate_length=64, generation=GenerationSettings(), alpha=0.2)
    store.add_judgments(run_id, [Judgment(d.doc_id, i, f"<answer>{s}</answer>", "ok", score=s, probability=1.0,
                                          rank_score=float(s)) for i, (d, s) in enumerate(zip(docs, model))])
    for name, row in zip(ANNOTATORS, matrix):
        for d, value in zip(docs, row):
            if not math.isnan(value):
                store.add_label(query_id, d.doc_id, name, int(value))
    return query_id, run_id


def test_agreement_from_the_store_equals_the_libraries_with_missing_ratings(store):
    _labelled_query(store)
    # A later correction and an undo: only each annotator's current label counts.
    store.add_label(1, "u0", "ann-a", 9)
    store.undo_label(1, "u0", "ann-a")
    result = agreement.report(*teams.ratings(teams.items(store)))
    assert result["annotators"] == ANNOTATORS and result["items"] == 12
    data = np.array(KRIPPENDORFF_EXAMPLE)
    for pair in result["pairs"]:
        a, b = data[ANNOTATORS.index(pair["a"])], data[ANNOTATORS.index(pair["b"])]
        shared = ~np.isnan(a) & ~np.isnan(b)
        x, y = a[shared].astype(int), b[shared].astype(int)
        assert pair["n"] == int(shared.sum())
        assert pair["kappa_quadratic"] == pytest.approx(
            cohen_kappa_score(x, y, weights="quadratic", labels=list(range(11))), abs=1e-12)
        assert pair["spearman"] == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    for level, published in (("interval", 0.849), ("ordinal", 0.815)):
        got = result["krippendorff"][level]
        assert got["alpha"] == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement=level),
                                             abs=1e-12)
        assert round(got["alpha"], 3) == published
        assert got["n"] == 11  # the last unit has one rating: alpha cannot use it
    model = np.array(MODEL)
    for row in result["model"]:
        a = data[ANNOTATORS.index(row["annotator"])]
        rated = ~np.isnan(a)
        assert row["n"] == int(rated.sum())
        assert row["kappa_quadratic"] == pytest.approx(
            cohen_kappa_score(a[rated].astype(int), model[rated], weights="quadratic", labels=list(range(11))))
        assert row["spearman"] == pytest.approx(spearmanr(a[rated], model[rated]).statistic)


def test_agreement_is_limited_to_the_chosen_queries(store):
    _labelled_query(store)
    other = [[5, 5, 5], [0, 10, 0]]
    _labelled_query(store, other, [1, 2, 3], sqid="K2")
    assert teams.items(store, qids=["K2"])[0].qid == "K2"
    assert len(teams.items(store, qids=["K2"])) == 3
    assert len(teams.items(store, source="example")) == 15
    assert teams.items(store, source="nowhere") == []
    result = agreement.report(*teams.ratings(teams.items(store, qids=["K2"])))
    # ann-a gave one score to everything: kappa is 0 by scikit-learn, Spearman is undefined (None).
    assert result["pairs"][0]["spearman"] is None and result["pairs"][0]["n"] == 3


def _two_annotators(store):
    q, run, _, _ = run_judging(store)  # model: d1 9, d2 0, d3 6, d4 2
    for doc, a, b in (("d1", 9, 2), ("d2", 1, 2), ("d3", 6, 8), ("d4", 4, 4)):
        store.add_label(q, doc, "alice", a)
        store.add_label(q, doc, "bob", b)
    return q, run


def test_the_queue_holds_items_whose_annotators_differ_by_k(store):
    q, _ = _two_annotators(store)
    assert [(it.doc_id, it.gap) for it in teams.disputed_items(store, 2)] == [("d1", 7), ("d3", 2)]
    assert [it.doc_id for it in teams.disputed_items(store, 3)] == ["d1"]
    teams.grant_role(store, "carol")
    teams.adjudicate(store, q, "d1", "carol", 7, "the document answers half the question")
    assert [it.doc_id for it in teams.disputed_items(store, 2)] == ["d3"]  # adjudicated items leave it
    assert [it.doc_id for it in teams.disputed_items(store, 2, include_adjudicated=True)] == ["d1", "d3"]
    with pytest.raises(ValueError, match="from 1 to 10"):
        teams.disputed_items(store, 0)


def test_only_an_adjudicator_sets_the_final_label_and_says_why(store):
    q, _ = _two_annotators(store)
    before = store.count_labels()
    with pytest.raises(teams.NotAllowed, match="carol is not an adjudicator"):
        teams.adjudicate(store, q, "d1", "carol", 7, "because")
    assert teams.grant_role(store, "carol") and not teams.grant_role(store, "carol")
    assert teams.role_holders(store) == ["carol"] and teams.has_role(store, "carol")
    with pytest.raises(ValueError, match="say why"):
        teams.adjudicate(store, q, "d1", "carol", 7, "  ")
    with pytest.raises(ValueError, match="</answer>"):
        teams.adjudicate(store, q, "d1", "carol", 7, "x</answer>")
    with pytest.raises(ValueError, match="0 to 10"):
        teams.adjudicate(store, q, "d1", "carol", 11, "too high")
    store.add_label(q, "d2", "carol", 3)  # a label of carol's own is not a second opinion on d1
    with pytest.raises(ValueError, match="fewer than two annotators"):
        teams.adjudicate(store, q, "doc-nobody-labelled", "carol", 5, "why")
    assert store.count_labels() == before + 1  # nothing refused was written
    assert teams.revoke_role(store, "carol") and not teams.has_role(store, "carol")
    with pytest.raises(teams.NotAllowed):
        teams.adjudicate(store, q, "d1", "carol", 7, "because")


def test_adjudicated_labels_win_under_resolve_adjudicated_and_history_keeps_every_row(store):
    q, _ = _two_annotators(store)
    teams.grant_role(store, "carol")
    store.add_label(q, "d1", "carol", 1)  # the adjudicator also labelled d1 as an annotator
    row = teams.adjudicate(store, q, "d1", "carol", 7, "half relevant", rationale="It explains light capture.")
    assert row.action == "adjudicate" and row.note == "half relevant"
    history = store.label_history(q, "d1")
    assert [(r.annotator, r.score, r.action) for r in history] == [
        ("alice", 9, "set"), ("bob", 2, "set"), ("carol", 1, "set"), ("carol", 7, "adjudicate")]
    # The adjudication is not carol's own label: her label, the agreement and undo ignore it.
    assert store.current_labels(q, "carol")["d1"].score == 1
    assert teams.items(store)[0].scores == {"alice": 9, "bob": 2, "carol": 1}
    store.undo_label(q, "d1", "carol")
    assert "d1" not in store.current_labels(q, "carol")
    assert store.label_history(q, "d1")[3].action == "adjudicate"

    rule = parse_rule("adjudicated")
    qrels = {doc: rel for _, doc, rel in qrels_rows(store, ExportFilter(resolve=rule))}
    # d1 adjudicated 7 (grade 2); the others take the mean rounded half up: d2 (1+2)/2 -> 2,
    # d3 (6+8)/2 -> 7, d4 4.
    assert qrels == {"d1": 2, "d2": 0, "d3": 2, "d4": 1}
    sft = [json.loads(line) for line in export_bytes(store, "sft-messages", ExportFilter(resolve=rule)).decode().splitlines()]
    targets = {ex["messages"][1]["content"] for ex in sft}
    assert len(sft) == 4  # one example per document, not one per annotator
    assert "<think>It explains light capture.</think><answer>7</answer>" in targets
    assert "<think>model thinks doc d3 is 6</think><answer>7</answer>" in targets
    # Without --resolve every annotator's current label is still its own example.
    assert len(export_bytes(store, "sft-messages").decode().splitlines()) == 8


def test_resolve_rules(store):
    q, _ = _two_annotators(store)
    store.add_label(q, "d1", "dan", 2)  # d1: 9, 2, 2 -> majority 2, mean 13/3 -> 4

    def scores(rule: str, fmt: str = "sft-messages") -> dict[str, int]:
        lines = export_bytes(store, fmt, ExportFilter(resolve=parse_rule(rule))).decode().splitlines()
        if fmt == "qrels":
            return {line.split()[2]: int(line.split()[3]) for line in lines}
        return {json.loads(x)["messages"][0]["content"].split("Here is the document:\n")[1][:8]:
                int(json.loads(x)["messages"][1]["content"].rsplit("<answer>", 1)[1][:-9]) for x in lines}

    by_doc = {"Photosyn": "d1", "The stoc": "d2", "Chloroph": "d3", "Unicode:": "d4"}
    mean = {by_doc[k]: v for k, v in scores("mean").items()}
    assert mean == {"d1": 4, "d2": 2, "d3": 7, "d4": 4}
    majority = {by_doc[k]: v for k, v in scores("majority").items()}
    assert majority == {"d1": 2, "d4": 4}  # d2 and d3 tie 1-1: no majority, left out
    assert {by_doc[k]: v for k, v in scores("annotator:dan").items()} == {"d1": 2}
    assert {by_doc[k]: v for k, v in scores("annotator:bob").items()} == {"d1": 2, "d2": 2, "d3": 8, "d4": 4}
    # --min-disagreement compares the resolved label with the model (d1: |4 - 9| = 5).
    flt = ExportFilter(resolve=parse_rule("mean"), min_disagreement=5)
    assert len(export_bytes(store, "sft-messages", flt).decode().splitlines()) == 1
    with pytest.raises(ValueError, match="--resolve must be"):
        parse_rule("median")


def _second_store(request, tmp_path):
    """Another store on the test's backend where the suite provides one (``new_url``), else a
    SQLite file."""
    from erank_studio.store import Store

    try:
        return Store(request.getfixturevalue("new_url")("copy"))
    except pytest.FixtureLookupError:
        return Store(f"sqlite:///{tmp_path / 'copy.sqlite'}")


def test_a_bundle_carries_adjudications_and_roles_do_not_leak(store, tmp_path, request):
    q, _ = _two_annotators(store)
    teams.grant_role(store, "carol")
    teams.adjudicate(store, q, "d1", "carol", 7, "half relevant")
    path = tmp_path / "b.jsonl"
    path.write_bytes(export_bytes(store, "bundle"))
    with _second_store(request, tmp_path) as copy:
        # A role is the receiving store operator's to grant, and only an adjudicator's final
        # labels are taken (issue 19: a tampered bundle cannot adjudicate): refused until then.
        with pytest.raises(FileFormatError, match="'carol' set a final label .* not an adjudicator"):
            import_bundle(copy, path)
        assert teams.role_holders(copy) == [] and copy.count_labels() == 0
        teams.grant_role(copy, "carol")
        import_bundle(copy, path)
        item = next(it for it in teams.items(copy) if it.doc_id == "d1")
        assert item.adjudication.score == 7 and item.adjudication.adjudicator == "carol"
        assert item.scores == {"alice": 9, "bob": 2}
        assert teams.role_holders(copy) == ["carol"]
        assert import_bundle(copy, path)["labels"] == 0


def test_a_bundle_with_an_adjudication_lacking_its_score_is_refused(store, tmp_path, request):
    q, _ = _two_annotators(store)
    teams.grant_role(store, "carol")
    teams.adjudicate(store, q, "d1", "carol", 7, "half relevant")
    lines = export_bytes(store, "bundle").decode().splitlines()
    records = [json.loads(line) for line in lines]
    for rec in records:
        if rec.get("action") == "adjudicate":
            rec["score"] = None
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    with _second_store(request, tmp_path) as copy:
        with pytest.raises(ValueError, match="an adjudication needs a final score"):
            import_bundle(copy, path)
        assert copy.count_labels() == 0
