"""The one set of rules for what the store accepts, used by the Store API (and so the UI and the
web API, which go through it) and by every importer. Each check returns the cleaned value or
raises ``ValidationError`` with one sentence naming the field and what is allowed; importers
prefix it with file and line.

Why these rules:
- ids (document, benchmark query) may not be empty or hold whitespace: TREC qrels and run files,
  the exports every evaluation reads, cannot hold such an id;
- a rationale or note may not hold ``<think>``, ``</think>``, ``<answer>`` or ``</answer>``
  (any case, as the parser reads them): the SFT target is ``<think>{rationale}</think>
  <answer>{N}</answer>``, and a second tag inside would make the training example parse to
  another score than the person's;
- no text may hold the NUL character and no integer may pass 2**31 - 1: PostgreSQL's text and
  INTEGER cannot hold them, and both stores accept the same things;
- no text may hold a lone surrogate (U+D800..U+DFFF, what a JSON escape such as "\\ud800" decodes
  to): it is not Unicode text, and neither store can encode it."""
from __future__ import annotations

import math
import re
from typing import Any

from .. import text_rules
from ..errors import ValidationError
from ..types import STATUS_FAILED, STATUS_FORCED, STATUS_OK

SCORE_MIN, SCORE_MAX = 0, 10
RUN_STATUSES = ("running", "done", "cancelled", "failed", "interrupted")
FINISHED_STATUSES = RUN_STATUSES[1:]
JUDGMENT_STATUSES = (STATUS_OK, STATUS_FORCED, STATUS_FAILED)
LABEL_ACTIONS = ("set", "undo", "adjudicate")
ADJUDICATE = "adjudicate"  # a label row that is an adjudicator's final label, not their own label
ROLES = ("adjudicator",)
MAX_NAME_CHARS = 200
# A rationale or note: long enough for a careful paragraph-by-paragraph reasoning, short enough
# that one field cannot grow the store (and every export of it) by megabytes.
MAX_FREE_TEXT_CHARS = 20_000
MAX_ID_CHARS = 500
MAX_INT = 2**31 - 1  # PostgreSQL's INTEGER; SQLite's would hold more
RESERVED_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_RESERVED = re.compile("|".join(re.escape(t) for t in RESERVED_TAGS), re.IGNORECASE)


def label_score(value: Any, field: str = "score") -> int | None:
    """A human score: None (no score) or an integer 0..10. Never rounded: 5.5, True and "5" are
    refused; an integral float (7.0, what a number box sends) is the integer it spells."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not SCORE_MIN <= value <= SCORE_MAX:
        raise ValidationError(field, f"{field} must be an integer from {SCORE_MIN} to {SCORE_MAX}, got {value!r}")
    return int(value)


def model_score(value: Any, field: str = "score") -> int | None:
    """A judgment's parsed score: None (a failure) or an integer 0..10."""
    return label_score(value, field)


def storable(value: str, field: str) -> str:
    """Text both stores can hold (``text_rules``: no NUL, no lone surrogate)."""
    why = text_rules.problem(value)
    if why:
        raise ValidationError(field, f"{field} {why}")
    return value


def annotator(value: Any, field: str = "annotator") -> str:
    """A person's name: one line of printable text (no tab, newline or control such as a
    right-to-left override, which would make one name look like another), non-empty after
    trimming, at most 200 characters. Names are compared without case (``annotators``)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, f"{field} must be a non-empty name")
    name = storable(value.strip(), field)
    if len(name) > MAX_NAME_CHARS:
        raise ValidationError(field, f"{field} is longer than {MAX_NAME_CHARS} characters")
    hidden = next((c for c in name if not c.isprintable()), None)
    if hidden is not None:
        raise ValidationError(field, f"{field} must be one line of printable text "
                              f"(it holds U+{ord(hidden):04X})")
    return name


def identifier(value: Any, field: str = "doc_id") -> str:
    """A document or benchmark query id: a non-empty string without whitespace (numbers are
    accepted and written as strings)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise ValidationError(field, f"{field} must be a non-empty string, got {value!r}")
    if any(c.isspace() for c in value):
        raise ValidationError(field, f"{field} {value!r} contains whitespace (TREC files cannot hold it)")
    if len(value) > MAX_ID_CHARS:
        raise ValidationError(field, f"{field} is longer than {MAX_ID_CHARS} characters")
    return storable(value, field)


def free_text(value: Any, field: str) -> str | None:
    """A rationale or note: None or a string without ERank's reserved tags."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"{field} must be text, got {type(value).__name__}")
    if len(value) > MAX_FREE_TEXT_CHARS:
        raise ValidationError(field, f"{field} is longer than {MAX_FREE_TEXT_CHARS:,} characters "
                              f"({len(value):,})")
    found = _RESERVED.search(value)
    if found:
        raise ValidationError(
            field, f"{field} may not contain {found.group(0)!r}: the tags <think>, </think>, "
            "<answer> and </answer> would change the score of the training example",
        )
    return storable(value, field)


def has_reserved_tag(text: str | None) -> bool:
    return bool(text) and _RESERVED.search(text) is not None


def alpha(value: Any, field: str = "alpha") -> float:
    """The hybrid weight of the first stage: a number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValidationError(field, f"{field} must be a number from 0 to 1, got {value!r}")
    return float(value)


def finite_number(value: Any, field: str) -> float | None:
    """An optional score (first stage, probability, rank or hybrid score): None or finite."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(field, f"{field} must be a finite number, got {value!r}")
    return float(value)


def positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INT:
        raise ValidationError(field, f"{field} must be a positive integer up to {MAX_INT}, got {value!r}")
    return value


def non_negative_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise ValidationError(field, f"{field} must be a non-negative integer up to {MAX_INT}, got {value!r}")
    return value


def relevance(value: Any, field: str = "relevance") -> int:
    """A benchmark's graded relevance: any integer a store can hold (negative ones exist)."""
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_INT <= value <= MAX_INT:
        raise ValidationError(field, f"{field} must be an integer from {-MAX_INT} to {MAX_INT}, got {value!r}")
    return value


def choice(value: Any, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise ValidationError(field, f"{field} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def run_status(value: Any, field: str = "status") -> str:
    return choice(value, RUN_STATUSES, field)


def finished_status(value: Any, field: str = "status") -> str:
    return choice(value, FINISHED_STATUSES, field)


def judgment_status(value: Any, field: str = "status") -> str:
    return choice(value, JUDGMENT_STATUSES, field)


def label_action(value: Any, field: str = "action") -> str:
    return choice(value, LABEL_ACTIONS, field)


def text(value: Any, field: str) -> str:
    """A query or document text: a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, f"{field} must be non-empty text")
    return storable(value, field)


def document(doc_id: Any, text: Any, title: Any) -> None:
    """A candidate document as the store keeps it: a valid id, storable text and title (an
    empty text is allowed: benchmark corpora hold some)."""
    identifier(doc_id, "document id")
    if isinstance(text, str):
        storable(text, "document text")
    if isinstance(title, str):
        storable(title, "document title")


def label(score: Any, rationale: Any, note: Any, annotator_name: Any) -> tuple[int | None, str | None, str | None, str]:
    """A whole label as a person gives it: (score, rationale, note, annotator), cleaned."""
    cleaned = (label_score(score, "a label score"), free_text(rationale, "rationale"), free_text(note, "note"),
               annotator(annotator_name))
    if cleaned[0] is None and not (cleaned[1] or cleaned[2]):
        raise ValidationError("score", "a label without a score needs a note or a rationale")
    return cleaned


def score_distribution(value: Any, field: str = "score_distribution") -> list[float] | None:
    """A judgment's P(0..10): None or 11 finite non-negative numbers summing to 1 (within 1e-4)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != SCORE_MAX - SCORE_MIN + 1:
        raise ValidationError(field, f"{field} must be a list of {SCORE_MAX - SCORE_MIN + 1} probabilities (P(0)..P(10))")
    cleaned = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item) or item < 0:
            raise ValidationError(field, f"{field} holds {item!r}; each value must be a finite probability >= 0")
        cleaned.append(float(item))
    if abs(sum(cleaned) - 1.0) > 1e-4:
        raise ValidationError(field, f"{field} sums to {sum(cleaned):.6f}, not 1")
    return cleaned
