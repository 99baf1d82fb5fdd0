"""
Operators' commands: ``status``, ``failures``, ``checkpoint`` and ``validate-config``.

They read the same configuration as the daemon and talk to the state store directly, so they
work while the daemon runs (a rewind fences the running daemon through the lease epoch).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Literal

import click
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from daemon.cli.common import config_option, load
from daemon.core.errors import SyncError
from daemon.mapping import validate_rules
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import Settings
from daemon.store import Store


def _store(settings: Settings) -> Store:
    return Services.create(settings, registry=CollectorRegistry()).store


def _age(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


@click.command()
@config_option
def status(config_path: str) -> None:
    """Per source: cursor, data lag, last run, pending failures, dead letters."""
    settings = load(config_path, configure_logs=False)
    store = _store(settings)
    try:
        store.check_at_head()
        counts = store.failure_counts()
        now = datetime.now(UTC)
        table = Table("source", "cursor", "data lag", "last run", "last success", "pending", "dead")
        for entry in settings.sources:
            checkpoint = store.load_checkpoint(entry.name)
            cursor = checkpoint.cursor if checkpoint else None
            runs = store.last_runs(entry.name, 1)
            last = runs[0] if runs else None
            run_text = f"{last.status} {_age(last.started_at, now)}" if last else "never"
            mine = counts.get(entry.name)
            table.add_row(
                entry.name,
                f"{cursor.updated_at.isoformat()} {cursor.id}" if cursor else "-",
                _age(cursor.updated_at, now) if cursor else "-",
                run_text,
                _age(store.last_success(entry.name), now),
                str(mine.pending if mine else 0),
                str(mine.dead if mine else 0),
            )
        Console().print(table)
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.dispose()


@click.group()
def failures() -> None:
    """Inspect, retry or forget the assets that could not be written."""


@failures.command("list")
@config_option
@click.option("--source", help="Only this source.")
@click.option("--dead/--pending", default=None, help="Only dead letters, or only pending.")
def failures_list(config_path: str, source: str | None, dead: bool | None) -> None:
    """List failures: id, source, DAM id, stage, attempts, state and reason."""
    settings = load(config_path, configure_logs=False)
    store = _store(settings)
    try:
        table = Table("id", "source", "dam id", "stage", "attempts", "state", "reason")
        for f in store.list_failures(source, dead):
            state = "dead" if f.dead_lettered else f"next {f.next_attempt_at:%Y-%m-%d %H:%M}"
            table.add_row(
                str(f.id), f.source, f.dam_id, f.stage, str(f.attempts), state, f.detail[:120]
            )
        Console(width=200).print(table)
    finally:
        store.dispose()


@failures.command("show")
@config_option
@click.argument("failure_id", type=int)
def failures_show(config_path: str, failure_id: int) -> None:
    """Show one failure in full."""
    settings = load(config_path, configure_logs=False)
    store = _store(settings)
    try:
        f = store.get_failure(failure_id)
        if f is None:
            raise click.ClickException(f"no failure {failure_id}")
        for key in (
            "id", "source", "dam_id", "stage", "error_type", "attempts", "permanent",
            "dead_lettered", "first_failed_at", "last_failed_at", "next_attempt_at",
            "dam_updated_at", "run_id", "detail",
        ):  # fmt: skip
            click.echo(f"{key}: {getattr(f, key)}")
    finally:
        store.dispose()


def _target(failure_id: str) -> int | Literal["all"]:
    if failure_id == "all":
        return "all"
    try:
        return int(failure_id)
    except ValueError as exc:
        raise click.BadParameter("a failure id or 'all'") from exc


def _act_on_failures(
    config_path: str, failure_id: str, source: str | None, action: str, done: str
) -> None:
    """Run ``Store.<action>`` on one failure or 'all' and print how many it touched."""
    store = _store(load(config_path, configure_logs=False))
    try:
        count = getattr(store, action)(_target(failure_id), source=source)
        click.echo(f"{count} failure(s) {done}")
    finally:
        store.dispose()


@failures.command("retry")
@config_option
@click.argument("failure_id")
@click.option("--source", help="With 'all': only this source.")
def failures_retry(config_path: str, failure_id: str, source: str | None) -> None:
    """Make a failure (or 'all') due now, dead letters included."""
    _act_on_failures(
        config_path, failure_id, source, "retry_failure", "scheduled for the next retry run"
    )


@failures.command("forget")
@config_option
@click.argument("failure_id")
@click.option("--source", help="With 'all': only this source.")
def failures_forget(config_path: str, failure_id: str, source: str | None) -> None:
    """Delete a failure (or 'all'): the asset comes back only when it changes in the DAM."""
    _act_on_failures(config_path, failure_id, source, "forget_failure", "forgotten")


@click.group()
def checkpoint() -> None:
    """Show or rewind the sources' cursors."""


@checkpoint.command("show")
@config_option
def checkpoint_show(config_path: str) -> None:
    """Print each source's cursor and last window."""
    settings = load(config_path, configure_logs=False)
    store = _store(settings)
    try:
        for entry in settings.sources:
            cp = store.load_checkpoint(entry.name)
            if cp is None or cp.cursor is None:
                click.echo(f"{entry.name}: no checkpoint (the next pass reads everything)")
                continue
            window = f", window [{cp.window.since}, {cp.window.until})" if cp.window else ""
            click.echo(
                f"{entry.name}: cursor {cp.cursor.updated_at.isoformat()} {cp.cursor.id!r}"
                f"{window}, epoch {cp.epoch}"
            )
    finally:
        store.dispose()


@checkpoint.command("rewind")
@config_option
@click.option("--source", required=True, help="The source to rewind.")
@click.option(
    "--since",
    required=True,
    help="ISO-8601 time (UTC if no offset), or 'beginning' to read everything again.",
)
def checkpoint_rewind(config_path: str, source: str, since: str) -> None:
    """Move a source's cursor back: the next pass re-reads from there (unchanged assets are
    skipped by content hash, so a rewind costs reads, not writes)."""
    settings = load(config_path, configure_logs=False)
    settings.source(source)
    when: datetime | None = None
    if since != "beginning":
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError as exc:
            raise click.BadParameter(f"not an ISO-8601 time: {since!r}") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    store = _store(settings)
    try:
        cp = store.rewind(source, when)
        click.echo(f"{source}: rewound to {cp.cursor.updated_at if cp.cursor else 'the beginning'}")
    finally:
        store.dispose()


async def _validate(settings: Settings) -> list[str]:
    services = Services.create(settings, registry=CollectorRegistry())
    app = SyncApp.build(settings, services)
    problems: list[str] = []
    try:
        try:
            channels = await app.structure.channels()
        except SyncError as exc:
            return [f"pim: cannot read the PIM: {exc}"]
        for index, entry in enumerate(settings.sources):
            runner = next(r for r in app.runners if r.name == entry.name)
            try:
                await runner.source.server_now()
            except SyncError as exc:
                problems.append(f"sources[{index}] ({entry.name}): cannot reach the DAM: {exc}")
            families = {}
            for rule in entry.mapping.families:
                try:
                    families[rule.family] = await app.structure.family(rule.family)
                except SyncError as exc:
                    problems.append(
                        f"sources[{index}].mapping: family {rule.family!r} cannot be read: {exc}"
                    )
            for problem in validate_rules(
                entry.mapping, families, list(channels), prefix=f"sources[{index}].mapping"
            ):
                problems.append(f"{problem.path}: {problem.message}")
    finally:
        await app.aclose()
        services.store.dispose()
    return problems


@click.command("validate-config")
@config_option
def validate_config(config_path: str) -> None:
    """Parse the config, reach the DAM and the PIM, check every mapping rule against the
    live family structure; print every problem with its config path."""
    settings = load(config_path, configure_logs=False)
    problems = asyncio.run(_validate(settings))
    for problem in problems:
        click.echo(problem)
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"configuration OK: {len(settings.sources)} source(s)")


__all__ = ["checkpoint", "failures", "status", "validate_config"]
