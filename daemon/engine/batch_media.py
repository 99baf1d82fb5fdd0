"""
The media of one batch: each asset's binaries transferred (:mod:`.media_transfer`) and their
media file codes filled into its values, before the bulk PATCH.

An asset without media (link mode) is sent as mapped: it costs no task.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from daemon.core.errors import SyncError, UnusableBinaryError
from daemon.core.records import DamAsset, PimAsset
from daemon.engine.erasures import ValueKey
from daemon.engine.media_spool import BinaryTooLargeError, SpoolUnavailableError
from daemon.engine.media_transfer import MediaTransfer
from daemon.engine.outcomes import UPSTREAM_WIDE, BatchReport, failure_of
from daemon.engine.structure_cache import FamilyCopy
from daemon.mapping import MappedAsset, MediaRequest, fill_media
from daemon.store import FailureRecord

#: Media failures of the whole pass: an upstream is down, or the spool can hold no binary.
MEDIA_WIDE = (*UPSTREAM_WIDE, SpoolUnavailableError)


@dataclass(slots=True)
class Item:
    """One asset of a batch on its way to the PIM: its mapping, managed keys, media codes."""

    asset: DamAsset
    mapped: MappedAsset
    managed: frozenset[ValueKey] | None = None
    ready: PimAsset | None = None
    media_key: tuple[str, str] | None = None


async def transfer_media(
    media: MediaTransfer,
    items: list[Item],
    failures: list[FailureRecord],
    report: BatchReport,
    copies: dict[str, FamilyCopy | None],
) -> list[Item]:
    """
    Transfer the binaries of a batch's items and fill their media codes in (``item.ready``).

    Returns:
        The items to write; an item whose transfer failed is in ``failures`` instead.

    Raises:
        Exception: One of :data:`MEDIA_WIDE`: the pass fails, not each asset.
    """
    # The store's codes of the batch's binaries in one lookup, not one per transfer.
    await media.prefetch(r.binary for i in items for r in i.mapped.media)

    async def one(item: Item) -> SyncError | None:
        codes: dict[MediaRequest, str] = {}
        by_binary: dict[Any, str] = {}
        copy = copies.get(item.mapped.asset.family)
        # The value whose original filename the family's naming convention reads.
        named = copy.family.naming_source if copy is not None else None
        try:
            # Each distinct binary once, whatever the number of values (locales, channels,
            # attributes) it fills; the asset's own binary is the one its state records.
            for request in item.mapped.media:
                keep = named == (request.attribute, request.locale, request.channel)
                known = by_binary.get((request.binary, keep))
                if known is None:
                    target = dataclasses.replace(item.asset, binary=request.binary)
                    done = await media.transfer(target, keep_filename=keep)
                    known = by_binary[(request.binary, keep)] = done.media_code
                    if item.media_key is None or request.binary == item.asset.binary:
                        item.media_key = (done.checksum, done.media_code)
                    report.uploaded += int(done.uploaded)
                codes[request] = known
            item.ready = fill_media(item.mapped, codes)
        except MEDIA_WIDE:
            raise  # the PIM, the store or the spool is down: fail the pass, not each asset
        except SyncError as exc:
            return exc
        return None

    # An asset without media (link mode) is sent as mapped: no task, nothing to fill.
    moving = [i for i in items if i.mapped.media]
    if not moving:
        return items
    try:
        async with asyncio.TaskGroup() as group:
            tasks = {id(i): group.create_task(one(i)) for i in moving}
    except* MEDIA_WIDE as exc:
        # The other transfers were cancelled; the pass fails with the first cause.
        raise exc.exceptions[0] from None
    kept = []
    for item in items:
        task = tasks.get(id(item))
        error = None if task is None else task.result()
        if error is None:
            kept.append(item)
        else:
            # A truncated or failed download may succeed next time: retried with backoff;
            # a binary over the size cap stays too large until the DAM's file changes.
            retryable = not isinstance(error, BinaryTooLargeError | UnusableBinaryError)
            failures.append(
                failure_of(item.asset.id, "media", error, item.asset, retryable=retryable)
            )
    return kept


__all__ = ["MEDIA_WIDE", "Item", "transfer_media"]
