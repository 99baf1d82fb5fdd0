"""
How the operator commands print and fail: tables for people, JSON for scripts, ISO 8601 UTC
times, and one clear line (never a traceback) for any store problem.

Exit codes of the operator commands: 0 done, 1 the store or an upstream failed (one line on
stderr says which and why), 2 the command line or the configuration is invalid.

This module is imported by every operator command, ``--help`` included, so it imports nothing
heavy at module level: the store (SQLAlchemy) and the log redaction are imported where they are
used, the store's inside :func:`daemon.cli.startup.loading` (bench/startup.py times the commands).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from daemon.core.errors import SyncError

if TYPE_CHECKING:
    from daemon.settings import Settings
    from daemon.store import Store

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


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, width: int = 80) -> str:
    """
    Rows as aligned plain-text columns under a header and a rule, at most ``width`` wide.

    Columns whose cells are all numbers are right-aligned; when the table is too wide, the last
    column is cut with an ellipsis (it is the free-text one: a reason, an error).

    Args:
        headers: One title per column.
        rows: The cells, already strings.
        width: The widest line allowed.

    Returns:
        The table, lines joined by newlines, without a trailing newline.
    """
    sizes = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    gap = 2
    room = width - sum(sizes[:-1]) - gap * (len(sizes) - 1)
    sizes[-1] = max(min(sizes[-1], room), len(headers[-1]))
    numeric = [bool(rows) and all(str(row[i]).isdigit() for row in rows) for i in range(len(sizes))]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            text = cell if len(cell) <= sizes[i] else cell[: sizes[i] - 1] + "…"
            out.append(text.rjust(sizes[i]) if numeric[i] else text.ljust(sizes[i]))
        return (" " * gap).join(out).rstrip()

    rule = (" " * gap).join("-" * size for size in sizes)
    return "\n".join([line(headers), rule, *(line([str(c) for c in row]) for row in rows)])


def one_line(exc: BaseException) -> str:
    """The first line of an error, with its kind, secrets masked: what an operator reads."""
    # Imported here: only an error to print needs it.
    from daemon.telemetry.logs import redact_text

    raw = redact_text(str(exc)).strip()
    text = raw.splitlines()[0] if raw else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def operator_store(settings: Settings, *, at_head: bool = True) -> Iterator[Store]:
    """
    The state store for one operator command, checked at head; closed on exit.

    Store, driver and schema errors become one ``click.ClickException`` line (exit 1) naming
    the database (without its password) and the cause. The store keeps its default failure
    backoff: operator commands never record a failure (a command that runs passes builds its
    store through ``service.wiring``), and the configured one is built in
    ``service/part_options.py``, whose import pulls the whole engine into the start-up.
    """
    from daemon.cli.startup import loading

    with loading():
        from sqlalchemy.exc import SQLAlchemyError

        from daemon.store import Store

    store: Store | None = None
    try:
        with loading():
            store = Store.from_url(settings.store.url)
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
    from sqlalchemy.exc import SQLAlchemyError

    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return "(unparsable URL)"


__all__ = [
    "age",
    "echo_json",
    "format_option",
    "iso",
    "one_line",
    "operator_store",
    "text_table",
]
