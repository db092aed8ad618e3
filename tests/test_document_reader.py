"""One document reader (issue 20, 7): every accepted text and id field is read the same by
``rerank --docs`` (docfiles), the benchmark corpus reader (data/files.py) and the public record
reader ``import`` is to use (``docfiles.document_record``)."""
from __future__ import annotations

import json

import pytest

from erank_studio import docfiles
from erank_studio.data.base import DatasetFormatError
from erank_studio.data.files import read_corpus


@pytest.mark.parametrize("text_field", docfiles.TEXT_FIELDS)
@pytest.mark.parametrize("id_field", docfiles.ID_FIELDS)
def test_every_field_is_read_by_every_reader(text_field, id_field, tmp_path):
    record = {id_field: "doc-1", text_field: "the text", "title": "A title"}
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    (doc,) = docfiles.read_documents(path)
    assert (doc.doc_id, doc.text, doc.title) == ("doc-1", "the text", "A title")
    assert read_corpus(path) == {"doc-1": ("A title", "the text")}
    assert docfiles.document_record(record, "x", 1, id_required=True).doc_id == "doc-1"


def test_the_corpus_needs_an_id_where_rerank_gives_the_texts(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"passage": "no id here"}\n', encoding="utf-8")
    with pytest.raises(DatasetFormatError, match="line 1: missing document id"):
        read_corpus(path)
    (doc,) = docfiles.read_documents(path)
    assert doc.doc_id.startswith("d-") and doc.text == "no id here"
