"""
How the operator commands print and fail: tables for people, JSON for scripts, ISO 8601 UTC
times, and one clear line (never a traceback) for any store problem.

Exit codes of the operator commands: 0 done, 1 the store or an upstream failed (one line on
stderr says which and why), 2 the command line or the configuration is invalid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from daemon.core.errors import SyncError
from daemon.service.part_options import backoff_policy
from daemon.settings import Settings
from daemon.store import Store
from daemon.telemetry.logs import redact_text

F = TypeVar("F", bound=Callable[..., Any])


def format_option(func: F) -> F:
    """``--format table|json``: JSON is stable for scripts; tables fit 80 columns."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="table for people, json for scripts.",
    )(func)


def iso(when: datetime | None) -> str | None:
    """A time as ISO 8601 UTC to the second (``2026-12-07T09:23:34Z``), or ``None``."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def age(when: datetime | None, now: datetime) -> str:
    """How long ago, for people: ``42s``, ``5m``, ``3.2h``, ``2.0d``, or ``never``."""
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def echo_json(value: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> None:
    """Print ``value`` as indented JSON (times already ISO strings)."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def one_line(exc: BaseException) -> str:
    """The first line of an error, with its kind, secrets masked: what an operator reads."""
    raw = redact_text(str(exc)).strip()
    text = raw.splitlines()[0] if raw else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def operator_store(settings: Settings, *, at_head: bool = True) -> Iterator[Store]:
    """
    The state store for one operator command, checked at head; closed on exit.

    Store, driver and schema errors become one ``click.ClickException`` line (exit 1) naming
    the database (without its password) and the cause.
    """
    store: Store | None = None
    try:
        store = Store.from_url(settings.store.url, backoff=backoff_policy(settings.failures))
        if at_head:
            store.check_at_head()
        yield store
    except (SyncError, SQLAlchemyError) as exc:
        raise click.ClickException(
            f"state store {_safe_url(settings.store.url)}: {one_line(exc)}"
        ) from None
    finally:
        if store is not None:
            store.dispose()


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return "(unparsable URL)"


__all__ = ["age", "echo_json", "format_option", "iso", "one_line", "operator_store"]
