"""What text the studio can keep, for every reader and the store alike: no NUL character
(PostgreSQL's text cannot hold it) and no lone surrogate (U+D800..U+DFFF: what a JSON escape such
as "\\ud800" or an undecodable command-line byte becomes in Python; it is not Unicode text, and
no encoding, tokenizer or store can take it). Dependency-free, so readers can check early."""
from __future__ import annotations

import re

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def problem(text: str) -> str | None:
    """Why ``text`` cannot be kept (a phrase to follow the field's name), or None."""
    if "\x00" in text:
        return "may not contain the NUL character (U+0000)"
    surrogate = LONE_SURROGATE.search(text)
    if surrogate:
        return (f"holds a lone surrogate (U+{ord(surrogate.group()):04X} at character {surrogate.start() + 1}), "
                "which is not Unicode text")
    return None
