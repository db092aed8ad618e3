from __future__ import annotations

import json

import pytest

from erank_studio.store import FileFormatError, trec
from erank_studio.store.imports import (
    import_bundle,
    import_documents,
    import_qrels,
    import_queries,
    import_run,
    read_documents,
)
from erank_studio.store.exports import export

from .conftest import dump, run_judging


def _write(path, data: bytes | str):
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_trec_readers(tmp_path):
    q = _write(tmp_path / "q.qrels", "1 0 d1 2\n\n1 0 d2 0\r\n2 Q0 d1 1\n")
    assert trec.read_qrels(q) == [("1", "d1", 2), ("1", "d2", 0), ("2", "d1", 1)]
    r = _write(tmp_path / "r.run", "1 Q0 d1 1 12.5 bm25\n1 Q0 d2 2 -3e-1 bm25\n")
    assert trec.read_run(r) == [("1", "d1", 1, 12.5, "bm25"), ("1", "d2", 2, -0.3, "bm25")]
    out = tmp_path / "back.run"
    trec.write_run(out, trec.read_run(r))
    assert trec.read_run(out) == trec.read_run(r)


def test_import_queries_documents_run_and_qrels(store, tmp_path):
    _write(tmp_path / "topics.tsv", "q1\tHow do plants eat?\nq2\tWhat is rust?\n")
    assert import_queries(store, tmp_path / "topics.tsv", "demo") == 2
    _write(tmp_path / "docs.jsonl", "\n".join(json.dumps(d) for d in [
        {"_id": "a", "title": "A", "text": "plants photosynthesise"},
        {"_id": "b", "text": "iron oxide"},
    ]) + "\n")
    assert import_documents(store, tmp_path / "docs.jsonl", "demo") == 2
    _write(tmp_path / "bm25.run", "q1 Q0 a 1 9.5 bm25\nq1 Q0 b 2 1.5 bm25\nq2 Q0 b 1 7 bm25\n")
    assert import_run(store, tmp_path / "bm25.run", "demo") == 3
    qid = store.upsert_query("How do plants eat?", "demo", "q1")
    docs = store.documents_for_query(qid)
    assert [(d.doc_id, d.first_stage_score, d.first_stage_source) for d in docs] == [("a", 9.5, "given"), ("b", 1.5, "given")]
    assert docs[0].title == "A"
    _write(tmp_path / "q.qrels", "q1 0 a 1\n")
    assert import_qrels(store, tmp_path / "q.qrels", "demo") == 1
    assert store.qrels_for(qid) == {"a": 1}


def test_csv_documents_into_a_query(store, tmp_path):
    qid = store.upsert_query("typed query")
    _write(tmp_path / "docs.csv", 'doc_id,text,score\n1,"first, with comma",2.5\n2,"multi\nline",\n')
    assert import_documents(store, tmp_path / "docs.csv", query_id=qid) == 2
    docs = store.documents_for_query(qid)
    assert [(d.doc_id, d.text, d.first_stage_score) for d in docs] == [("1", "first, with comma", 2.5), ("2", "multi\nline", None)]


MALFORMED = [
    # (importer, file name, content, expected message)
    ("qrels", "bad.qrels", "1 0 d1 1\n1 0 d2\n", "bad.qrels line 2: expected 4 columns 'qid iter docid relevance', got 3"),
    ("qrels", "grade.qrels", "1 0 d1 1\n1 0 d2 high\n", "grade.qrels line 2: relevance must be an integer, got 'high'"),
    ("qrels", "latin1.qrels", b"1 0 d1 1\n1 0 caf\xe9 1\n", "latin1.qrels line 2: not UTF-8"),
    ("qrels", "empty.qrels", "", "empty.qrels: file is empty"),
    ("qrels", "blank.qrels", "\n  \n", "blank.qrels: file is empty"),
    ("run", "runs.txt", "q1 Q0 a 1 9.5 bm25\nq1 Q0 b 2 1.5 bm25\nq1 Q0 b 3\n", "runs.txt line 3: expected 6 columns 'qid Q0 docid rank score tag', got 4"),
    ("run", "score.run", "q1 Q0 a 1 nan? bm25\n", "score.run line 1: score must be a number"),
    ("run", "unknown.run", "q1 Q0 a 1 9.5 bm25\nq9 Q0 a 1 9.5 bm25\n", "unknown.run line 2: unknown query 'q9'"),
    ("documents", "docs.jsonl", '{"_id": "x", "text": "ok"}\n{"_id": "y", "text": \n', "docs.jsonl line 2: is not valid JSON"),
    ("documents", "notext.jsonl", '{"_id": "x", "text": "ok"}\n{"_id": "y"}\n', "notext.jsonl line 2: missing document text"),
    ("documents", "cols.csv", "id,body_text\n1,hello\n", "cols.csv line 1: missing column 'text'"),
    ("documents", "ragged.csv", "doc_id,text\n1,hello\n2,hi,extra\n", "ragged.csv line 3: expected 2 columns"),
    ("documents", "bytes.csv", b"doc_id,text\n1,ok\n2,\xff\xfe bad\n", "bytes.csv line 3: not UTF-8"),
    ("documents", "empty.csv", "", "empty.csv: file is empty"),
    ("documents", "dup.jsonl", '{"_id": "x", "text": "a"}\n{"_id": "x", "text": "b"}\n', "dup.jsonl line 2: document id 'x' appears twice"),
    ("bundle", "b.jsonl", '{"kind": "bundle", "format": "erank-studio-bundle", "version": 1}\n{"kind": "query", "id": 1}\n', "b.jsonl line 2: query record lacks text"),
    ("bundle", "notbundle.jsonl", '{"kind": "query"}\n', "notbundle.jsonl line 1: not an ERank Studio bundle"),
]


@pytest.mark.parametrize("kind,name,content,message", MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_files_are_refused_and_nothing_changes(store, tmp_path, kind, name, content, message):
    q, _, _, _ = run_judging(store, source="demo", sqid="q1")
    store.add_label(q, "d1", "ann", 5)
    import_documents(store, _write(tmp_path / "ok.jsonl", '{"_id": "a", "text": "t"}\n'), "demo")
    before = dump(store)
    path = _write(tmp_path / name, content)
    importer = {
        "qrels": lambda: import_qrels(store, path, "demo"),
        "run": lambda: import_run(store, path, "demo"),
        "documents": lambda: import_documents(store, path, "demo", query_id=q),
        "bundle": lambda: import_bundle(store, path),
    }[kind]
    with pytest.raises(FileFormatError) as info:
        importer()
    assert str(info.value).startswith(str(tmp_path / name))
    assert message in str(info.value)
    assert dump(store) == before


def test_bundle_with_a_broken_late_record_writes_nothing(new_url, store, tmp_path):
    q, _, _, _ = run_judging(store)
    store.add_label(q, "d1", "ann", 5)
    export(store, "bundle", tmp_path / "b.jsonl")
    lines = (tmp_path / "b.jsonl").read_text(encoding="utf-8").splitlines()
    lines.append(json.dumps({"kind": "label", "query_id": 1, "document_id": 1, "doc_id": "d1", "annotator": "x",
                             "retracted": False, "action": "set", "created_at": "2026-01-01T00:00:00", "score": 12}))
    (tmp_path / "b.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    from erank_studio.store import Store

    with Store(new_url("fresh", migrated=True)) as fresh:
        before = dump(fresh)
        with pytest.raises(FileFormatError, match=f"line {len(lines)}: a label score must be an integer from 0 to 10"):
            import_bundle(fresh, tmp_path / "b.jsonl")
        assert dump(fresh) == before


def test_read_documents_is_pure(tmp_path):
    docs = read_documents(_write(tmp_path / "d.jsonl", '{"id": 7, "contents": "x", "score": "1.5"}\n'))
    assert docs[0].doc_id == "7" and docs[0].first_stage_score == 1.5 and docs[0].first_stage_source == "given"


def test_documents_with_a_content_field_import_as_rerank_docs_reads_them(tmp_path):
    # The README's document file (JSONL "content", CSV "content" column) imports as it reranks.
    docs = read_documents(_write(tmp_path / "d.jsonl", '{"id": "a", "content": "cells", "first_stage_score": 2}\n'))
    assert (docs[0].doc_id, docs[0].text, docs[0].first_stage_score) == ("a", "cells", 2.0)
    docs = read_documents(_write(tmp_path / "d.csv", "id,content\nb,stocks\n"))
    assert (docs[0].doc_id, docs[0].text) == ("b", "stocks")
