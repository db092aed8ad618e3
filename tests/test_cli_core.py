"""The `prompt` and `rerank --docs` commands, as a user runs them."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from erank_studio import docfiles
from erank_studio.text_rules import text_doc_id
from erank_studio.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "erank_studio", *args], cwd=ROOT, capture_output=True, text=True,
        input=stdin, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=300,
    )


def test_prompt_prints_the_exact_text_and_token_count():
    result = run_cli("prompt", "--query", "why do cats purr", "--document", "Cats purr.", "--task", "bright/biology")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<|im_start|>user\nGiven a query and a document")
    assert "Here is the query:\nwhy do cats purr\n\nHere is the document:\nCats purr.\n\n" in result.stdout
    assert "relevance score of 0~10.\n" in result.stdout  # the released code's template by default
    assert result.stdout.endswith("<|im_start|>assistant\n\n")
    assert "tokens" in result.stderr and "bundled Qwen3 tokenizer" in result.stderr


def test_prompt_reports_truncation():
    result = run_cli("prompt", "--query", "q", "--document", "one two three four five", "--truncate-length", "2")
    assert result.returncode == 0
    assert "document truncated: kept 2 of 5 tokens" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["prompt", "--query", " ", "--document", "d"], "--query is empty"),
    (["prompt", "--query", "q", "--document", ""], "the document is empty"),
    (["rerank", "--docs", "x.jsonl"], "--query is required"),
    (["rerank", "--query", "q", "--docs", "/nonexistent/docs.jsonl"], "docs.jsonl: cannot be read"),
    (["rerank", "--query", "q", "--docs", "x.jsonl", "--alpha", "2"], "--alpha must lie between 0 and 1"),
    (["prompt", "--query", "q", "--document", "d", "--task", "bright/nonexist"], "unknown --task 'bright/nonexist'"),
    # an undecodable byte on the command line arrives as a lone surrogate
    (["prompt", "--query", "caf\udce9", "--document", "d"], "--query holds a lone surrogate (U+DCE9 at character 4)"),
    (["prompt", "--query", "q", "--document", "a\udce9"], "the document holds a lone surrogate (U+DCE9"),
    (["rerank", "--query", "caf\udce9", "--docs", "x.jsonl"], "--query holds a lone surrogate"),
])
def test_bad_input_gets_one_clear_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_rerank_prints_one_json_line_per_document_best_first(tmp_path, tiny_model_dir):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        '{"id": "a", "content": "Cats purr.", "first_stage_score": 3}\n'
        '{"id": "b", "content": "Stocks fell.", "first_stage_score": 1}\n'
        '{"id": "c", "content": "<script>alert(1)</script>", "first_stage_score": 2}\n'
    )
    result = run_cli("rerank", "--query", "why do cats purr", "--docs", str(docs), "--model", str(tiny_model_dir),
                     "--max-new-tokens", "3", "--force-answer")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert sorted(r["id"] for r in rows) == ["a", "b", "c"]
    assert [r["rank_score"] for r in rows] == sorted((r["rank_score"] for r in rows), reverse=True)
    assert all(r["hybrid_score"] is not None and r["first_stage_source"] == "given" for r in rows)
    assert "[3/3]" in result.stderr


def test_rerank_reads_tsv_without_header(tmp_path, tiny_model_dir, capsys):
    docs = tmp_path / "docs.tsv"
    docs.write_text("x\tfirst text\t1.5\ny\tsecond text\t0.5\n")
    assert main(["rerank", "--query", "q", "--docs", str(docs), "--model", str(tiny_model_dir),
                 "--max-new-tokens", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["id"] for r in rows} == {"x", "y"}
    assert all(r["status"] == "failed" and r["rank_score"] is None for r in rows)  # no forcing: honest failure


@pytest.mark.parametrize("name,content,message", [
    ("empty.jsonl", b"", "empty.jsonl: is empty"),
    ("bad.jsonl", b'{"content": "ok"}\n{"content": \n', "bad.jsonl line 2: is not valid JSON"),
    ("noid.jsonl", b'{"text": ""}\n', "noid.jsonl line 1: missing document text: needs a non-empty one of 'content', 'text', 'contents', 'passage', 'body'"),
    ("latin1.jsonl", b'{"content": "ok"}\n{"content": "caf\xe9"}\n', "latin1.jsonl line 2: is not UTF-8"),
    ("cols.csv", b"id,content\n1,a\n2,b,c,d\n", "cols.csv line 3: has 4 columns"),
    ("nohead.csv", b"1,a\n", "the header must name a 'content' column"),
    ("space.jsonl", b'{"id": "a b", "content": "x"}\n', "space.jsonl line 1: document id 'a b' contains whitespace"),
    ("quote.csv", b'id,content\n1,"unterminated\n2,ok,extra\n', "quote.csv line 2: is not valid CSV"),
    ("score.jsonl", b'{"content": "a", "first_stage_score": "high"}\n', "score.jsonl line 1: first-stage score 'high'"),
    ("nan.jsonl", b'{"content": "a", "first_stage_score": NaN}\n', "nan.jsonl line 1: first-stage score nan is not a finite"),
    ("inf.csv", b"id,content,first_stage_score\n1,a,inf\n", "inf.csv line 2: first-stage score 'inf' is not a finite"),
    ("dup.jsonl", b'{"id": 1, "content": "a"}\n{"id": 1, "content": "b"}\n', "document id '1' appears twice"),
    ("surrogate.jsonl", b'{"content": "ok"}\n{"content": "a \\ud800 b"}\n',
     "surrogate.jsonl line 2: its content holds a lone surrogate (U+D800 at character 3), which is not Unicode text"),
    ("nul.jsonl", b'{"content": "a", "title": "t\\u0000"}\n', "nul.jsonl line 1: its title may not contain the NUL"),
    ("doc.pdf", b"%PDF", "unknown document format 'pdf'"),
])
def test_malformed_document_files_are_refused_with_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(docfiles.DocumentFileError) as error:
        docfiles.read_documents(path)
    assert message in str(error.value)


def test_text_blocks_and_bom_and_odd_encodings():
    assert [d.text for d in docfiles.parse_text_blocks("a\nb\n\nc")] == ["a\nb", "c"]
    assert [d.text for d in docfiles.parse_text_blocks("a\nb\nc")] == ["a", "b", "c"]
    text = docfiles.decode_bytes("\ufeff{\"content\": \"é\"}".encode("utf-8"), "x.jsonl")
    assert docfiles.parse_jsonl(text)[0].text == "é"


JSONL_CASES = [
    '{"id": "a", "content": "x"}\r\n\n  {"id": "b", "content": "y", "score": 2}  \n',
    '{"content": "a"}\r{"content": "b"}\x0c{"content": "c"}',  # str.splitlines' line breaks
    '{"content": "a"} {"x": 1}',  # extra data
    '{"content":\n"split"}',  # a value across two lines is two bad lines
    '{"content": "a\u2028b"}',  # U+2028 ends a line, as with splitlines
    '{"content": "a"}\n[1]\n{"id": "b"}',  # every line is checked as JSON before any as a document
    '{"content": "x", "a": ' + "[" * 100_000 + "]" * 100_000 + "}",
]


@pytest.mark.parametrize("text", JSONL_CASES)
def test_jsonl_read_in_place_reads_as_line_by_line_json(text):
    def line_by_line():
        records = docfiles.jsonl_records(text.splitlines(), "<jsonl>", docfiles.DocumentFileError)
        documents = [docfiles.document_record(r, "<jsonl>", n) for n, r in records]
        docfiles.assign_text_ids(documents)
        return documents

    def outcome(read):
        try:
            return [(d.doc_id, d.text, d.first_stage_score) for d in read()]
        except docfiles.DocumentFileError as error:
            return str(error)

    assert outcome(lambda: docfiles.parse_jsonl(text)) == outcome(line_by_line)


def test_a_valid_jsonl_line_is_decoded_where_it_lies(monkeypatch):
    # json.loads would need a copy of the line: only a malformed line (for its message) gets one.
    monkeypatch.setattr(docfiles.json, "loads", lambda *a, **k: pytest.fail("a line was copied"))
    huge = "Purring, 東京 🐈. " * 100_000
    text = json.dumps({"id": "big", "content": huge}, ensure_ascii=False) + "\n" + '{"content": "small"}\n'
    assert [(d.doc_id, d.text) for d in docfiles.parse_jsonl(text)] == [("big", huge), (text_doc_id("small"), "small")]
