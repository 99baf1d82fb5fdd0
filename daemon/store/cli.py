"""
``damsync db ...``: apply and inspect the state store's schema migrations.

``upgrade`` is meant to run as its own deploy step (an init container, a pre-start hook); the
daemon itself only checks that the schema is at head and refuses to start otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from daemon.errors import SyncError
from daemon.store.engine import DEFAULT_DATABASE_URL
from daemon.store.records import SchemaNotAtHeadError
from daemon.store.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def _database_url(func: F) -> F:
    return click.option(
        "--database-url",
        envvar="DAMSYNC_DATABASE_URL",
        default=DEFAULT_DATABASE_URL,
        show_default=True,
        help="SQLAlchemy URL of the state store (env DAMSYNC_DATABASE_URL).",
    )(func)


def _open(url: str) -> Store:
    try:
        return Store.from_url(url)
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def db() -> None:
    """Manage the state store's schema (Alembic migrations)."""


@db.command()
@_database_url
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for another upgrade's lock (PostgreSQL).",
)
def upgrade(database_url: str, lock_timeout: float) -> None:
    """Apply every pending migration up to head."""
    store = _open(database_url)
    try:
        before = store.current_revision()
        after = store.upgrade(lock_timeout=lock_timeout)
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.dispose()
    now = ",".join(after) or "none"
    if before == now:
        click.echo(f"database schema already at head {now}")
    else:
        click.echo(f"database schema upgraded from {before or 'none'} to {now}")


@db.command()
@_database_url
def current(database_url: str) -> None:
    """Print the database's schema revision (``none`` when never migrated)."""
    store = _open(database_url)
    try:
        click.echo(store.current_revision() or "none")
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.dispose()


@db.command()
@_database_url
def check(database_url: str) -> None:
    """Exit 0 when the schema is at head, 1 (with the fix) when it is not."""
    store = _open(database_url)
    try:
        store.check_at_head()
        click.echo(f"database schema at head {store.current_revision()}")
    except SchemaNotAtHeadError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from exc
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.dispose()


__all__ = ["db"]
