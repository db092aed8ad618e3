"""Campaign guidelines: markdown, versioned (editing adds version n + 1; a label records the
version its person read). The default rubric is built from ERank's own prompt: the instruction
(relevance definition) and the paper's score definitions (0 = completely not related, 10 =
perfectly related), with the bands the studio grades labels by (grading.RULE), so people score on
the scale the model was asked to use."""
from __future__ import annotations

from sqlalchemy import Connection, func, select

from ... import prompt
from .tables import G, utcnow

DEFAULT_HEADING = "Guidelines"


def default_rubric(instruction: str | None = None) -> str:
    """The 0..10 rubric for a campaign whose items were judged under ``instruction``."""
    definition = (instruction or prompt.DEFAULT_INSTRUCTION).strip()
    return f"""## {DEFAULT_HEADING}

Give a relevance score of 0 to 10 to the document for the query.

**Relevance definition:** {definition}

- **0** represents completely not related
- **1-2**: not relevant (shares words or a topic, but does not help)
- **3-5**: somewhat relevant (partly helps, or helps only with effort)
- **6-8**: relevant (clearly helps answer the query)
- **9-10**: highly relevant; **10** means perfectly related

Judge the text shown, not what the source may contain elsewhere. Use the note for doubts.
"""


def add_version(conn: Connection, campaign_id: int, text: str) -> int:
    """Store ``text`` as the campaign's next guideline version; returns that version."""
    current = conn.execute(select(func.max(G.c.version)).where(G.c.campaign_id == campaign_id)).scalar()
    version = int(current or 0) + 1
    conn.execute(G.insert().values(campaign_id=campaign_id, version=version, text=text, created_at=utcnow()))
    return version


def current(conn: Connection, campaign_id: int) -> tuple[int, str]:
    """(version, markdown) of the campaign's newest guidelines."""
    row = conn.execute(select(G.c.version, G.c.text).where(G.c.campaign_id == campaign_id)
                       .order_by(G.c.version.desc()).limit(1)).first()
    return (int(row.version), row.text) if row else (0, "")
