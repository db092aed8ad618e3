"""Exports never replace what they do not own (issue 19 item 5): with or without --force, a
database's side files (any store's, through symlinks too), devices, FIFOs and folders are
refused in one line, exit 2, and left byte for byte as they were."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from erank_studio.cli import main
from erank_studio.safe_output import OutputRefused, check_output_file, write_file
from erank_studio.store import Store

from .conftest import run_judging


def _live_store(path) -> str:
    """A store at ``path`` with a run and a label, held open so that its -wal and -shm exist."""
    url = f"sqlite:///{path}"
    store = Store(url)
    q, _, _, _ = run_judging(store)
    store.add_label(q, "d1", "ann", 3, rationale="kept")
    return store


def _one_line_exit_2(args, capsys) -> str:
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


@pytest.fixture
def exporting(tmp_path):
    """The store exports are read from (another one than the live store)."""
    store = _live_store(tmp_path / "base.sqlite")
    yield store.url
    store.close()


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
def test_another_stores_side_files_are_refused_even_with_force(exporting, tmp_path, suffix, capsys):
    live = _live_store(tmp_path / "live.sqlite")
    try:
        target = tmp_path / f"live.sqlite{suffix}"
        assert target.exists()
        before = target.read_bytes()
        err = _one_line_exit_2(["export", "--db", exporting, "--format", "csv", "--out", str(target), "--force"],
                               capsys)
        assert "live.sqlite" in err and "SQLite database" in err
        assert target.read_bytes() == before
        assert live.count_labels() == 1
    finally:
        live.close()


@pytest.mark.parametrize("fmt", ["qrels", "hf-dataset"])
def test_a_side_file_that_does_not_exist_yet_is_refused_too(exporting, tmp_path, fmt, capsys):
    live = _live_store(tmp_path / "live.sqlite")
    live.close()
    target = tmp_path / "live.sqlite-journal"
    _one_line_exit_2(["export", "--db", exporting, "--format", fmt, "--out", str(target)], capsys)
    assert not target.exists()


def test_the_own_stores_wal_through_a_symlinked_store_is_refused(tmp_path, capsys):
    real = tmp_path / "s5.sqlite"
    live = _live_store(real)
    try:
        link = tmp_path / "s5link.sqlite"
        link.symlink_to(real)
        wal = tmp_path / "s5.sqlite-wal"
        before = wal.read_bytes()
        err = _one_line_exit_2(["export", "--db", f"sqlite:///{link}", "--format", "csv", "--out", str(wal),
                                "--force"], capsys)
        assert "store's own file" in err
        # and a link to the WAL, given as the destination
        wal_link = tmp_path / "harmless.csv"
        wal_link.symlink_to(wal)
        _one_line_exit_2(["export", "--db", f"sqlite:///{real}", "--format", "csv", "--out", str(wal_link),
                          "--force"], capsys)
        assert wal.read_bytes() == before and wal_link.is_symlink()
    finally:
        live.close()


def test_a_fifo_is_refused_without_opening_it(exporting, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # In a subprocess with a timeout: opening a FIFO for writing blocks until a reader comes.
    proc = subprocess.run([sys.executable, "-m", "erank_studio", "export", "--db", exporting, "--format", "csv",
                           "--out", str(fifo), "--force"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "not a regular file" in proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_character_device_is_refused(exporting, tmp_path, capsys):
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as error:
        pytest.skip(f"mknod is not permitted here ({error})")
    err = _one_line_exit_2(["export", "--db", exporting, "--format", "qrels", "--out", str(device), "--force"],
                           capsys)
    assert "not a regular file" in err
    info = os.lstat(device)
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 3)


def test_a_folder_is_refused(exporting, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    err = _one_line_exit_2(["export", "--db", exporting, "--format", "csv", "--out", str(folder), "--force"],
                           capsys)
    assert "is a folder" in err
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


def test_a_destination_that_turns_into_a_database_while_writing_is_left_alone(tmp_path):
    out = tmp_path / "x.csv"

    def write(tmp):
        tmp.write_text("new")
        out.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)  # another program, meanwhile

    with pytest.raises(OutputRefused):
        write_file(out, write, overwrite=True)
    assert out.read_bytes().startswith(b"SQLite format 3\x00")
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_a_new_export_gets_ordinary_permissions_and_a_replaced_one_keeps_its_own(tmp_path):
    out = tmp_path / "x.txt"
    write_file(out, lambda tmp: tmp.write_text("a"))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    out.chmod(0o600)
    write_file(out, lambda tmp: tmp.write_text("b"), overwrite=True)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_text() == "b"
    with pytest.raises(OutputRefused, match="--force"):
        check_output_file(out)


def test_only_my_labels_without_a_name_is_refused(exporting, tmp_path, capsys):
    out = tmp_path / "mine.jsonl"
    err = _one_line_exit_2(["export", "--db", exporting, "--format", "sft-messages", "--out", str(out),
                            "--annotator", " "], capsys)
    assert "--annotator is empty" in err
    assert not out.exists()


def test_empty_rationales_are_counted_and_can_be_left_out(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    with Store(url) as store:
        q = store.upsert_query("typed query")
        from erank_studio.types import Document
        store.add_documents(q, [Document("a", "text a"), Document("b", "text b")])
        store.add_label(q, "a", "ann", 7, rationale="because")
        store.add_label(q, "b", "ann", 2)  # no run judged it, no rationale: <think></think>
    out = tmp_path / "sft.jsonl"
    capsys.readouterr()
    assert main(["export", "--db", url, "--format", "sft-messages", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote 2" in captured.out and "1 of 2 example(s) have an empty rationale" in captured.err
    assert out.read_text().count("<think></think>") == 1
    assert main(["export", "--db", url, "--format", "sft-messages", "--out", str(out), "--force",
                 "--skip-empty-rationale"]) == 0
    captured = capsys.readouterr()
    assert "wrote 1" in captured.out and "left out 1" in captured.err
    assert "<think></think>" not in out.read_text() and "<think>because</think>" in out.read_text()
