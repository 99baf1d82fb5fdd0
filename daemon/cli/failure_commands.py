"""
``damsync failures``: inspect, retry or forget the assets that could not be written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import click

from daemon.cli.common import config_option, known_source, load
from daemon.cli.output import echo_json, format_option, iso, operator_store, text_table

if TYPE_CHECKING:
    from daemon.store import AssetState, Failure
    from daemon.store.rows import FailureAttempt


@click.group()
def failures() -> None:
    """Inspect, retry or forget the assets that could not be written."""


@failures.command("list")
@config_option
@click.option("--source", help="Only this source.")
@click.option("--dead/--pending", default=None, help="Only dead letters, or only pending.")
@click.option("--stage", help="Only this stage (source, mapping, options, media, pim, delete).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@format_option
def failures_list(
    config_path: str,
    source: str | None,
    dead: bool | None,
    stage: str | None,
    limit: int,
    fmt: str,
) -> None:
    """List failures: id, source, DAM id, stage, attempts, state and reason."""
    settings = load(config_path, configure_logs=False)
    known_source(settings, source)
    with operator_store(settings) as store:
        found = [f for f in store.list_failures(source, dead) if stage in (None, f.stage)]
    shown = found[:limit]
    if fmt == "json":
        echo_json([_failure_json(f) for f in shown])
        return
    if not found:
        click.echo("no failures" + (f" of source {source}" if source else ""))
        return
    table = [
        [
            str(f.id),
            f.source,
            f.dam_id,
            f.stage,
            str(f.attempts),
            "dead" if f.dead_lettered else f"due {iso(f.next_attempt_at)}",
            _short(f.detail),
        ]
        for f in shown
    ]
    # 160 wide, as before: the reason is the point of the listing (``show`` has it in full).
    headers = ("id", "source", "dam id", "stage", "tries", "state", "reason")
    click.echo(text_table(headers, table, width=160))
    if len(found) > len(shown):
        click.echo(f"{len(found) - len(shown)} more; use --limit, filters or --format json")
    click.echo("full reason: damsync failures show ID")


@failures.command("show")
@config_option
@click.argument("failure_id", type=int)
@format_option
def failures_show(config_path: str, failure_id: int, fmt: str) -> None:
    """Show one failure in full, its trail of attempts, and when its asset was last written."""
    settings = load(config_path, configure_logs=False)
    with operator_store(settings) as store:
        failure = store.get_failure(failure_id)
        if failure is None:
            raise click.ClickException(f"no failure {failure_id}")
        trail = store.failure_trail(failure.source, failure.dam_id)
        state = store.asset_states(failure.source, [failure.dam_id]).get(failure.dam_id)
    # Imported here, once the store is: importing it first (before operator_store's loading()
    # window, which pauses the collector) made six collections over SQLAlchemy's import, +1.5 %.
    from daemon.store.rows import ATTEMPTS_KEPT

    shown = _failure_json(failure)
    shown["pim_asset"] = f"{state.family}/{state.code}" if state else None
    shown["trail"] = [_attempt_json(a) for a in trail]
    written = _last_written(state)
    shown["last_written_at"] = iso(written.last_synced_at) if written else None
    shown["last_written_dam_version"] = iso(written.dam_updated_at) if written else None
    shown["deleted_in_pim_at"] = iso(state.last_synced_at) if state and state.deleted else None
    if fmt == "json":
        echo_json(shown)
        return
    for key, value in shown.items():
        if key not in _SHOWN_BELOW:
            click.echo(f"{key}: {'-' if value is None else value}")
    click.echo(f"trail ({len(trail)} attempt(s); the last {ATTEMPTS_KEPT} are kept):")
    for a in trail:
        head = f"  #{a.attempt} {iso(a.failed_at)} {a.stage} {a.error_type}: "
        click.echo(head + a.detail.replace("\n", "\n" + " " * 4))
    if shown["deleted_in_pim_at"] is not None:
        click.echo(f"deleted in the PIM: {shown['deleted_in_pim_at']}")
    if written is None:
        click.echo("last written: never")
    else:
        version = shown["last_written_dam_version"] or "unknown"
        click.echo(f"last written: {shown['last_written_at']} (DAM version {version})")


#: Keys of ``failures show`` printed after the failure's own fields, in their own form.
_SHOWN_BELOW = frozenset(
    {"trail", "last_written_at", "last_written_dam_version", "deleted_in_pim_at"}
)


def _last_written(state: AssetState | None) -> AssetState | None:
    """
    The state if it records a PIM write: ``last_synced_at`` is then that write's time.

    A write intent (empty content hash) was never acknowledged; a deleted state's time is the
    deletion's, and its write time is no longer known.
    """
    if state is None or state.deleted or not state.content_hash:
        return None
    return state


def _attempt_json(a: FailureAttempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "failed_at": iso(a.failed_at),
        "stage": a.stage,
        "error_type": a.error_type,
        "run_id": a.run_id,
        "reason": a.detail,
    }


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
    settings = load(config_path, configure_logs=False)
    known_source(settings, source)
    target = _target(failure_id)
    with operator_store(settings) as store:
        count = getattr(store, action)(target, source=source)
    click.echo(f"{count} failure(s) {done}")


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


def _failure_json(f: Failure) -> dict[str, Any]:
    return {
        "id": f.id,
        "source": f.source,
        "dam_id": f.dam_id,
        "stage": f.stage,
        "error_type": f.error_type,
        "attempts": f.attempts,
        "permanent": f.permanent,
        "dead_lettered": f.dead_lettered,
        "first_failed_at": iso(f.first_failed_at),
        "last_failed_at": iso(f.last_failed_at),
        "next_attempt_at": iso(f.next_attempt_at),
        "dam_updated_at": iso(f.dam_updated_at),
        "run_id": f.run_id,
        "reason": f.detail,
    }


def _short(text: str, width: int = 60) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"


__all__ = ["failures"]
