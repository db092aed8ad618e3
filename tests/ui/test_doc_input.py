from __future__ import annotations

import pytest

from erank_studio.ui import doc_input
from erank_studio.ui.doc_input import DocumentInputError
from erank_studio.text_rules import text_doc_id


def test_one_document_per_line():
    docs = doc_input.parse_text("first doc\n\n")
    assert [d.text for d in docs] == ["first doc"]
    docs = doc_input.parse_text("a\nb\r\nc")
    # Typed documents get the ids of their texts (never positions a later list would reuse).
    assert [(d.doc_id, d.text) for d in docs] == [(text_doc_id(t), t) for t in "abc"]
    assert all(d.first_stage_score is None for d in docs)


def test_blank_line_separated_blocks():
    docs = doc_input.parse_text("para one\nstill one\n\npara two\n   \npara three")
    assert [d.text for d in docs] == ["para one\nstill one", "para two", "para three"]


def test_jsonl_with_scores_round_trips():
    text = '{"id": "x", "content": "alpha", "first_stage_score": 2.5}\n{"id": "y", "text": "beta", "score": "1"}'
    docs = doc_input.parse_text(text)
    assert [(d.doc_id, d.text, d.first_stage_score) for d in docs] == [("x", "alpha", 2.5), ("y", "beta", 1.0)]
    again = doc_input.parse_text(doc_input.documents_to_text(docs))
    assert [(d.doc_id, d.text, d.first_stage_score) for d in again] == [("x", "alpha", 2.5), ("y", "beta", 1.0)]


@pytest.mark.parametrize("text, message", [
    ("", "no documents"),
    ("   \n \n", "no documents"),
    ('{"id": 1, "content": "a"}\n{bad json', "line 2"),
    ('{"id": 1, "content": "a"}\n{"id": 1, "content": "b"}', "appears twice"),
    ('{"id": 1}', "content"),
    ('{"id": 1, "content": "a", "score": "high"}', "not a number"),
])
def test_bad_text_says_what_to_fix(text, message):
    with pytest.raises(DocumentInputError, match=message):
        doc_input.parse_text(text)


def test_a_partly_scored_list_is_accepted_as_typed():
    """The run path, not the box, decides what a partial first stage means (BM25 for the whole
    list, with a note shown with the run: tests/ui/test_jobs.py)."""
    docs = doc_input.parse_text('{"id": 1, "content": "a", "score": 1}\n{"id": 2, "content": "b"}')
    assert [(d.doc_id, d.first_stage_score) for d in docs] == [("1", 1.0), ("2", None)]


def test_the_box_obeys_the_file_size_limit(monkeypatch):
    from erank_studio import docfiles

    monkeypatch.setattr(docfiles, "MAX_FILE_BYTES", 1000)
    assert [d.text for d in doc_input.parse_text("x" * 1000)] == ["x" * 1000]
    with pytest.raises(DocumentInputError, match="holds 1,001 characters; the limit is"):
        doc_input.parse_text("x" * 1001)


def test_files(tmp_path):
    (tmp_path / "d.csv").write_text("id,content,score\na,hello,1\nb,world,2\n", encoding="utf-8")
    assert [d.doc_id for d in doc_input.parse_file(tmp_path / "d.csv")] == ["a", "b"]
    (tmp_path / "d.tsv").write_text("id\tcontent\nq\tthere\n", encoding="utf-8")
    assert doc_input.parse_file(tmp_path / "d.tsv")[0].text == "there"
    (tmp_path / "d.txt").write_bytes("\ufeffone\n\ntwo\n".encode("utf-8"))
    assert [d.text for d in doc_input.parse_file(tmp_path / "d.txt")] == ["one", "two"]
    (tmp_path / "d.jsonl").write_text('{"id": "z", "content": "ü"}\n', encoding="utf-8")
    assert doc_input.parse_file(tmp_path / "d.jsonl")[0].text == "ü"


def test_bad_files(tmp_path):
    (tmp_path / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(DocumentInputError, match="UTF-8"):
        doc_input.parse_file(tmp_path / "latin.txt")
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DocumentInputError, match="empty"):
        doc_input.parse_file(tmp_path / "empty.jsonl")
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(DocumentInputError, match="unsupported"):
        doc_input.parse_file(tmp_path / "x.pdf")
    (tmp_path / "nocol.csv").write_text("id,summary\n1,x\n", encoding="utf-8")  # "body" is a text field
    with pytest.raises(DocumentInputError, match="content"):
        doc_input.parse_file(tmp_path / "nocol.csv")


def test_huge_document_is_accepted_whole():
    big = "word " * 200_000
    docs = doc_input.parse_text(big)
    assert len(docs) == 1 and len(docs[0].text) == len(big.strip())


def test_too_many_documents():
    with pytest.raises(DocumentInputError, match="too many"):
        doc_input.parse_text("\n".join(f"doc {i}" for i in range(doc_input.MAX_DOCUMENTS + 1)))
