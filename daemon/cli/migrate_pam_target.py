"""
The write path of ``damsync migrate-pam``: the target PIM from the configuration, the binaries
fetched from the source, the progress file, and the writer (:mod:`daemon.engine.pam_write`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from daemon.core.errors import ConfigError

if TYPE_CHECKING:
    from daemon.engine.pam_migrate import FamilyResolver, PamPlan, PamSource
    from daemon.engine.pam_report import ReportLine
    from daemon.engine.pam_write import PamFetcher, WriteCounts
    from daemon.pam import PamApi
    from daemon.pim import PimClient


def target_pim(params: Mapping[str, Any]) -> PimClient:
    """
    The target PIM of ``--config`` (and ``--pim``), with the daemon's retry policy.

    Raises:
        ConfigError: no configuration, or no such PIM in it.
    """
    from daemon.pim import PimClient
    from daemon.settings.connections import pick_pim
    from daemon.settings.root import load_settings

    if params["config_path"] is None:
        raise ConfigError("writing needs the target PIM: --config FILE", key="--config")
    settings = load_settings(params["config_path"], dict(os.environ))
    _, connection = pick_pim(settings.pim_connections(), params["pim_name"])
    return PimClient.from_settings(connection, transport=params.get("pim_transport"))


def fetcher(params: Mapping[str, Any], api: PamApi | None) -> PamFetcher:
    """Downloads through the API reader, or the files of the binaries directory."""
    from daemon.pam.pam_fetch import ApiFetcher, DirectoryFetcher

    return ApiFetcher(api, params["spool_dir"]) if api is not None else DirectoryFetcher()


async def write(
    params: Mapping[str, Any],
    plan: PamPlan,
    source: PamSource,
    resolve: FamilyResolver,
    fetcher: PamFetcher,
    sink: Any,
) -> WriteCounts:
    """Structure, binaries and assets into the target; every report line to ``sink``."""
    from daemon.engine.pam_write import PamWriter
    from daemon.pam.pam_progress import ProgressFile

    progress_path: Path = params["progress_path"]
    async with target_pim(params) as pim:
        with ProgressFile(progress_path) as progress:

            def line(item: ReportLine) -> None:
                sink(item)

            writer = PamWriter(pim, fetcher, progress, line, in_place=params["in_place"])
            return await writer.run(plan, source, resolve)


def print_counts(counts: WriteCounts, report: Path, progress: Path) -> None:
    """What the write did."""
    click.echo(
        f"\nwritten: {counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged since the last run, {counts.rejected} refused by the PIM, "
        f"{counts.skipped} skipped"
    )
    click.echo(
        f"binaries: {counts.uploads} uploaded, {counts.reused} reused (same content), "
        f"{counts.files_failed} left out; structure: {counts.structure_steps} change(s)"
    )
    for family, count in sorted(counts.per_family.items()):
        click.echo(f"  {family}: {count} asset(s) written")
    click.echo(f"report: {report}; progress: {progress} (a re-run continues from it)")


__all__ = ["fetcher", "print_counts", "target_pim", "write"]
