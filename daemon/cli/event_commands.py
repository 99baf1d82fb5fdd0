"""
``damsync events``: the event inbox per source, its dead rows, and giving them another chance.

``list`` shows each source's depth (rows waiting, the oldest one's age, dead rows) and, with
``--dead``, the dead rows newest first with their last error; ``retry`` puts dead rows back to
pending, due at once with their attempts reset: the running daemon's consumer claims them at
its next poll. Exit codes: 0 done, 1 the store failed or some ids were not dead (retry), 2 usage.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import click

from daemon.cli.common import config_option, known_source, load
from daemon.cli.output import age, echo_json, format_option, iso, operator_store, text_table

if TYPE_CHECKING:
    from daemon.core.events import InboxDepth
    from daemon.store import DeadEvent

#: Widest line of the dead rows' table (its last column, the error, is cut to fit).
DEAD_WIDTH = 120


@click.group()
def events() -> None:
    """Show the event inbox per source, its dead events, and retry them."""


@events.command("list")
@config_option
@click.option("--source", help="Only this source.")
@click.option("--dead", is_flag=True, help="Also list the dead events, newest first.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@format_option
def events_list(config_path: str, source: str | None, dead: bool, limit: int, fmt: str) -> None:
    """Per source: events waiting, the oldest one's age, dead ones; --dead lists those."""
    settings = load(config_path, configure_logs=False)
    known_source(settings, source)
    with operator_store(settings) as store:
        depth = store.inbox_depth()
        rows = store.dead_event_rows(source, limit + 1) if dead else []
    if source is not None:
        depth = {name: d for name, d in depth.items() if name == source}
    shown = rows[:limit]
    now = datetime.now(UTC)
    if fmt == "json":
        out: dict[str, Any] = {"sources": [_depth_json(n, d, now) for n, d in depth.items()]}
        if dead:
            out["dead_events"] = [_dead_json(r) for r in shown]
        echo_json(out)
        return
    of = f" of source {source}" if source else ""
    if not depth:
        click.echo(f"the event inbox is empty{of}")
        return
    table = [
        [name, str(d.pending), age(d.oldest, now) if d.oldest else "-", str(d.dead)]
        for name, d in depth.items()
    ]
    click.echo(text_table(["source", "waiting", "oldest", "dead"], table))
    if not dead:
        if any(d.dead for d in depth.values()):
            click.echo("dead events: damsync events list --dead; retry: damsync events retry")
        return
    click.echo("")
    if not shown:
        click.echo(f"no dead events{of}")
        return
    click.echo(text_table(_DEAD_HEADERS, [_dead_cells(r) for r in shown], width=DEAD_WIDTH))
    if len(rows) > len(shown):
        click.echo("more dead events; use --limit, --source or --format json")
    click.echo("full error: --format json; retry: damsync events retry (ID... | --all)")


@events.command("retry")
@config_option
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_", is_flag=True, help="Every dead event (of --source, if given).")
@click.option("--source", help="Only this source's dead events.")
def events_retry(config_path: str, ids: tuple[int, ...], all_: bool, source: str | None) -> None:
    """Put dead events back to pending, due now, attempts reset (exit 1 if some were not dead)."""
    if bool(ids) == all_:
        raise click.UsageError("give the ids of dead events to retry, or --all")
    settings = load(config_path, configure_logs=False)
    known_source(settings, source)
    target: list[int] | Literal["all"] = "all" if all_ else list(ids)
    with operator_store(settings) as store:
        retried = store.retry_dead_events(target, source=source)
    click.echo(f"{retried} dead event(s) back to pending; the daemon retries them at its next poll")
    missed = len(set(ids)) - retried
    if missed > 0:
        of = f" of source {source}" if source else ""
        click.echo(f"{missed} id(s) not retried: no dead event{of} with that id", err=True)
        sys.exit(1)


_DEAD_HEADERS = (
    "id",
    "source",
    "event id",
    "asset id",
    "kind",
    "origin",
    "received",
    "tries",
    "last error",
)


def _dead_cells(r: DeadEvent) -> list[str]:
    return [
        str(r.id),
        r.source,
        _short(r.event_id, 24),
        _short(r.dam_id, 24),
        r.kind,
        r.origin,
        iso(r.received_at) or "-",
        str(r.attempts),
        _short(r.last_error or "-", DEAD_WIDTH),
    ]


def _depth_json(source: str, d: InboxDepth, now: datetime) -> dict[str, Any]:
    oldest_age = None if d.oldest is None else round((now - d.oldest).total_seconds(), 1)
    return {
        "source": source,
        "pending": d.pending,
        "oldest_pending_at": iso(d.oldest),
        "oldest_pending_age_seconds": oldest_age,
        "dead": d.dead,
    }


def _dead_json(r: DeadEvent) -> dict[str, Any]:
    return {
        "id": r.id,
        "source": r.source,
        "event_id": r.event_id,
        "dam_id": r.dam_id,
        "kind": r.kind,
        "origin": r.origin,
        "received_at": iso(r.received_at),
        "attempts": r.attempts,
        "died_at": iso(r.died_at),
        "last_error": r.last_error,
    }


def _short(text: str, width: int) -> str:
    """The first line of ``text``, cut to ``width`` characters with an ellipsis."""
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"


__all__ = ["events"]
