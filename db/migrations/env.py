"""Alembic environment for the ERank Studio store.

The store runs ``upgrade head`` itself when it opens a database (erank_studio.store.migrate),
handing its own connection over in ``config.attributes["connection"]``; the alembic command line
works too: ``alembic -c db/alembic.ini upgrade head`` (URL from ERANK_DB_URL or the ini file)."""
from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from erank_studio.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("ERANK_DB_URL") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=os.environ.get("ERANK_DB_URL") or config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
