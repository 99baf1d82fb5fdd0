"""
``damsync db ...``: apply and inspect the state store's schema migrations.

``upgrade`` is meant to run as its own deploy step (an init container, a pre-start hook); the
daemon itself only checks that the schema is at head and refuses to start otherwise.

The store (SQLAlchemy, Alembic) is imported when a command opens it, so ``--help`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from daemon.core.errors import SyncError

if TYPE_CHECKING:
    from daemon.store.state_store import Store

F = TypeVar("F", bound=Callable[..., Any])

#: ``daemon.store.DEFAULT_DATABASE_URL``, spelled out for the help text so that ``--help`` does
#: not import the store (a test keeps the two equal).
DEFAULT_URL_SHOWN = "sqlite:///damsync.db"


def _database_url(func: F) -> F:
    func = click.option(
        "--config",
        "config_path",
        envvar="DAMSYNC_CONFIG",
        type=click.Path(dir_okay=False),
        help="Take the URL from this configuration's store.url (env DAMSYNC_CONFIG).",
    )(func)
    return click.option(
        "--database-url",
        envvar="DAMSYNC_DATABASE_URL",
        default=None,
        help="SQLAlchemy URL of the state store (env DAMSYNC_DATABASE_URL); wins over "
        f"DAMSYNC_STORE__URL and --config. Default: {DEFAULT_URL_SHOWN}.",
    )(func)


def resolve_url(database_url: str | None, config_path: str | None) -> str:
    """``--database-url``, else ``DAMSYNC_STORE__URL``, else the config's ``store.url``."""
    if database_url:
        return database_url
    if os.environ.get("DAMSYNC_STORE__URL"):
        return os.environ["DAMSYNC_STORE__URL"]
    if config_path:
        # Imported here: the store sits below the settings in the dependency order.
        from daemon.settings.root import load_settings

        try:
            return load_settings(config_path, dict(os.environ)).store.url
        except SyncError as exc:
            raise click.ClickException(str(exc)) from exc
    from daemon.store.database import DEFAULT_DATABASE_URL

    return DEFAULT_DATABASE_URL


def _open(url: str | None, config_path: str | None = None) -> Store:
    from daemon.cli.startup import loading

    with loading():
        from daemon.store.state_store import Store

        url = resolve_url(url, config_path)
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
def upgrade(database_url: str | None, config_path: str | None, lock_timeout: float) -> None:
    """Apply every pending migration up to head."""
    from alembic.util.exc import CommandError

    store = _open(database_url, config_path)
    try:
        before = store.current_revision()
        after = store.upgrade(lock_timeout=lock_timeout)
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc
    except CommandError as exc:  # e.g. a damaged install whose migrations have two heads
        raise click.ClickException(f"the migrations cannot be applied: {exc}") from exc
    finally:
        store.dispose()
    now = ",".join(after) or "none"
    if before == now:
        click.echo(f"database schema already at head {now}")
    else:
        click.echo(f"database schema upgraded from {before or 'none'} to {now}")


@db.command()
@_database_url
def current(database_url: str | None, config_path: str | None) -> None:
    """Print the database's schema revision (``none`` when never migrated)."""
    store = _open(database_url, config_path)
    try:
        click.echo(store.current_revision() or "none")
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.dispose()


@db.command()
@_database_url
def check(database_url: str | None, config_path: str | None) -> None:
    """Exit 0 when the schema is at head, 1 (with the fix) when it is not."""
    from daemon.store.rows import SchemaNotAtHeadError

    store = _open(database_url, config_path)
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
