"""Peak memory and time of judging one huge document end to end (issue: memory bounded by the
budget, not the input).

    python bench/bench_huge_document.py [--mb 50] [--max-new-tokens 16]

One query, one document of ``--mb`` MB (UTF-8; it holds CJK and an emoji, so Python stores it at
4 bytes a character, the worst case) and four normal documents, none with a first-stage score,
so BM25 runs over the whole list. The tiny random-weight Qwen3 (erank_studio/tiny_model.py, real
tokenizer) judges them on the CPU through two entry points, each in a process of its own:

- ``api``: ``Reranker.rerank`` on the documents built in memory;
- ``cli``: ``python -m erank_studio rerank --docs FILE.jsonl --save --db sqlite:///...`` (stdout
  kept in a file, whose size is printed: a huge document is not echoed back whole).

Each path runs once with the normal documents only and once with the huge one added, and the
figures are each process's peak resident memory (``ru_maxrss`` of that child, from ``os.wait4``,
in MB of 2**20 bytes:
torch, the tokenizer, the model and the document itself included) and wall time. Target: peak
under 1 GB (1024 MB of 2**20 bytes) with the 50 MB document.

Measured here (2 CPU cores shared with other work, so the times are loose),
``python bench/bench_huge_document.py``:

    api  normal documents only    peak    541 MB   process  52.1 s (rerank 9.8 s)
    cli  normal documents only    peak    573 MB   process  60.8 s (stdout 3 kB)
    api  + 50 MB document         peak    866 MB   process  76.6 s (rerank 18.8 s)
    cli  + 50 MB document         peak    992 MB   process  71.0 s (stdout 15 kB)
    worst peak with the 50 MB document: 992 MB (under the 1024 MB target)

Where the 50 MB document's share goes (stages measured one by one): the text itself (171 MB as a
Python string, 4 bytes a character), BM25 about +80 MB while it runs, and with ``--save`` about
+50 MB that stays (sqlite3 keeps the UTF-8 form of a string it binds) plus SQLite's copy while
the row is written. The rest of the growth is the 2,048-token prompt's prefill (eager attention
of the tiny model), bounded by truncate_length, not by the document. Reading the file peaks at
about 560 MB over the bare interpreter, before the model loads.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUERY = "Why do cats purr, and is it always a sign of contentment?"
UNIT = "Purring is produced by the laryngeal muscles of cats, 東京 🐈. "
NORMAL = [
    "Cats purr when content, but also when stressed or injured, as a way to soothe themselves.",
    "The stock market fell sharply on Tuesday after the central bank raised interest rates.",
    "Laryngeal muscles open and close the glottis about 25 times a second while a cat purrs.",
    "Rain is expected across the region tomorrow, with heavy showers in the afternoon.",
]
TARGET_MB = 1024


def documents(huge_mb: float) -> list[dict]:
    docs = [{"id": f"n{i}", "content": text} for i, text in enumerate(NORMAL)]
    if huge_mb > 0:
        docs.insert(0, {"id": "huge", "content": UNIT * int(huge_mb * 1_000_000 / len(UNIT.encode("utf-8")))})
    return docs


def api_child(model: str, huge_mb: float, max_new_tokens: int) -> int:
    """The ``api`` path, in this (child) process: prints one JSON line of figures."""
    from erank_studio import Reranker
    from erank_studio.types import GenerationSettings

    reranker = Reranker(model, engine="transformers", device="cpu", dtype="float32", fallback=False)
    docs = documents(huge_mb)
    started = time.perf_counter()
    results = reranker.rerank(QUERY, docs, settings=GenerationSettings(max_new_tokens=max_new_tokens))
    seconds = time.perf_counter() - started
    assert len(results) == len(docs) and all("bm25_score" in r for r in results)
    print(json.dumps({"rerank_s": seconds}))
    return 0


def measure(command: list[str], stdout_path: Path) -> tuple[float, float, int]:
    """(peak MB, seconds, exit status) of ``command`` run as a child with stdout to a file."""
    started = time.perf_counter()
    with stdout_path.open("wb") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr = child.stderr.read().decode("utf-8", "replace")
        child.stderr.close()
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} ... failed ({child.returncode}):\n{stderr[-2000:]}")
    return usage.ru_maxrss / 1024, seconds, child.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50.0, help="size of the huge document in MB")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--api-child", nargs=2, metavar=("MODEL", "MB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.api_child:
        return api_child(args.api_child[0], float(args.api_child[1]), args.max_new_tokens)

    from erank_studio.tiny_model import build_tiny_qwen3

    model = str(build_tiny_qwen3(Path(tempfile.gettempdir()) / "erank-bench-tiny-qwen3"))
    print(f"query + {len(NORMAL)} normal documents, no first-stage scores (BM25 runs); tiny Qwen3, CPU, "
          f"{args.max_new_tokens} new tokens; peak = the child's ru_maxrss")
    worst = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for huge_mb in (0.0, args.mb):
            label = f"+ {huge_mb:g} MB document" if huge_mb else "normal documents only"
            api = [sys.executable, __file__, "--api-child", model, str(huge_mb), "--max-new-tokens", str(args.max_new_tokens)]
            peak, seconds, _ = measure(api, folder / "api.out")
            rerank_s = json.loads((folder / "api.out").read_text())["rerank_s"]
            print(f"api  {label:24} peak {peak:6.0f} MB   process {seconds:5.1f} s (rerank {rerank_s:.1f} s)")
            worst = max(worst, peak) if huge_mb else worst

            docs_file = folder / f"docs-{huge_mb:g}.jsonl"
            with docs_file.open("w", encoding="utf-8") as handle:
                for doc in documents(huge_mb):
                    handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
            cli = [sys.executable, "-m", "erank_studio", "rerank", "--query", QUERY, "--docs", str(docs_file),
                   "--save", "--db", f"sqlite:///{folder / 'store.sqlite'}", "--model", model,
                   "--engine", "transformers", "--max-new-tokens", str(args.max_new_tokens)]
            peak, seconds, _ = measure(cli, folder / "cli.out")
            echoed = (folder / "cli.out").stat().st_size
            print(f"cli  {label:24} peak {peak:6.0f} MB   process {seconds:5.1f} s (stdout {echoed / 1e3:.0f} kB)")
            worst = max(worst, peak) if huge_mb else worst
            docs_file.unlink()
    print(f"worst peak with the {args.mb:g} MB document: {worst:.0f} MB "
          f"({'under' if worst < TARGET_MB else 'OVER'} the {TARGET_MB} MB target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
