"""
The retry job: due failures are read again from the DAM and go through the normal batch path.

A failure row is a hint, the DAM is the truth: the current version of each asset is fetched and
written like any other, without moving the cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog

from daemon.core.errors import SourceAssetError
from daemon.engine.batch_writer import BatchProcessor
from daemon.engine.outcomes import BatchReport
from daemon.engine.routing import write_routed
from daemon.engine.seams import JobSource, JobStore
from daemon.store import Failure, Lease

log = structlog.get_logger(__name__)


def unreadable_errors(due: Sequence[Failure], source: str) -> list[SourceAssetError]:
    """Failure rows of records that could not be read (ids ``?path``): retried with their page."""
    return [
        SourceAssetError(
            asset_id=f.dam_id,
            field="id",
            path=f.dam_id[1:],
            reason="the record could not be read; it is retried with its page",
            source=source,
        )
        for f in due
        if f.dam_id.startswith("?")
    ]


async def due_failures(store: JobStore, source: str, limit: int) -> list[Failure]:
    """The failures of ``source`` whose backoff has run out, oldest first, at most ``limit``."""
    return await asyncio.to_thread(store.due_failures, source, datetime.now(UTC), limit)


async def retry_failures(
    due: Sequence[Failure],
    source: JobSource,
    processor: BatchProcessor,
    lease: Lease,
    *,
    batch_size: int,
) -> BatchReport:
    """
    Fetch the current version of each due asset and write them, batch by batch.

    Returns:
        The summed counts of the batches written.
    """
    ids = [f.dam_id for f in due if not f.dam_id.startswith("?")]
    page = await source.fetch(ids) if ids else None
    assets = list(page.assets) if page is not None else []
    errors = [*(page.errors if page is not None else ()), *unreadable_errors(due, source.name)]
    report = await write_routed(processor, assets, errors, lease, batch_size=batch_size)
    log.info(
        "sync.failures_retried",
        tried=len(due),
        written=report.written,
        failed=report.failed,
    )
    return report


__all__ = ["due_failures", "retry_failures", "unreadable_errors"]
