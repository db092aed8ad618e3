"""The team commands: agreement (table and --json), adjudicate queue / set, roles."""
from __future__ import annotations

import json

from erank_studio.cli import main
from erank_studio.store import Store

from .conftest import run_judging


def _store(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'team.sqlite'}"
    with Store(url) as store:
        q, _, _, _ = run_judging(store, source="bench", sqid="Q1")  # model: d1 9, d2 0, d3 6, d4 2
        for doc, a, b in (("d1", 9, 3), ("d2", 1, 2), ("d3", 6, 7)):
            store.add_label(q, doc, "alice", a)
            store.add_label(q, doc, "bob", b)
        store.add_label(q, "d4", "bob", 0)
    return url


def test_agreement_table_and_json(tmp_path, capsys):
    url = _store(tmp_path)
    assert main(["agreement", "--db", url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("4 labelled documents, 2 annotators: alice, bob")
    assert "alice vs bob    Cohen's kappa (quadratic)" in out and "Krippendorff's alpha (ordinal)" in out
    assert main(["agreement", "--db", url, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"][0]["n"] == 3 and result["krippendorff"]["interval"]["n"] == 3
    assert [(m["annotator"], m["n"]) for m in result["model"]] == [("alice", 3), ("bob", 4)]
    assert main(["agreement", "--db", url, "--query-id", "nope", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == 0
    assert main(["agreement", "--db", f"sqlite:///{tmp_path / 'missing.sqlite'}"]) == 2
    assert "no store at" in capsys.readouterr().err


def test_adjudication_from_the_command_line(tmp_path, capsys):
    url = _store(tmp_path)
    assert main(["adjudicate", "queue", "--db", url, "--min-gap", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("\t")[:3] == ["Q1", "d1", "gap 6"] and len(out) == 2
    set_d1 = ["adjudicate", "set", "--db", url, "--query-id", "Q1", "--doc-id", "d1", "--as", "carol",
              "--score", "7", "--reason", "half of it answers"]
    assert main(set_d1) == 2
    assert capsys.readouterr().err.strip() == ("error: carol is not an adjudicator; the store's operator grants "
                                               "the role (python -m erank_studio roles grant NAME)")
    assert main(["roles", "list", "--db", url]) == 0
    listed = capsys.readouterr()
    assert listed.out == "" and "no adjudicators yet" in listed.err
    assert main(["roles", "grant", "carol", "--db", url]) == 0
    assert main(["roles", "list", "--db", url]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "carol"
    assert main(set_d1) == 0
    assert main(["adjudicate", "queue", "--db", url, "--min-gap", "3", "--all", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[-1]) == {"query_id": "Q1", "doc_id": "d1", "gap": 6, "labels": {"alice": 9, "bob": 3},
                                     "model": 9, "adjudicated": 7}
    assert main(["export", "--db", url, "--format", "qrels", "--out", "-", "--resolve", "adjudicated"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "Q1 0 d1 2"
    assert main(["export", "--db", url, "--format", "csv", "--out", "-", "--resolve", "mean"]) == 2
    assert main(["export", "--db", url, "--format", "qrels", "--out", "-", "--resolve", "mean",
                 "--annotator", "bob"]) == 2
    assert main(["adjudicate", "set", "--db", url, "--query-id", "Q1", "--doc-id", "d9", "--as", "carol",
                 "--score", "7", "--reason", "x"]) == 2
    assert main(["roles", "revoke", "carol", "--db", url]) == 0
    assert main(set_d1) == 2
