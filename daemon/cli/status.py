"""
``damsync status`` (where each source stands) and ``damsync runs`` (the passes it made).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from daemon.cli.common import config_option, known_source, load
from daemon.cli.output import age, echo_json, format_option, iso, operator_store

if TYPE_CHECKING:
    from daemon.store import RunSummary


@click.command()
@config_option
@format_option
def status(config_path: str, fmt: str) -> None:
    """Per source: cursor, data lag, last run, pending failures, dead letters."""
    settings = load(config_path, configure_logs=False)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    with operator_store(settings) as store:
        counts = store.failure_counts()
        for entry in settings.sources:
            checkpoint = store.load_checkpoint(entry.name)
            cursor = checkpoint.cursor if checkpoint else None
            runs = store.last_runs(entry.name, 1)
            last = runs[0] if runs else None
            mine = counts.get(entry.name)
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
                }
            )
    if fmt == "json":
        echo_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("source", "data lag", "last run", "ended", "last ok", "pending", "dead")
    for row in rows:
        last = row["last_run"]
        table.add_row(
            row["source"],
            age(_parse(row["cursor"]["updated_at"]), now) if row["cursor"] else "-",
            last["status"] if last else "never",
            age(_parse(last["finished_at"]), now) + " ago"
            if last and last["finished_at"]
            else ("running" if last else "-"),
            age(_parse(row["last_success"]), now) + " ago" if row["last_success"] else "never",
            str(row["pending"]),
            str(row["dead_letters"]),
        )
    Console(width=80).print(table)
    for row in rows:
        cursor = row["cursor"]
        where = f"{cursor['updated_at']} {cursor['id']}" if cursor else "none yet"
        click.echo(f"{row['source']}: cursor {where}")


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
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "source", "started (UTC)", "took", "status", "read", "wrote", "failed")
    for run in found:
        took = (
            f"{(run.finished_at - run.started_at).total_seconds():.1f}s"
            if run.finished_at
            else "running"
        )
        table.add_row(
            str(run.id),
            run.source,
            f"{run.started_at.astimezone(UTC):%m-%d %H:%M:%S}",
            took,
            run.status,
            str(run.counts.seen),
            str(run.counts.written),
            str(run.counts.failed),
        )
    Console(width=80).print(table)
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
