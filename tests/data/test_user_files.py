"""Each user-file format loads; malformed files are refused with the file name and line."""
from __future__ import annotations

import json

import pytest

from erank_studio.data import DatasetFormatError, load_dataset, load_user_dataset

DOCS = [
    {"_id": "d1", "title": "Cats", "text": "cats purr and sleep in the sun"},
    {"_id": "d2", "text": "dogs bark at the mail carrier"},
    {"_id": "d3", "text": "the sun is a star"},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def beir(tmp_path):
    folder = tmp_path / "mini"
    (folder / "qrels").mkdir(parents=True)
    write_jsonl(folder / "corpus.jsonl", DOCS)
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "why do cats purr"}, {"_id": "q2", "text": "sun"},
                                           {"_id": "q3", "text": "unjudged"}])
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td3\t1\n")
    return folder


def test_beir_folder(beir):
    for dataset in (load_user_dataset(beir), load_dataset(str(beir))):
        assert [q.query_id for q in dataset.queries()] == ["q1", "q2"]
        assert dataset.qrels("q1") == {"d1": 2}
        docs = dataset.candidates("q1", top_k=2)
        assert docs[0].doc_id == "d1" and docs[0].title == "Cats"
        assert docs[0].first_stage_source == "bm25" and docs[0].first_stage_score > docs[1].first_stage_score
        assert dataset.instruction == "Given a query, retrieval relevant passage."


@pytest.mark.parametrize("kind", ["tsv", "sgml", "jsonl"])
def test_trec_topics_corpus_qrels_run(tmp_path, kind):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"doc_id": d["_id"], "contents": d["text"]} for d in DOCS])
    topics = tmp_path / f"topics.{kind}"
    if kind == "tsv":
        topics.write_text("101\twhy do cats purr\n102\tsun star\n")
    elif kind == "sgml":
        topics.write_text("<top>\n<num> Number: 101\n<title> why do cats purr\n<desc> Description:\nx\n</top>\n"
                          "<top>\n<num> Number: 102\n<title> sun star\n</top>\n")
    else:
        write_jsonl(topics, [{"query_id": "101", "query": "why do cats purr"}, {"qid": 102, "text": "sun star"}])
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("101 0 d1 1\n102 0 d3 2\n")
    run = tmp_path / "bm25.run"
    run.write_text("101 Q0 d2 2 1.5 x\n101 Q0 d1 1 3.0 x\n101 Q0 missing 3 1.0 x\n")
    dataset = load_user_dataset(topics, corpus, qrels, run)
    assert [(q.query_id, q.text) for q in dataset.queries()] == [("101", "why do cats purr"), ("102", "sun star")]
    assert dataset.qrels("102") == {"d3": 2}
    docs = dataset.candidates("101", top_k=10)
    assert [(d.doc_id, d.first_stage_score, d.first_stage_source) for d in docs] == [("d1", 3.0, "run"), ("d2", 1.5, "run")]
    assert dataset.warnings  # the run's unknown document is reported
    # Without a run: BM25 over the corpus, by keyword.
    plain = load_user_dataset(topics=topics, corpus=corpus)
    assert plain.candidates("102", top_k=1)[0].doc_id == "d3"
    assert plain.qrels("101") == {}


def _expect(error_info, filename, line, words):
    message = str(error_info.value)
    assert filename in message and (line is None or f"line {line}" in message), message
    assert words in message, message


def test_malformed_files_are_refused(tmp_path, beir):
    good_topics = tmp_path / "topics.tsv"
    good_topics.write_text("1\tq\n")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n')
    with pytest.raises(DatasetFormatError) as error:
        load_user_dataset(good_topics, corpus)
    _expect(error, "corpus.jsonl", 2, "not valid JSON")

    corpus.write_text('{"_id": "a", "text": "x"}\n{"text": "no id"}\n')
    with pytest.raises(DatasetFormatError) as error:
        load_user_dataset(good_topics, corpus)
    _expect(error, "corpus.jsonl", 2, "missing document id")

    corpus.write_text('{"_id": "a", "text": "x"}\n')
    bad_topics = tmp_path / "queries.tsv"
    bad_topics.write_text("1\tok\n2 no tab here\n")
    with pytest.raises(DatasetFormatError) as error:
        load_user_dataset(bad_topics, corpus)
    _expect(error, "queries.tsv", 2, "query id<TAB>query text")

    qrels = tmp_path / "qrels.txt"
    qrels.write_text("1 0 a 1\n1 0 b\n")
    with pytest.raises(DatasetFormatError) as error:
        load_user_dataset(good_topics, corpus, qrels)
    _expect(error, "qrels.txt", 2, "expected 4 columns")

    run = tmp_path / "my.run"
    run.write_text("1 Q0 a 1 high tag\n")
    with pytest.raises(DatasetFormatError) as error:
        load_user_dataset(good_topics, corpus, run=run)
    _expect(error, "my.run", 1, "score must be a number")

    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\tvery\n")
    with pytest.raises(DatasetFormatError) as error:
        load_user_dataset(beir)
    _expect(error, "test.tsv", 2, "score must be an integer")

    (beir / "corpus.jsonl").unlink()
    with pytest.raises(DatasetFormatError) as error:
        load_user_dataset(beir)
    _expect(error, "mini", None, "corpus.jsonl is missing")

    with pytest.raises(DatasetFormatError) as error:
        load_user_dataset(tmp_path / "mystery.dat")
    _expect(error, "mystery.dat", None, "no such file")
    (tmp_path / "mystery.dat").write_text("x")
    with pytest.raises(DatasetFormatError) as error:
        load_user_dataset(tmp_path / "mystery.dat", corpus)
    _expect(error, "mystery.dat", None, "cannot tell")
    with pytest.raises(DatasetFormatError) as error:
        load_user_dataset(corpus)
    _expect(error, "corpus.jsonl", None, "missing topics")
    assert issubclass(DatasetFormatError, ValueError)
