"""
``damsync reconcile``: how far the PIM has drifted from the DAM, per source and family.

Four kinds of drift are reported (see :mod:`daemon.engine.drift_store`): missing in the PIM,
stale (the PIM's values on the keys damsync maps differ from what the mapping gives now, e.g.
edited in the PIM), orphaned (written by damsync, explained by no DAM asset now) and deleted
in the DAM. ``--fix`` repairs them through the normal batched path, under the source's lease:
missing and stale are re-sent whatever their content hash; deleted and orphaned are sent as
tombstones, so the source's ``delete_policy`` and the mass-deletion brake
(``sync.max_delete_share``, ``max_delete_count``) apply exactly as in the scheduled sweep.

Exit codes, fit for cron: 0 clean, 2 drift found (with ``--fix`` too: the fix line says what was
repaired; run it again to check), 1 an error (one line on stderr, no traceback). A bad command
line or configuration is 1 too: 2 must only ever mean drift.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from prometheus_client import CollectorRegistry

from daemon.cli.common import config_option
from daemon.cli.output import format_option, one_line, text_table
from daemon.core.errors import ConfigError, SyncError
from daemon.engine.drift import DriftSummary, mapped_families, scan_drift
from daemon.engine.drift_resend import FixResult, fix_drift
from daemon.engine.drift_store import DRIFT_KINDS, DriftSpill
from daemon.engine.leasing import busy_reason, leased
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import Settings, load_settings
from daemon.telemetry import logs

Findings = Callable[[DriftSummary, DriftSpill], None]
Fixed = Callable[[DriftSummary, FixResult], None]

#: Exit code when drift was found.
EXIT_DRIFT = 2

#: Widest line of the table output.
WIDTH = 80

#: Ids shown per family and kind in the table output (``--format json`` lists them all).
SAMPLE = 8


class CronUsageError(click.UsageError):
    """A bad command line, exit 1: for a cron job, 2 means drift was found."""

    exit_code = 1


class ReconcileCommand(click.Command):
    """A command whose usage errors exit 1 (:class:`CronUsageError`)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise CronUsageError(exc.format_message(), exc.ctx) from None


def _emit(fmt: str) -> tuple[Findings, Fixed]:
    """The two printers of one output format: a scan's findings, and a fix's outcome."""

    def findings_json(summary: DriftSummary, spill: DriftSpill) -> None:
        for kind in DRIFT_KINDS:
            for item in spill.items(kind):
                line = {"type": "drift", "source": summary.source, "family": item.family}
                line.update(kind=kind, dam_id=item.dam_id, code=item.code)
                click.echo(json.dumps(line, ensure_ascii=False))
        for family, counts in summary.by_family().items():
            total: dict[str, object] = {"type": "summary", "source": summary.source}
            total.update(family=family, **counts)
            click.echo(json.dumps(total, ensure_ascii=False))

    def findings_table(summary: DriftSummary, spill: DriftSpill) -> None:
        if not summary.total:
            _say(f"{summary.source}: clean ({summary.known} known assets)")
        else:
            _say(f"{summary.source}: drift in {summary.total} assets")
        rows = [
            [family, *(str(counts[k]) for k in DRIFT_KINDS)]
            for family, counts in summary.by_family().items()
        ]
        click.echo(text_table(["family", *DRIFT_KINDS], rows, width=WIDTH))
        for family, counts in summary.by_family().items():
            for kind, count in counts.items():
                if count:
                    found = spill.items(kind, family=family, limit=SAMPLE)
                    _say(_sample_line(f"{family} {kind}: ", [i.dam_id for i in found], count))

    def fixed_json(summary: DriftSummary, fixed: FixResult) -> None:
        line = {"type": "fix", "source": summary.source, "resent": fixed.resent}
        line.update(deleted=fixed.deleted, failed=fixed.failed, would_delete=fixed.would_delete)
        click.echo(json.dumps({**line, "deletions_refused": fixed.refused}))

    def fixed_table(summary: DriftSummary, fixed: FixResult) -> None:
        source = summary.source
        _say(
            f"{source}: fixed - resent {fixed.resent}, deleted {fixed.deleted}, "
            f"failed {fixed.failed}" + (" (damsync failures list)" if fixed.failed else "")
        )
        if fixed.refused:
            _say(f"{source}: {fixed.would_delete} deletions held by the brake")
            _say("  (see damsync deletions list; sync.max_delete_share, max_delete_count)")

    if fmt == "json":
        return findings_json, fixed_json
    return findings_table, fixed_table


def _say(line: str) -> None:
    """One line of the table output, cut at :data:`WIDTH` columns."""
    click.echo(line if len(line) <= WIDTH else line[: WIDTH - 1] + "…")


def _sample_line(head: str, ids: list[str], count: int) -> str:
    """``head`` and as many ids as fit in :data:`WIDTH` columns, then how many are left out."""
    shown: list[str] = []
    for dam_id in ids:
        rest = count - len(shown) - 1
        tail = f" (+{rest} more)" if rest else ""
        if len(head) + len(", ".join([*shown, dam_id])) + len(tail) > WIDTH:
            break
        shown.append(dam_id)
    rest = count - len(shown)
    return head + ", ".join(shown) + (f" (+{rest} more)" if rest else "")


async def reconcile_sources(
    settings: Settings,
    *,
    sources: tuple[str, ...],
    family: str | None,
    fix: bool,
    fmt: str,
    **transports: Any,
) -> int:
    """
    Reconcile each selected source (and ``--fix`` it); returns how many assets drifted.

    Raises:
        SyncError: a store, DAM or PIM failure, an unknown source or an unmapped family.
    """
    for name in sources:
        settings.source(name)  # an unknown name is a ConfigError
    services = Services.create(settings, registry=CollectorRegistry())
    app = SyncApp.build(settings, services, only=sources or None, **transports)
    show, show_fix = _emit(fmt)
    drifted = 0
    try:
        await app.start()
        plans = []
        for runner in app.runners:
            mapper = await runner.processor.mappers.get()
            if family is None or mapped_families(mapper, family):
                plans.append((runner, mapper))
        if not plans:
            raise ConfigError(f"family {family!r} is not mapped by any selected source")
        store = services.store
        for runner, mapper in plans:
            with DriftSpill(family=family) as spill:
                summary = await scan_drift(
                    runner.source, app.pim_of(runner.name), app.store_of(runner.name), mapper, spill
                )
                show(summary, spill)
                drifted += summary.total
                if not fix or not summary.total:
                    continue
                ttl = runner.options.lease_ttl
                async with leased(store, runner.name, runner.holder, ttl) as lease:
                    if lease is None:
                        held = await asyncio.to_thread(store.lease_held, runner.name)
                        raise ConfigError(f"{runner.name}: not fixed, {busy_reason(held)}")
                    fixed = await fix_drift(
                        spill,
                        summary,
                        runner.source,
                        runner.processor,
                        lease,
                        batch_size=runner.options.batch_size,
                    )
                show_fix(summary, fixed)
    finally:
        await app.aclose()
        services.store.dispose()
    return drifted


@click.command(cls=ReconcileCommand)
@config_option
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--family", default=None, help="Only this asset family.")
@click.option("--fix", is_flag=True, help="Re-send, or delete per delete_policy, what drifted.")
@format_option
def reconcile(
    config_path: str, sources: tuple[str, ...], family: str | None, fix: bool, fmt: str
) -> None:
    """Compare the PIM with the DAM; exit 0 clean, 2 drift found, 1 error."""
    try:
        settings = load_settings(config_path, dict(os.environ))
        # Log lines go to stderr: stdout is the report (JSON lines for scripts).
        json_logs = {"auto": None, "json": True, "console": False}[settings.log_format]
        logs.configure(settings.log_level, json=json_logs, stream=sys.stderr)
        drifted = asyncio.run(
            reconcile_sources(settings, sources=sources, family=family, fix=fix, fmt=fmt)
        )
    except SyncError as exc:
        raise click.ClickException(f"reconcile: {one_line(exc)}") from None
    sys.exit(EXIT_DRIFT if drifted else 0)


__all__ = ["EXIT_DRIFT", "CronUsageError", "ReconcileCommand", "reconcile", "reconcile_sources"]
