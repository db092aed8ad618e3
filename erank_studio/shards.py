"""Shards of a benchmark: ``--shard K/N`` gives a process a deterministic 1/N of the queries, so N
processes (on N machines, one PostgreSQL store) judge every query exactly once between them.

A query's shard is a stable hash of the benchmark's own query id (SHA-1, not Python's salted
``hash`` and not the query's position), so it never depends on the order the loader returns,
on ``--queries`` or on which other shards run; a killed shard started again picks the same
queries and the batch skips what the store already holds."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")

Q = TypeVar("Q")


class ShardError(ValueError):
    """A --shard value that is not K/N with 1 <= K <= N; the message says so in one line."""


@dataclass(frozen=True)
class Shard:
    index: int  # K, from 1
    count: int  # N

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.match(text or "")
        if not match:
            raise ShardError(f"--shard must be K/N with whole numbers, e.g. 1/4 (got {text!r})")
        index, count = int(match.group(1)), int(match.group(2))
        if not 1 <= index <= count:
            raise ShardError(f"--shard {index}/{count}: K must lie between 1 and N")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def slug(self) -> str:
        """For file and folder names: ``shard-K-of-N``."""
        return f"shard-{self.index}-of-{self.count}"

    def holds(self, query_id: str) -> bool:
        return shard_of(query_id, self.count) == self.index

    def select(self, queries: Sequence[Q]) -> list[Q]:
        """This shard's queries (objects with a ``query_id``), in their order."""
        return [q for q in queries if self.holds(q.query_id)]  # type: ignore[attr-defined]


def shard_of(query_id: str, count: int) -> int:
    """The shard (1..count) of a benchmark query id."""
    digest = hashlib.sha1(str(query_id).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1
