"""Which characters of an output each generated token wrote: the offsets P(N) is read by.

The parser names the characters of the answer it chose (``parse.ParsedOutput.score_span``); P(N)
is the product of the probabilities of exactly the tokens whose spans cover those characters
(``scoring.score_tokens``). Decoding each token alone does not give the spans: a character that
the tokenizer writes as several byte tokens (U+1D518 is four) decodes to a replacement character
per token, so the pieces no longer spell the output and their lengths no longer add up. So:

- ``decoded_spans``: from the token ids, by incremental detokenization (the way vLLM streams
  text): a token's span is the text it completes, and the tokens that spell one character
  byte by byte all cover that character;
- ``byte_spans``: from each token's bytes (what an OpenAI-compatible server returns);
- ``piece_spans``: from the pieces, only when they spell the output exactly.

Each returns None when its spans do not add up to the output, and then no P(N) is read (never a
guess from a second search of the text)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Span = tuple[int, int]
_INCOMPLETE = "\ufffd"  # what a decoder writes for bytes that do not yet make a character


def piece_spans(pieces: Sequence[str], text: str) -> list[Span] | None:
    spans, offset = [], 0
    for piece in pieces:
        spans.append((offset, offset + len(piece)))
        offset += len(piece)
    return spans if "".join(pieces) == text else None


def decoded_spans(tokenizer: Any, ids: Sequence[int], text: str) -> list[Span] | None:
    """The spans of ``ids`` in ``text`` (``tokenizer.decode(ids, skip_special_tokens=True)``).

    Each step decodes a short window (from the token before the last completed one, so that
    tokenizers whose spaces depend on the previous token decode as in context): linear in the
    output's length."""
    ids = list(ids)
    spans: list[Span] = []
    written = 0  # characters of the output completed so far
    prefix, read = 0, 0  # the window: ids[prefix:read] is already written
    for i in range(len(ids)):
        before = tokenizer.decode(ids[prefix:read], skip_special_tokens=True)
        now = tokenizer.decode(ids[prefix:i + 1], skip_special_tokens=True)
        if now.endswith(_INCOMPLETE) or not now.startswith(before):
            spans.append((written, written))  # part of a character: it covers nothing yet
            continue
        new = len(now) - len(before)
        # The tokens since the last completed one spell these characters together: each covers them.
        spans[read:] = [(written, written + new)] * (i + 1 - read)
        written += new
        prefix, read = read, i + 1
    if written != len(text) or len(spans) != len(ids):
        return None
    return spans


def byte_spans(token_bytes: Sequence[bytes | None], text: str) -> list[Span] | None:
    """The spans of tokens given by their bytes (UTF-8 of ``text`` cut at the tokens): a token
    covers every character one of its bytes belongs to."""
    if any(b is None for b in token_bytes):
        return None
    data = text.encode("utf-8", "surrogatepass")
    if b"".join(token_bytes) != data:  # type: ignore[arg-type]
        return None
    # char_at[k]: the character that byte k belongs to.
    char_at = []
    for index, char in enumerate(text):
        char_at += [index] * len(char.encode("utf-8", "surrogatepass"))
    spans, offset = [], 0
    for chunk in token_bytes:
        size = len(chunk)  # type: ignore[arg-type]
        spans.append((char_at[offset], char_at[offset + size - 1] + 1) if size else (len(text), len(text)))
        offset += size
    return spans
