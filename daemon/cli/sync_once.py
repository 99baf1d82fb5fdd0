"""
``damsync sync --once``: one pass per source, with a progress bar and one summary line each.

The exit code is 0 when every asset went through, 1 when some failed (they are in the failures
table), 2 when a pass itself failed, 3 when a pass was skipped because another process holds the
source's lease (its summary line names the holder and the lease's expiry); when sources end
differently, 2 wins over 3, and 3 over 1. ``--dry-run`` maps and prints what would be sent, per
asset, and writes nothing (neither the PIM nor the checkpoint). ``--full`` reads every asset
from the beginning and re-sends it whatever its content hash (to repair a PIM), batched as usual;
the stored cursor never moves back.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from daemon.cli.common import config_option, known_source, load

if TYPE_CHECKING:
    from rich.console import Console

    from daemon.engine.outcomes import PassResult
    from daemon.settings.root import Settings

#: ``sync --once`` exit code: a pass was skipped, another process holds its source's lease.
EXIT_LEASE_HELD = 3


def summary(result: PassResult) -> str:
    """One line per pass; a dry run counts what it *would* write and delete (its failures are
    real: values the mapping or the PIM's structure refuse)."""
    if result.dry_run:
        line = (
            f"{result.source}: {result.status} (dry run, nothing written) - read {result.read}, "
            f"would write {result.written}, unchanged {result.unchanged}, "
            f"skipped {result.skipped}, would delete {result.deleted}, "
            f"failed {result.failed} in {result.duration:.1f}s"
        )
    else:
        line = (
            f"{result.source}: {result.status} - read {result.read}, written {result.written}, "
            f"unchanged {result.unchanged}, skipped {result.skipped}, deleted {result.deleted}, "
            f"failed {result.failed} in {result.duration:.1f}s"
        )
    if result.error:
        line += f" ({result.error})"
    return line


async def sync_once(
    settings: Settings,
    *,
    sources: tuple[str, ...] = (),
    dry_run: bool = False,
    full: bool = False,
    console: Console | None = None,
    **transports: Any,
) -> list[PassResult]:
    """One pass of each selected source; returns their results."""
    # Imported here so that `sync --help` starts without the engine and the upstream clients.
    from prometheus_client import CollectorRegistry

    from daemon.engine.drift_resend import FromEpoch
    from daemon.service.wiring import Services, SyncApp

    for name in sources:
        settings.source(name)  # unknown names are a ConfigError
    services = Services.create(settings, registry=CollectorRegistry())
    app = SyncApp.build(
        settings, services, dry_run=dry_run, only=sources or None, one_shot=True, **transports
    )
    results: list[PassResult] = []
    bar = None
    if console is not None and console.is_terminal:
        from daemon.cli.sync_progress import PassProgress

        bar = PassProgress(console, services.metrics)
    try:
        await app.start()
        if bar is not None:
            bar.progress.start()
        for runner in app.runners:
            if full:  # every asset, from the epoch, re-sent whatever its content hash
                runner.processor.force = True
                runner.store = FromEpoch(runner.store)
            if bar is not None:
                runner.observer = bar
                runner.source = bar.watch(runner.source)
            results.append(await runner.run_once())
    finally:
        if bar is not None:
            bar.progress.stop()
        await app.aclose()
        services.store.dispose()
    return results


@click.command()
@config_option
@click.option("--once", is_flag=True, required=True, help="Run one pass and exit.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; write nothing.")
@click.option("--full", is_flag=True, help="Re-send every asset, unchanged ones too.")
def sync(config_path: str, once: bool, sources: tuple[str, ...], dry_run: bool, full: bool) -> None:
    """Run one pass of every source (or of --source NAME) and print a summary per source."""
    from rich.console import Console

    settings = load(config_path)
    for name in sources:
        known_source(settings, name)
    console = Console(stderr=True)
    from daemon.cli.output import one_line
    from daemon.core.errors import SyncError

    try:
        results = asyncio.run(
            sync_once(settings, sources=sources, dry_run=dry_run, full=full, console=console)
        )
    except SyncError as exc:
        # The store or an upstream failed before any pass could run: one line, exit 2.
        click.echo(f"damsync: {one_line(exc)}", err=True)
        sys.exit(2)
    for result in results:
        if dry_run:
            for item in result.dry_run_items:
                click.echo(json.dumps(item, ensure_ascii=False, sort_keys=True, default=str))
        click.echo(summary(result))
    if any(r.status == "failed" for r in results):
        sys.exit(2)
    if any(r.status == "skipped" for r in results):  # nothing ran: a cron job must not look green
        sys.exit(EXIT_LEASE_HELD)
    if any(r.failed for r in results):
        sys.exit(1)


__all__ = ["EXIT_LEASE_HELD", "summary", "sync", "sync_once"]
