"""
``damsync deletions``: the withdrawals the mass-deletion brake holds, and their resolution.

``list`` shows them; ``approve`` applies the policy each was held with (delete, mark, unlink)
in the PIM; ``reject`` keeps the PIM assets as they are and records that an operator kept them.
Exit codes: 0 done, 1 some ids were not held or could not be applied, 2 usage.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

import click

from daemon.cli.common import config_option, known_source, load
from daemon.cli.output import echo_json, format_option, iso, operator_store

if TYPE_CHECKING:
    from daemon.settings.root import Settings
    from daemon.store import PendingDeletion


@click.group()
def deletions() -> None:
    """Show, approve or reject the deletions the mass-deletion brake holds."""


@deletions.command("list")
@config_option
@click.option("--source", help="Only this source.")
@format_option
def deletions_list(config_path: str, source: str | None, fmt: str) -> None:
    """List held deletions: id, source, family, code, DAM id, reason, policy, since when."""
    settings = load(config_path, configure_logs=False)
    known_source(settings, source)
    with operator_store(settings) as store:
        held = store.pending_deletions(source)
    if fmt == "json":
        echo_json([_json(p) for p in held])
        return
    if not held:
        click.echo("no held deletions" + (f" of source {source}" if source else ""))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "id", "source", "pim", "family", "code", "dam id", "reason", "policy", "held since"
    )
    for p in held:
        table.add_row(
            str(p.id),
            p.source,
            p.pim,
            p.family,
            p.code,
            p.dam_id,
            p.reason,
            p.policy,
            iso(p.requested_at),
        )
    Console(width=160).print(table)
    click.echo("resolve: damsync deletions approve|reject --source NAME (ID... | --all)")


def _ids_option(func: Any) -> Any:
    func = click.argument("ids", nargs=-1, type=int)(func)
    func = click.option("--all", "all_", is_flag=True, help="Every held deletion of the source.")(
        func
    )
    return click.option("--source", required=True, help="The source whose deletions to settle.")(
        func
    )


def _chosen(settings: Settings, source: str, ids: tuple[int, ...], all_: bool) -> list[int]:
    known_source(settings, source)
    if bool(ids) == all_:
        raise click.UsageError("give the ids to settle, or --all")
    with operator_store(settings) as store:
        held = [p.id for p in store.pending_deletions(source)]
    return held if all_ else list(ids)


@deletions.command("approve")
@config_option
@_ids_option
def deletions_approve(config_path: str, source: str, ids: tuple[int, ...], all_: bool) -> None:
    """Apply each held deletion's policy in the PIM (exit 1 if some were not applied)."""
    settings = load(config_path)
    chosen = _chosen(settings, source, ids, all_)
    done = asyncio.run(_approve(settings, source, chosen))
    _report(done, chosen, "approved")


@deletions.command("reject")
@config_option
@_ids_option
def deletions_reject(config_path: str, source: str, ids: tuple[int, ...], all_: bool) -> None:
    """Keep the held assets in the PIM as they are; the state records them as kept."""
    settings = load(config_path, configure_logs=False)
    chosen = _chosen(settings, source, ids, all_)
    with operator_store(settings) as store:
        done = store.settle_pending(source, [(i, "kept") for i in chosen])
    _report(done, chosen, "rejected")


async def _approve(settings: Settings, source: str, ids: list[int]) -> int:
    # Imported here so that `damsync deletions --help` starts without the engine.
    from prometheus_client import CollectorRegistry

    from daemon.engine.withdrawals import settle_pending
    from daemon.service.wiring import Services, SyncApp

    services = Services.create(settings, registry=CollectorRegistry())
    app = SyncApp.build(settings, services, only=[source], one_shot=True)
    try:
        return await settle_pending(app.runners[0].processor, ids, approve=True)
    finally:
        await app.aclose()
        services.store.dispose()


def _report(done: int, chosen: list[int], verb: str) -> None:
    click.echo(f"{done} held deletion(s) {verb}")
    if done < len(chosen):
        click.echo(
            f"{len(chosen) - done} not settled: not held for this source, or the PIM refused "
            "(see the log; damsync deletions list)",
            err=True,
        )
        sys.exit(1)


def _json(p: PendingDeletion) -> dict[str, Any]:
    return {
        "id": p.id,
        "source": p.source,
        "pim": p.pim,
        "family": p.family,
        "code": p.code,
        "dam_id": p.dam_id,
        "reason": p.reason,
        "policy": p.policy,
        "requested_at": iso(p.requested_at),
    }


__all__ = ["deletions"]
