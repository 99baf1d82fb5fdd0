"""
``damsync status`` (where each source stands, who runs it) and ``damsync runs`` (its passes).

Both print plain-text tables (:func:`~daemon.cli.output.text_table`, 80 columns): importing
``rich`` for a table cost ``status`` 5 % of its start-up (callgrind: ~100 M instructions).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from daemon.cli.common import config_option, known_source, load
from daemon.cli.output import age, echo_json, format_option, iso, operator_store, text_table

if TYPE_CHECKING:
    from daemon.store import RunSummary
    from daemon.store.fencing import LeaseStanding


@click.command()
@config_option
@format_option
def status(config_path: str, fmt: str) -> None:
    """Per source: cursor, data lag, last run, failures, dead letters, owner and lease."""
    settings = load(config_path, configure_logs=False)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    with operator_store(settings) as store:
        counts = store.failure_counts()
        standings = {standing.source: standing for standing in store.lease_standings()}
        for entry in settings.sources:
            checkpoint = store.load_checkpoint(entry.name)
            cursor = checkpoint.cursor if checkpoint else None
            runs = store.last_runs(entry.name, 1)
            last = runs[0] if runs else None
            mine = counts.get(entry.name)
            standing = standings.get(entry.name)
            rows.append(
                {
                    "source": entry.name,
                    "cursor": {"updated_at": iso(cursor.updated_at), "id": cursor.id}
                    if cursor
                    else None,
                    "last_run": _run_json(last) if last else None,
                    "last_success": iso(store.last_success(entry.name)),
                    "pending": mine.pending if mine else 0,
                    "dead_letters": mine.dead if mine else 0,
                    "lease": _lease_json(standing) if standing else None,
                }
            )
    if fmt == "json":
        echo_json(rows)
        return
    click.echo(
        text_table(
            ("source", "data lag", "last run", "ended", "last ok", "pending", "dead"),
            [_progress_cells(row, now) for row in rows],
        )
    )
    for row in rows:
        cursor = row["cursor"]
        where = f"{cursor['updated_at']} {cursor['id']}" if cursor else "none yet"
        click.echo(f"{row['source']}: cursor {where}")
    click.echo("")
    click.echo(
        text_table(
            ("source", "epoch", "owned for", "lease", "owner"),
            [_ownership_cells(row["source"], standings.get(row["source"])) for row in rows],
        )
    )


def _progress_cells(row: dict[str, Any], now: datetime) -> list[str]:
    """One source's row of the progress table: ages on this machine's clock."""
    last = row["last_run"]
    if last and last["finished_at"]:
        ended = age(_parse(last["finished_at"]), now) + " ago"
    else:
        ended = "running" if last else "-"
    return [
        row["source"],
        age(_parse(row["cursor"]["updated_at"]), now) if row["cursor"] else "-",
        last["status"] if last else "never",
        ended,
        age(_parse(row["last_success"]), now) + " ago" if row["last_success"] else "never",
        str(row["pending"]),
        str(row["dead_letters"]),
    ]


def _ownership_cells(source: str, standing: LeaseStanding | None) -> list[str]:
    """
    One source's row of the ownership table, on the database clock (what expiry is decided on).

    The owner comes last: the table cuts its last column to fit 80 columns, and a holder name
    is the longest cell (``--format json`` has it whole).
    """
    if standing is None:
        return [source, "-", "-", "never taken", "-"]
    now = standing.database_now
    state = standing.state
    if state == "released":
        return [
            source,
            str(standing.epoch),
            "-",
            f"released {age(standing.expires_at, now)} ago",
            "-",
        ]
    owned_for = age(standing.acquired_at, now)
    if state == "expired":
        lease = f"expired {age(standing.expires_at, now)} ago"
    else:
        lease = f"{age(now, standing.expires_at)} left"
    return [source, str(standing.epoch), owned_for, lease, standing.holder or "-"]


def _lease_json(standing: LeaseStanding) -> dict[str, Any]:
    """A source's lease for scripts: times ISO 8601 UTC, all on the database clock."""
    released = standing.state == "released"
    return {
        "state": standing.state,
        "holder": standing.holder,
        "epoch": standing.epoch,
        "since": None if released else iso(standing.acquired_at),
        "expires_at": None if released else iso(standing.expires_at),
        "released_at": iso(standing.expires_at) if released else None,
        "database_time": iso(standing.database_now),
    }


@click.command()
@config_option
@click.option("--source", "only", help="Only this source.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@format_option
def runs(config_path: str, only: str | None, limit: int, fmt: str) -> None:
    """Past passes, newest first: start, end, status, counts and the error line."""
    settings = load(config_path, configure_logs=False)
    known_source(settings, only)
    names = [only] if only else [entry.name for entry in settings.sources]
    with operator_store(settings) as store:
        found = [run for name in names for run in store.last_runs(name, limit)]
    found.sort(key=lambda run: (run.started_at, run.id), reverse=True)
    found = found[:limit]
    if fmt == "json":
        echo_json([_run_json(run) for run in found])
        return
    if not found:
        click.echo("no runs yet")
        return
    table = [
        [
            str(run.id),
            run.source,
            f"{run.started_at.astimezone(UTC):%m-%d %H:%M:%S}",
            f"{(run.finished_at - run.started_at).total_seconds():.1f}s"
            if run.finished_at
            else "running",
            run.status,
            str(run.counts.seen),
            str(run.counts.written),
            str(run.counts.failed),
        ]
        for run in found
    ]
    click.echo(
        text_table(
            ("id", "source", "started (UTC)", "took", "status", "read", "wrote", "failed"), table
        )
    )
    for run in found:
        if run.error:
            click.echo(f"run {run.id}: {run.error}")


def _run_json(run: RunSummary) -> dict[str, Any]:
    counts = run.counts
    return {
        "id": run.id,
        "source": run.source,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "status": run.status,
        "read": counts.seen,
        "written": counts.written,
        "unchanged": counts.unchanged,
        "failed": counts.failed,
        "deleted": counts.deleted,
        "error": run.error,
    }


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


__all__ = ["runs", "status"]
