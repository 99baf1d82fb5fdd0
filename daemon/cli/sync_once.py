"""
``damsync sync --once``: one pass per source, with a progress bar and one summary line each.

The exit code is 0 when every asset went through, 1 when some failed (they are in the failures
table), 2 when a pass itself failed, 3 when a pass was skipped because another process holds the
source's lease (its summary line names the holder and the lease's expiry); when sources end
differently, 2 wins over 3, and 3 over 1. ``--dry-run`` maps and prints what would be sent, per
asset, and writes nothing (neither the PIM nor the checkpoint). ``--full`` reads every asset
from the beginning and re-sends it whatever its content hash (to repair a PIM), batched as usual;
the stored cursor never moves back. ``--dry-run --diff`` reads the PIM's current version of
each asset the dry run would write (``code IN`` searches, 100 codes at most) and prints, per asset,
what would change instead of the payloads: values ``old → new``, erasures, creations and
withdrawals with their policy; as an 80-column table, or ``--format json`` (one object a line).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from daemon.cli.common import config_option, known_source, load
from daemon.cli.output import format_option

if TYPE_CHECKING:
    from rich.console import Console

    from daemon.engine.dry_run_diff import AssetDiff
    from daemon.engine.outcomes import PassResult
    from daemon.engine.seams import PimAssetLookup
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
    diffs: dict[str, list[AssetDiff]] | None = None,
    console: Console | None = None,
    **transports: Any,
) -> list[PassResult]:
    """
    One pass of each selected source; returns their results.

    With ``diffs`` (a dry run only), each source's dry run items are set against the PIM's
    current assets and its differences are put in ``diffs`` under the source's name.
    """
    from daemon.cli.startup import loading

    for name in sources:
        settings.source(name)  # unknown names are a ConfigError
    with loading():  # the engine's imports and wiring: no collection, then frozen
        # Imported here so that `sync --help` starts without the engine and the upstream clients.
        from prometheus_client import CollectorRegistry

        from daemon.engine.drift_resend import FromEpoch
        from daemon.service.wiring import Services, SyncApp

        services = Services.create(settings, registry=CollectorRegistry())
        # Cron's use: the structure and the DAM's clock come from the state database while fresh.
        app = SyncApp.build(
            settings,
            services,
            dry_run=dry_run,
            only=sources or None,
            one_shot=True,
            remembered=True,
            **transports,
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
            if diffs is not None and dry_run:
                await _diff(app.pim_of(runner.name), results[-1], diffs)
    finally:
        if bar is not None:
            bar.progress.stop()
        await app.aclose()
        services.store.dispose()
    return results


async def _diff(pim: PimAssetLookup, result: PassResult, diffs: dict[str, list[AssetDiff]]) -> None:
    """Diff one dry run's items against the PIM; a read that fails fails the pass's line."""
    from daemon.core.errors import SyncError
    from daemon.engine.dry_run_diff import diff_previews
    from daemon.engine.outcomes import error_text

    try:
        diffs[result.source] = await diff_previews(result.source, pim, result.dry_run_items)
    except SyncError as exc:
        result.status, result.error = "failed", f"diff: {error_text(exc, with_type=True)}"


def print_diffs(diffs: list[AssetDiff], fmt: str) -> None:
    """One JSON object per asset, or one table (80 columns) of every change."""
    from daemon.cli.output import text_table
    from daemon.engine.dry_run_diff import diff_rows

    if fmt == "json":
        for diff in diffs:
            click.echo(json.dumps(diff.to_json(), ensure_ascii=False, sort_keys=True, default=str))
        return
    rows = [row for diff in diffs for row in diff_rows(diff)]
    if rows:
        click.echo(text_table(["asset", "change", "value", "old → new"], rows))


def _plain(item: dict[str, Any]) -> dict[str, Any] | None:
    """A dry run item as printed without ``--diff``: payloads only, as before."""
    if "withdrawn" in item:
        return None
    return {k: v for k, v in item.items() if k != "stored_media"}


@click.command()
@config_option
@click.option("--once", is_flag=True, required=True, help="Run one pass and exit.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; write nothing.")
@click.option("--full", is_flag=True, help="Re-send every asset, unchanged ones too.")
@click.option("--diff", is_flag=True, help="With --dry-run: show what would change in the PIM.")
@format_option
def sync(
    config_path: str,
    once: bool,
    sources: tuple[str, ...],
    dry_run: bool,
    full: bool,
    diff: bool,
    fmt: str,
) -> None:
    """Run one pass of every source (or of --source NAME) and print a summary per source."""
    from rich.console import Console

    if diff and not dry_run:
        raise click.UsageError("--diff needs --dry-run (it reads the PIM, never writes it)")
    settings = load(config_path)
    for name in sources:
        known_source(settings, name)
    console = Console(stderr=True)
    from daemon.cli.output import one_line
    from daemon.core.errors import SyncError

    diffs: dict[str, list[AssetDiff]] | None = {} if diff else None
    try:
        results = asyncio.run(
            sync_once(
                settings, sources=sources, dry_run=dry_run, full=full, diffs=diffs, console=console
            )
        )
    except SyncError as exc:
        # The store or an upstream failed before any pass could run: one line, exit 2.
        click.echo(f"damsync: {one_line(exc)}", err=True)
        sys.exit(2)
    for result in results:
        if diffs is not None:
            print_diffs(diffs.get(result.source, []), fmt)
        elif dry_run:
            for item in filter(None, map(_plain, result.dry_run_items)):
                click.echo(json.dumps(item, ensure_ascii=False, sort_keys=True, default=str))
        click.echo(summary(result))
    if any(r.status == "failed" for r in results):
        sys.exit(2)
    if any(r.status == "skipped" for r in results):  # nothing ran: a cron job must not look green
        sys.exit(EXIT_LEASE_HELD)
    if any(r.failed for r in results):
        sys.exit(1)


__all__ = ["EXIT_LEASE_HELD", "print_diffs", "summary", "sync", "sync_once"]
