"""The ``campaign`` command: create, next --json, label, skip, guidelines, status, anchoring, and
bad input in one line with exit status 2."""
from __future__ import annotations

import json

import pytest

from campaign_data import make_run, model_score
from erank_studio.store.campaigns.payload import MODEL_KEYS
from erank_studio.cli import main
from erank_studio.store import Store


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    with Store(url) as store:
        make_run(store, 3)
    return url


def _json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_a_blind_campaign_from_the_command_line(url, capsys, tmp_path):
    rules = tmp_path / "rules.md"
    rules.write_text("## Guidelines\n\nScore usefulness.\n", encoding="utf-8")
    assert main(["campaign", "create", "c", "--run", "1", "--overlap", "1", "--blind", "--guidelines", str(rules),
                 "--strategy", "first_stage", "--db", url]) == 0
    assert "3 items from run 1 (m), 1 label(s) each, blind" in capsys.readouterr().out
    seen = []
    while (item := _json(capsys, "campaign", "next", "c", "--as", "ann", "--json", "--db", url))["item"] is not None:
        assert "model" not in item and not set(MODEL_KEYS) & set(item)
        assert "thought" not in json.dumps(item)
        assert item["guidelines"] == {"version": 1, "text": "## Guidelines\n\nScore usefulness.\n"}
        saved = _json(capsys, "campaign", "label", "c", "--as", "ann", "--item", str(item["item"]), "--score", "7",
                      "--rationale", "r", "--note", "n", "--seconds", "4.5", "--json", "--db", url)
        assert saved["model"]["score"] == model_score(int(item["doc_id"][1:]))  # revealed once labelled
        assert (saved["seconds"], saved["blind"], saved["guideline_version"]) == (4.5, True, 1)
        seen.append(item["doc_id"])
    assert item == {"item": None}
    assert sorted(seen) == ["d0", "d1", "d2"]
    status = _json(capsys, "campaign", "status", "c", "--json", "--db", url)
    assert status["overall"]["done"] == 3 and status["people"]["ann"]["median_seconds"] == 4.5
    assert main(["campaign", "status", "c", "--db", url]) == 0
    assert "ann" in capsys.readouterr().out
    anchoring = _json(capsys, "campaign", "anchoring", "c", "--json", "--db", url)
    assert anchoring["all"]["blind"]["labels"] == 3 and anchoring["all"]["in_view"]["labels"] == 0
    assert _json(capsys, "agreement", "--campaign", "c", "--json", "--db", url) == anchoring
    assert main(["agreement", "--campaign", "none", "--db", url]) == 2


def test_a_campaign_that_shows_the_model_prints_its_judgment(url, capsys):
    assert main(["campaign", "create", "v", "--run", "1", "--overlap", "2", "--db", url]) == 0
    capsys.readouterr()
    item = _json(capsys, "campaign", "next", "v", "--as", "ann", "--json", "--db", url)
    assert item["model"]["score"] == model_score(int(item["doc_id"][1:]))


def test_skip_and_new_guidelines(url, capsys, tmp_path):
    assert main(["campaign", "create", "s", "--run", "1", "--overlap", "1", "--db", url]) == 0
    capsys.readouterr()
    first = _json(capsys, "campaign", "next", "s", "--as", "ann", "--json", "--db", url)
    assert main(["campaign", "skip", "s", "--as", "ann", "--item", str(first["item"]), "--db", url]) == 0
    capsys.readouterr()
    assert _json(capsys, "campaign", "next", "s", "--as", "ann", "--json", "--db", url)["item"] != first["item"]
    new = tmp_path / "v2.md"
    new.write_text("## Guidelines\n\nv2", encoding="utf-8")
    assert main(["campaign", "guidelines", "s", "--set", str(new), "--db", url]) == 0
    assert "guidelines version 2 saved" in capsys.readouterr().out
    assert main(["campaign", "guidelines", "s", "--db", url]) == 0
    assert capsys.readouterr().out == "<!-- version 2 -->\n## Guidelines\n\nv2\n"


@pytest.mark.parametrize("argv, message", [
    (["create", "x", "--run", "9", "--overlap", "1"], "error: no run with id 9"),
    (["create", "x", "--run", "1", "--overlap", "0"], "error: overlap must be a positive integer"),
    (["create", "x", "--run", "1", "--overlap", "1", "--top-k", "3"], "error: --model and --top-k go with --dataset"),
    (["create", "x", "--run", "1", "--overlap", "1", "--guidelines", "/nonexistent.md"], "error: cannot read /nonexistent.md"),
    (["next", "nope", "--as", "ann", "--json"], "error: no campaign named 'nope'; campaigns: c"),
    (["label", "c", "--as", "ann", "--item", "1", "--score", "12"], "error: a label score must be an integer from 0 to 10"),
    (["label", "c", "--as", "ann", "--item", "77", "--score", "2"], "error: campaign 'c' has no item 77"),
    (["label", "c", "--as", " ", "--item", "1", "--score", "2"], "error: annotator must be a non-empty name"),
    (["label", "c", "--as", "ann", "--item", "1", "--score", "2", "--seconds", "-3"], "error: seconds must be"),
    (["label", "c", "--as", "ann", "--item", "1", "--score", "2", "--rationale", "<answer>9</answer>"], "error: rationale may not contain"),
])
def test_bad_input_is_one_line_and_exit_2(url, capsys, argv, message):
    assert main(["campaign", "create", "c", "--run", "1", "--overlap", "1", "--db", url]) == 0
    capsys.readouterr()
    assert main(["campaign", *argv, "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    with Store(url) as store:
        assert store.count_labels() == 0


def test_a_missing_store_is_not_created(tmp_path, capsys):
    missing = tmp_path / "none.sqlite"
    assert main(["campaign", "next", "c", "--as", "a", "--json", "--db", f"sqlite:///{missing}"]) == 2
    assert "no store at" in capsys.readouterr().err and not missing.exists()
