"""
Where deletions are decided: the reconcile sweep that finds hard deletes.

A DAM that deletes an asset outright often shows nothing in its change feed. The sweep lists
every live id, compares it with the ids the store knows, and sends the missing ones through the
normal batch path as tombstones (what a tombstone does in the PIM is the source's
``delete_policy``, applied by :mod:`daemon.engine.batch_writer`). They pass the one deletion
brake every path shares (:func:`daemon.engine.withdrawals.brake_trips`): a burst over a family's
share or count waits in the pending table for ``damsync deletions approve|reject``, so an empty
or truncated id listing from a misconfigured DAM never empties the PIM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from daemon.core.records import DamAsset
from daemon.engine.batch_writer import BatchProcessor
from daemon.engine.routing import write_routed
from daemon.store import Lease

log = structlog.get_logger(__name__)


async def delete_gone(
    gone: Sequence[str],
    now: datetime,
    processor: BatchProcessor,
    lease: Lease,
    *,
    batch_size: int,
) -> int:
    """Send ``gone`` through the batch path as tombstones dated ``now``; returns how many."""
    tombstones = [DamAsset(id=dam_id, updated_at=now, deleted=True) for dam_id in gone]
    await write_routed(processor, tombstones, [], lease, batch_size=batch_size)
    return len(gone)


__all__ = ["delete_gone"]
