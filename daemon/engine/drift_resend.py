"""
Re-sending to repair a PIM: a reconcile's ``--fix``, and the full pass of ``sync --once --full``.

:func:`fix_drift` repairs what :func:`~daemon.engine.drift.scan_drift` found, through the same
path as every other write (:func:`~daemon.engine.routing.write_routed`: router, batcher, bulk
PATCH, one commit per batch, under the source's lease), with ``force`` so that the content hash
skips nothing:

- deleted in the DAM, and orphans whose DAM asset maps nowhere now: tombstones, as the
  scheduled sweep sends, so the source's ``delete_policy`` decides (``ignore`` leaves them) and
  the one deletion brake (:func:`~daemon.engine.withdrawals.brake_trips`) holds a burst in the
  pending table for ``damsync deletions approve|reject``, as it holds feed tombstones;
- missing, stale, and orphans whose DAM asset maps to another code now: the DAM's current copy,
  fetched again by id and re-sent; writing it withdraws its other codes (the old one the state
  knows, and any ``pim_owners`` still holds live for it), behind the same brake.

:class:`FromEpoch` makes a pass read every asset (``sync --once --full``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from daemon.core.records import DamAsset
from daemon.engine.batch_writer import BatchProcessor
from daemon.engine.drift import DriftSummary
from daemon.engine.drift_store import DriftKind, DriftSpill
from daemon.engine.outcomes import BatchReport
from daemon.engine.routing import write_routed
from daemon.engine.seams import JobSource, JobStore
from daemon.store import (
    AssetState,
    Checkpoint,
    Failure,
    FailureCounts,
    HeldLease,
    Lease,
    OwnedAsset,
    RunCounts,
    RunStatus,
)

log = structlog.get_logger(__name__)

_REMOVALS: tuple[DriftKind, ...] = ("deleted", "orphaned")


@dataclass(slots=True)
class FixResult:
    """
    What ``--fix`` did for one source.

    Args:
        resent: Assets written again (missing, stale, or orphaned at an old code).
        deleted: Assets deleted in the PIM (deleted in the DAM, or orphaned).
        failed: Assets that failed (recorded in the failures table, retried as usual).
        refused: The deletion brake held some withdrawals in the pending table.
        would_delete: How many removals (deleted and orphaned) the scan found.
        held: How many withdrawals the brake added to the pending table.
    """

    resent: int = 0
    deleted: int = 0
    failed: int = 0
    refused: bool = False
    would_delete: int = 0
    held: int = 0

    def add(self, report: BatchReport) -> None:
        self.resent += report.written
        self.deleted += report.deleted
        self.failed += report.failed


async def fix_drift(
    spill: DriftSpill,
    summary: DriftSummary,
    source: JobSource,
    processor: BatchProcessor,
    lease: Lease,
    *,
    batch_size: int,
) -> FixResult:
    """
    Repair the drift of one scan (see the module docstring).

    Args:
        spill: The scan's spill, still open.
        summary: The scan's counts.
        source: The DAM (current copies are fetched from it by id).
        processor: The source's batch writer (its ``delete_policy`` and brake apply).
        lease: The source's lease, held by the caller.
        batch_size: Assets per bulk PATCH.

    Returns:
        The counts of what was done.
    """
    result = FixResult(would_delete=sum(summary.count(k) for k in _REMOVALS))
    held_before = await _held(processor)
    if result.would_delete:
        now = await source.server_now()
        for ids in spill.repairs(batch_size, resend=False):
            result.add(await _tombstones(processor, ids, now, lease, batch_size))
    for ids in spill.repairs(batch_size, resend=True):
        page = await source.fetch(ids)
        report = await write_routed(
            processor, page.assets, page.errors, lease, batch_size=batch_size, force=True
        )
        result.add(report)
    result.held = max(await _held(processor) - held_before, 0)
    result.refused = result.held > 0
    log.info(
        "sync.reconcile_fixed",
        resent=result.resent,
        deleted=result.deleted,
        failed=result.failed,
        held=result.held,
    )
    return result


async def _held(processor: BatchProcessor) -> int:
    source = processor.withdrawer.source
    return len(await asyncio.to_thread(processor.store.pending_deletions, source))


async def _tombstones(
    processor: BatchProcessor, ids: Sequence[str], now: datetime, lease: Lease, batch_size: int
) -> BatchReport:
    tombstones = [DamAsset(id=dam_id, updated_at=now, deleted=True) for dam_id in ids]
    # Forced: an orphan's state may already say deleted (its PIM asset came back).
    return await write_routed(processor, tombstones, [], lease, batch_size=batch_size, force=True)


class FromEpoch:
    """
    A source's store seen by a pass that must read every asset: its checkpoint has no cursor.

    The pass then plans the window from the epoch (``sync --once --full``); everything else is
    the store's own. The stored cursor never moves back: the store keeps the newer of the
    stored and the committed cursor.

    Args:
        store: The state store.
    """

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def load_checkpoint(self, source: str) -> Checkpoint | None:
        checkpoint = self.store.load_checkpoint(source)
        return None if checkpoint is None else dataclasses.replace(checkpoint, cursor=None)

    @property
    def single_host(self) -> bool:
        return self.store.single_host

    def acquire_lease(
        self, source: str, holder: str, ttl_seconds: float, *, takeover: str | None = None
    ) -> Lease | None:
        return self.store.acquire_lease(source, holder, ttl_seconds, takeover=takeover)

    def lease_held(self, source: str) -> HeldLease | None:
        return self.store.lease_held(source)

    def release_lease(self, lease: Lease) -> bool:
        return self.store.release_lease(lease)

    def start_run(self, source: str) -> int:
        return self.store.start_run(source)

    def finish_run(
        self, run_id: int, status: RunStatus, counts: RunCounts, error: str | None = None
    ) -> bool:
        return self.store.finish_run(run_id, status, counts, error)

    def due_failures(self, source: str, now: datetime, limit: int) -> list[Failure]:
        return self.store.due_failures(source, now, limit)

    def known_ids(self, source: str) -> Iterator[str]:
        return self.store.known_ids(source)

    def failure_counts(self) -> dict[str, FailureCounts]:
        return self.store.failure_counts()

    def asset_states(self, source: str, dam_ids: Sequence[str]) -> dict[str, AssetState]:
        return self.store.asset_states(source, dam_ids)

    def iter_asset_states(self, source: str) -> Iterator[AssetState]:
        return self.store.iter_asset_states(source)

    def owned_assets(self, source: str) -> list[OwnedAsset]:
        return self.store.owned_assets(source)

    def media_code(self, source: str, checksum: str) -> str | None:
        return self.store.media_code(source, checksum)


__all__ = ["FixResult", "FromEpoch", "fix_drift"]
