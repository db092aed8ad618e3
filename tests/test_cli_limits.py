"""Limits that hold for every input (issue 19, 7 and 10): readers bound the bytes they read (an
endless pipe stops at the bound with one line); the CLI has the app's bounds; a full disk is one
line and exit 2; a closed pipe (`| head -1`) ends quietly. Special files are made in a temp folder."""
from __future__ import annotations

import errno
import io
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from erank_studio import docfiles
from erank_studio.cli import EXIT_BROKEN_PIPE, main

ROOT = Path(__file__).resolve().parents[1]


def _endless_fifo(tmp_path: Path) -> tuple[Path, threading.Thread]:
    """A FIFO with a writer thread that writes until the reader goes away."""
    fifo = tmp_path / "endless.jsonl"
    os.mkfifo(fifo)

    def write_forever() -> None:
        line = b'{"content": "' + b"x" * 1000 + b'"}\n'
        try:
            with open(fifo, "wb") as handle:
                while True:
                    handle.write(line)
        except (BrokenPipeError, OSError):
            pass

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    return fifo, writer


def test_an_endless_pipe_stops_at_the_bound_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(docfiles, "MAX_FILE_BYTES", 256 * 1024)  # the bound, small for the test
    fifo, writer = _endless_fifo(tmp_path)
    assert main(["rerank", "--query", "q", "--docs", str(fifo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: endless.jsonl: is larger than"), err
    writer.join(timeout=30)
    assert not writer.is_alive(), "the reader closed the pipe, so the writer stopped"


def test_a_stream_is_read_up_to_the_bound_only(monkeypatch):
    monkeypatch.setattr(docfiles, "MAX_FILE_BYTES", 1000)

    class Endless(io.RawIOBase):
        served = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            buffer[:] = b"y" * len(buffer)
            Endless.served += len(buffer)
            return len(buffer)

    with pytest.raises(docfiles.FileFormatError, match="stdin: is larger than"):
        docfiles.read_bounded(io.BufferedReader(Endless()), "stdin")
    assert Endless.served <= 1000 + 1 + io.DEFAULT_BUFFER_SIZE


@pytest.mark.parametrize("argv, message", [
    (["--max-new-tokens", "99999999"], "--max-new-tokens must lie between 1 and 8192"),
    (["--max-new-tokens", "0"], "--max-new-tokens must lie between 1 and 8192"),
    (["--temperature", "nan"], "--temperature must be a finite number"),
    (["--temperature", "inf"], "--temperature must be a finite number"),
    (["--alpha", "nan"], "--alpha must lie between 0 and 1"),
])
def test_the_cli_has_the_apps_bounds(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ERANK_MAX_NEW_TOKENS", raising=False)
    docs = tmp_path / "d.txt"
    docs.write_text("one\n")
    assert main(["rerank", "--query", "q", "--docs", str(docs), *argv]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {message}")


def test_an_operator_raises_the_generation_bound(monkeypatch):
    from erank_studio.cli.common import max_new_tokens_cap

    monkeypatch.setenv("ERANK_MAX_NEW_TOKENS", "20000")
    assert max_new_tokens_cap() == 20000
    monkeypatch.setenv("ERANK_MAX_NEW_TOKENS", "100")
    assert max_new_tokens_cap() == 8192


def _trec_files(tmp_path: Path) -> tuple[Path, Path]:
    run, qrels = tmp_path / "a.run", tmp_path / "a.qrels"
    run.write_text("".join(f"q1 Q0 d{i} {i} {10 - i} t\n" for i in range(1, 6)))
    qrels.write_text("q1 0 d1 1\nq1 0 d3 2\n")
    return run, qrels


def _cli(args: list[str], stdout) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "erank_studio", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, cwd=ROOT, timeout=120)


def test_a_full_device_is_one_line_and_exit_2(tmp_path):
    """``evaluate --json - > /dev/full``, on a full device made for the test (char 1,7)."""
    full = tmp_path / "full"
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        with open(full, "wb") as probe:
            probe.write(b"x")
            probe.flush()
    except PermissionError:
        pytest.skip("making a character device is not permitted here")
    except OSError as error:
        if error.errno != errno.ENOSPC:
            pytest.skip(f"the device made here does not behave as /dev/full ({error})")
    run, qrels = _trec_files(tmp_path)
    with open(full, "w") as out:
        done = _cli(["evaluate", "--run", str(run), "--qrels", str(qrels), "--json", "-"], out)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: cannot write the output (No space left on device)"]


def test_a_full_disk_under_rerank_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    """``rerank ... > /dev/full`` in this process: stdout refuses every write with ENOSPC."""
    from erank_studio.cli import rerank
    from erank_studio.engines.base import Generation

    class OneAnswer:  # every document: "<answer>3</answer>" with P = 1
        name, model, is_reranker, warning, chat_template_source, tokenizer = "fake", "fake", True, None, None, None

        def generate(self, prompts, settings, cancel=None):
            for i, _ in enumerate(prompts):
                yield Generation(index=i, text="<answer>3</answer>", pieces=["<answer>", "3", "</answer>"],
                                 logprobs=[0.0, 0.0, 0.0])

    class Full(io.TextIOBase):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    docs = tmp_path / "d.jsonl"
    docs.write_text('{"id": "a", "content": "one"}\n')
    monkeypatch.setattr(rerank, "engine_from", lambda args: OneAnswer())
    monkeypatch.setattr(sys, "stdout", Full())
    assert main(["rerank", "--query", "q", "--docs", str(docs)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: cannot write the output (No space left on device)"


def test_a_closed_pipe_ends_quietly(tmp_path):
    """``queue ... | head -1``: the reader is gone before anything is written (no race)."""
    from erank_studio.store import Store
    from erank_studio.types import Document, GenerationSettings, Judgment

    url = f"sqlite:///{tmp_path}/s.sqlite"
    with Store(url) as store:
        q = store.upsert_query("q")
        docs = [Document(f"d{i}", f"text {i}") for i in range(50)]
        run_id = store.start_run(q, docs, model="m", engine="e", instruction="i", truncate_length=64,
                                 generation=GenerationSettings(), alpha=0.2)
        writer = store.judgment_writer(run_id)
        for i, d in enumerate(docs):
            writer.add(Judgment(doc_id=d.doc_id, index=i, raw_output="<answer>5</answer>", status="ok", score=5,
                                probability=0.5, rank_score=2.5))
        writer.close()
        store.finish_run(run_id, "done")
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as out:
        done = _cli(["queue", "--run", str(run_id), "--strategy", "rank", "--db", url], out)
    assert done.returncode == EXIT_BROKEN_PIPE
    assert done.stderr == ""


def test_prompt_reads_a_document_the_same_from_the_line_and_from_a_file(tmp_path, capsys):
    """One input rule: --document and --document-file give the same prompt bytes (BOM, CRLF)."""
    path = tmp_path / "doc.txt"
    path.write_bytes("\ufeffCats purr.\r\nThey do.".encode())
    assert main(["prompt", "--query", "  why?\r\n", "--document-file", str(path)]) == 0
    from_file = capsys.readouterr().out
    assert main(["prompt", "--query", "why?", "--document", "\ufeffCats purr.\r\nThey do."]) == 0
    assert capsys.readouterr().out == from_file
    assert "Cats purr.\nThey do." in from_file and "\r" not in from_file


def test_prompt_stops_an_endless_document_file_at_the_bound(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(docfiles, "MAX_FILE_BYTES", 256 * 1024)
    fifo, writer = _endless_fifo(tmp_path)
    assert main(["prompt", "--query", "q", "--document-file", str(fifo)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "is larger than" in line and "endless.jsonl" in line
    writer.join(timeout=30)
    assert not writer.is_alive()
