"""How the app names its store on a page or in a log line: never a password, never a server path.
Its own module so that the page (app.py) and the process that serves it (server.py) share it
without importing each other."""
from __future__ import annotations

import os


def safe_url(url: str | None) -> str:
    """A store URL fit to show: any password replaced by ***."""
    if not url:
        return ""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: keep only what follows the credentials
        return url.rsplit("@", 1)[-1] if "@" in url else url


def store_label(url: str | None) -> str:
    """How the page names the store: a SQLite file by its name (no server path on a public page),
    any other database by its URL without the password."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url or "")
        if parsed.get_backend_name() == "sqlite":
            return os.path.basename(parsed.database or "") or "in memory"
    except Exception:
        pass
    return safe_url(url)
