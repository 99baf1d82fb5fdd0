"""
The write path of ``damsync migrate-pam``: the target PIM from the configuration, the binaries
fetched from the source, the progress file, the writer (:mod:`daemon.engine.pam_write`), then
the products' and product models' collections across instances
(:mod:`daemon.engine.pam_links`): read from the legacy API, or from ``--products-csv FILE`` /
``--product-models-csv FILE``; never in place (the relink commands are printed instead). A
``--dry-run`` plans the links (:func:`plan_links`) and writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from daemon.core.errors import ConfigError

if TYPE_CHECKING:
    from daemon.engine.pam_link_plan import LinkPlan
    from daemon.engine.pam_links import LinkCounts, ProductSource
    from daemon.engine.pam_migrate import FamilyResolver, PamPlan, PamSource
    from daemon.engine.pam_report import ReportLine
    from daemon.engine.pam_write import PamFetcher, PamProgress, WriteCounts
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


class _UploadCounted:
    """The target PIM, each media upload also told to ``uploaded`` (the progress bar)."""

    def __init__(self, pim: PimClient, uploaded: Callable[[], None]) -> None:
        self._pim = pim
        self._uploaded = uploaded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pim, name)

    async def upload_media_file(self, source: Any, **kwargs: Any) -> str:
        code: str = await self._pim.upload_media_file(source, **kwargs)
        self._uploaded()
        return code


async def write(
    params: Mapping[str, Any],
    plan: PamPlan,
    source: PamSource,
    resolve: FamilyResolver,
    fetcher: PamFetcher,
    sink: Any,
    *,
    progress: PamProgress,
    api: PamApi | None = None,
    uploaded: Callable[[], None] | None = None,
) -> WriteCounts:
    """
    Structure, binaries and assets into the target, then the product links (``api``: the
    legacy API, read for its products unless ``--products-csv`` is given); every report line
    to ``sink``. ``progress`` is opened and closed by the caller; ``uploaded`` hears each
    binary uploaded.
    """
    from daemon.engine.pam_links import PamLinker, collect_skipped
    from daemon.engine.pam_write import PamWriter

    products = product_source(params, api)

    def line(item: ReportLine) -> None:
        sink(item)

    tracked, skipped = collect_skipped(line)
    async with target_pim(params) as pim:
        target: Any = pim if uploaded is None else _UploadCounted(pim, uploaded)
        # As many media transfers at once as the client lets requests in flight.
        transfers = pim.upstream.limiter.max_in_flight
        writer = PamWriter(
            target, fetcher, progress, tracked, in_place=params["in_place"], transfers=transfers
        )
        counts = await writer.run(plan, source, resolve)
        if products is not None:
            counts.product_links = await PamLinker(pim, line, skipped).run(plan, products)
        return counts


async def dry_run_links(
    params: Mapping[str, Any], plan: PamPlan, api: PamApi | None
) -> LinkPlan | None:
    """
    The links a write would make (``None``: in place, or no product source). The target of
    ``--config``, when given, is only read: which attributes exist, which would be created.
    """
    from daemon.engine.pam_link_plan import plan_links

    products = product_source(params, api)
    if products is None:
        return None
    if params.get("config_path") is None:
        return await plan_links(plan, products, None)
    async with target_pim(params) as pim:
        return await plan_links(plan, products, pim)


def product_source(params: Mapping[str, Any], api: PamApi | None) -> ProductSource | None:
    """Where the products' collections come from; None in place or without a source."""
    from daemon.pam.pam_products import ApiProducts, CsvProducts

    if params.get("in_place"):
        return None
    products, models = params.get("products_csv"), params.get("product_models_csv")
    if products is not None or models is not None:
        return CsvProducts(products, models)
    return ApiProducts(api) if api is not None else None


def print_counts(counts: WriteCounts, report: Path, progress: str) -> None:
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
    if counts.product_links is not None:
        print_links(counts.product_links)
    click.echo(f"report: {report}; progress: {progress} (a re-run continues from it)")


def print_links(links: LinkCounts) -> None:
    """What the product-link pass did."""
    click.echo(
        f"product links: {links.products} product(s) and {links.models} product model(s) read, "
        f"{links.written} written in {links.patches} PATCH(es), {links.unchanged} unchanged, "
        f"{links.unknown} not in the target, {links.refused} refused, {links.rows_skipped} "
        f"unreadable row(s); {links.codes_left_out} asset code(s) left out; "
        f"{links.attributes} collection attribute(s) bound ({links.attributes_created} "
        f"created), {links.attributes_refused} not"
    )
    verdict = "passed" if links.verify_failures == 0 else f"{links.verify_failures} failure(s)"
    click.echo(f"verify: {links.verified_values} collection value(s) read back, {verdict}")


__all__ = [
    "dry_run_links",
    "fetcher",
    "print_counts",
    "print_links",
    "product_source",
    "target_pim",
    "write",
]
