"""
Writing a set of assets outside a pass (retries, reconcile tombstones) through the same router
and batcher as a pass, so every bulk PATCH is cut at :data:`~daemon.engine.batcher.BULK_LIMIT`
in one place and every asset is routed once.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.core.errors import SourceAssetError
from daemon.core.records import DamAsset
from daemon.engine.batch_writer import BatchProcessor
from daemon.engine.batcher import FamilyBatcher, Routed
from daemon.engine.outcomes import BatchReport
from daemon.store import Lease


async def write_routed(
    processor: BatchProcessor,
    assets: Sequence[DamAsset],
    errors: Sequence[SourceAssetError],
    lease: Lease,
    *,
    batch_size: int,
    force: bool = False,
) -> BatchReport:
    """
    Route, batch, write and commit ``assets`` (no cursor moves); returns the summed counts.

    ``errors`` (records that could not be read) are recorded with the first batch. ``force``
    writes what the content hash would skip (a reconcile's ``--fix``).
    """
    batcher = FamilyBatcher(max_items=batch_size)
    total = BatchReport()
    pending = list(errors)

    async def write(batch: list[Routed]) -> None:
        nonlocal pending
        report = await processor.process(
            batch, pending, lease=lease, run_id=None, cursor=None, window=None, force=force
        )
        pending = []
        total.size += report.size
        total.written += report.written
        total.unchanged += report.unchanged
        total.failed += report.failed
        total.skipped += report.skipped
        total.deleted += report.deleted
        total.uploaded += report.uploaded

    for start in range(0, len(assets), batch_size):  # screened a batch at a time: O(batch)
        for item in await processor.screen(assets[start : start + batch_size], force=force):
            full = batcher.add(item)
            if full is not None:
                await write(full)
    for batch in batcher.drain():
        await write(batch)
    if pending:
        await write([])
    return total


__all__ = ["write_routed"]
