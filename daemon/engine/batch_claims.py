"""
A batch's one store write before its PIM write: claim its keys and note its new assets.

:meth:`BatchProcessor.write <daemon.engine.batch_writer.BatchProcessor.write>` calls
:func:`prepare` once per batch, before options, uploads or the bulk PATCH. In the same store
transaction the keys are claimed (a key another source owns is refused: that asset fails with
:class:`~daemon.engine.withdrawals.OwnershipConflict`, alone) and the assets the store does not
know live yet are noted as intents, so that a crash after the PIM's answer loses no deletion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from daemon.core.records import DamAsset
from daemon.engine.outcomes import failure_of
from daemon.engine.seams import BatchStore
from daemon.engine.withdrawals import OwnershipConflict
from daemon.store import FailureRecord


async def prepare(
    store: BatchStore,
    source: str,
    keys: Sequence[tuple[DamAsset, str, str, bool]],
    failures: list[FailureRecord],
) -> set[str]:
    """
    Claim ``(asset, family, code, new)`` keys and note the intents of the ``new`` ones.

    Returns:
        The DAM ids refused (each one a failure appended to ``failures``).
    """
    if not keys:
        return set()
    claims = [(a.id, f, c) for a, f, c, _ in keys]
    intents = [(a.id, f, c) for a, f, c, new in keys if new]
    refused = await asyncio.to_thread(store.prepare_batch, source, claims, intents)
    lost: set[str] = set()
    for asset, family, code, _ in keys:
        owner = refused.get((family, code))
        if owner is not None:
            error = OwnershipConflict(family=family, code=code, owner=owner, source=source)
            failures.append(failure_of(asset.id, "ownership", error, asset))
            lost.add(asset.id)
    return lost


__all__ = ["prepare"]
