"""
Alembic environment for the damsync state store.

Programmatic runs (``damsync db upgrade``, tests) pass an open connection in
``config.attributes["connection"]``; the ``alembic`` command line (developers writing a new
revision) reads the URL from ``DAMSYNC_DATABASE_URL`` or ``sqlalchemy.url`` in ``alembic.ini``.
``render_as_batch=True`` makes autogenerate write batch blocks, so every revision also runs on
SQLite, and SQLite DDL runs inside one transaction (our engine emits ``BEGIN`` itself).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from daemon.store.database import make_engine
from daemon.store.tables import UtcDateTime, metadata

config = context.config
target_metadata = metadata


def _render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our UtcDateTime as a plain aware DateTime so revisions never import daemon code."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
        # Our SQLite engine emits BEGIN itself, so DDL there is transactional too.
        transactional_ddl=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade --sql``) instead of running it."""
    url = os.environ.get("DAMSYNC_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        render_as_batch=True,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the given connection, or one opened from the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("DAMSYNC_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set DAMSYNC_DATABASE_URL or sqlalchemy.url in alembic.ini")
    engine = make_engine(url, foreign_keys=False)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
