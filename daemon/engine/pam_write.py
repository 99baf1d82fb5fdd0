"""
The write path of a PAM migration: structure, binaries once each, assets in batches of 100.

:class:`PamWriter` takes the plan and the second read's outcomes (:func:`outcome`) and

1. makes the PIM hold the planned families, attributes and options (the ``structure apply``
   plan and steps, :mod:`daemon.engine.structure_apply`);
2. for each asset, gets each media value's binary (:class:`PamFetcher`), hashes it, and uploads
   each distinct content once (``POST /asset-media-files``), reusing the code of a content
   uploaded before, in this run or an earlier one (:class:`PamProgress`); up to ``transfers``
   files (the PIM's ``max_in_flight``) are fetched and uploaded at once, and the assets are
   reported and batched in the input's order (:mod:`daemon.engine.pam_transfers`);
3. upserts the assets per family in batches of at most 100 (``PATCH .../assets``), and records
   each accepted asset with the fingerprint of what was written, so a re-run skips it while the
   PAM gives the same.

A file that cannot be fetched or that the PIM refuses is left out of its asset (one report
line); an asset the PIM refuses is one report line; the migration goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import structlog

from daemon.core.errors import PermanentError, SyncError
from daemon.engine.pam_migrate import FamilyResolver, PamPlan, PamSource, outcome
from daemon.engine.pam_report import ReportLine, report_lines
from daemon.engine.pam_transfers import (
    MediaPim,
    MediaProgress,
    PamFetcher,
    PamTransfers,
    Resolved,
    TransfersStopped,
)
from daemon.engine.pam_values import SkippedAsset, TargetAsset
from daemon.engine.structure_apply import (
    StructurePim,
    StructureStepError,
    apply_steps,
    plan_against,
)
from daemon.pam.pam_records import PamFile
from daemon.pim.models import AssetUpsertResult
from daemon.pim.structure_records import JsonValue

if TYPE_CHECKING:
    from daemon.engine.pam_links import LinkCounts

log = structlog.get_logger(__name__)

#: Assets per bulk PATCH (akeneo-api §4.5).
BATCH = 100


class StructureConflictError(SyncError, PermanentError):
    """The target's families cannot take the planned structure; one line per conflict."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("the target PIM cannot take the planned structure:\n" + "\n".join(lines))
        self.lines = lines


class PamTargetPim(StructurePim, MediaPim, Protocol):
    """The target PIM: structure upserts, media upload, bulk asset upsert."""

    async def upsert_assets(
        self, family: str, assets: Iterable[Mapping[str, JsonValue]]
    ) -> list[AssetUpsertResult]: ...


class PamProgress(MediaProgress, Protocol):
    """What earlier runs did: hashed keys, uploaded contents, written assets."""

    def asset_fingerprint(self, family: str, code: str) -> str | None: ...

    def remember_assets(self, family: str, written: list[tuple[str, str]]) -> None: ...


@dataclass(slots=True)
class WriteCounts:
    """What the write path did."""

    structure_steps: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: int = 0
    uploads: int = 0
    reused: int = 0
    files_failed: int = 0
    per_family: dict[str, int] = field(default_factory=dict)
    #: The product-link pass run after the assets (:mod:`daemon.engine.pam_links`), if any.
    product_links: LinkCounts | None = None


def fingerprint(asset: TargetAsset) -> str:
    """A hash of what is written for ``asset`` (files by key): the same PAM data, the same hash."""
    values = [
        [v.attribute, v.locale, v.channel, v.data.key if isinstance(v.data, PamFile) else v.data]
        for v in asset.values
    ]
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


class PamWriter:
    """
    Writes a planned migration into the target PIM.

    Args:
        pim: The target.
        fetcher: Gets binaries.
        progress: Remembers what was done.
        sink: Hears every report line as it is found.
        discard: Deletes a temporary download (injected by tests).
        in_place: The target is the same upgraded 4.0 database: media values keep the PAM
            file keys (``pam-migration.md`` §6); nothing is downloaded or uploaded.
        transfers: Media transfers (fetch and upload) at once: the target PIM's
            ``max_in_flight``. At most ``4 * transfers`` assets wait for their files.
    """

    def __init__(
        self,
        pim: PamTargetPim,
        fetcher: PamFetcher,
        progress: PamProgress,
        sink: Callable[[ReportLine], None],
        discard: Callable[[str], None] | None = None,
        *,
        in_place: bool = False,
        transfers: int = 4,
    ) -> None:
        self.pim = pim
        self.fetcher = fetcher
        self.progress = progress
        self.sink = sink
        self.discard = discard or _unlink
        self.in_place = in_place
        self.counts = WriteCounts()
        self._batches: dict[str, list[tuple[TargetAsset, dict[str, JsonValue]]]] = {}
        self.transfers = PamTransfers(
            pim, fetcher, progress, self.counts, self.discard, limit=transfers, in_place=in_place
        )
        #: The assets in the input's order, each with its files' resolution (None: skipped).
        self._window: deque[tuple[TargetAsset | SkippedAsset, asyncio.Task[Resolved] | None]] = (
            deque()
        )
        self._window_size = 4 * transfers

    async def apply_structure(self, plan: PamPlan) -> int:
        """
        Create or update the planned families; returns the steps sent.

        Raises:
            StructureConflictError: the target holds an attribute the plan cannot change
                (another type, other locale/channel flags); nothing was sent.
        """
        structure = await plan_against(self.pim, [family.structure for family in plan.families])
        if structure.forbidden:
            raise StructureConflictError([change.message for change in structure.forbidden])
        try:
            steps = await apply_steps(self.pim, structure.steps)
        except StructureStepError as exc:
            raise StructureConflictError([f"{exc} ({exc.done} step(s) applied before)"]) from exc
        self.counts.structure_steps += steps
        return steps

    async def run(self, plan: PamPlan, source: PamSource, resolve: FamilyResolver) -> WriteCounts:
        """The whole write: structure, then every asset; returns the counts."""
        await self.apply_structure(plan)
        try:
            async for read in source.reads():
                item = outcome(plan, read, resolve)
                if isinstance(item, SkippedAsset):
                    self.counts.skipped += 1
                    self._skip(item)
                    continue
                await self.add(item)
            await self.flush()
        except BaseException:
            await self._stop()
            raise
        return self.counts

    def _report(self, item: TargetAsset | SkippedAsset) -> None:
        for line in report_lines(item):
            self.sink(line)

    async def add(self, asset: TargetAsset) -> None:
        """
        Start resolving the media of one asset; the assets whose files are resolved, in the
        input's order, are reported and queued, and a full batch is sent.
        """
        if self.progress.asset_fingerprint(asset.family, asset.code) == fingerprint(asset):
            self.counts.unchanged += 1
            return
        task = asyncio.create_task(self.transfers.resolve(asset))
        self._window.append((asset, task))
        await self._drain(self._window_size)

    def _skip(self, item: SkippedAsset) -> None:
        """Report a skipped asset in its place among the assets still resolving."""
        if self._window:
            self._window.append((item, None))
        else:
            self._report(item)

    async def _drain(self, keep: int) -> None:
        """Finish the window's head while it is resolved or more than ``keep`` are waiting."""
        window = self._window
        try:
            while window and (len(window) > keep or _resolved(window[0][1])):
                item, task = window.popleft()
                if task is None:
                    self._report(item)
                    continue
                try:
                    resolved = await task
                except TransfersStopped:
                    # Stopped by another asset's failure: that failure is the write's.
                    if self.transfers.failure is None:
                        raise
                    raise self.transfers.failure from None
                for line in resolved.lines:
                    self.sink(line)
                assert isinstance(item, TargetAsset)
                await self._queue(item, resolved)
        except BaseException:
            await self._stop()
            raise

    async def _stop(self) -> None:
        """The write failed: no new transfer; the ones in flight finish and record their codes."""
        self.transfers.stopping = True
        tasks = [task for _, task in self._window if task is not None]
        self._window.clear()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _queue(self, asset: TargetAsset, resolved: Resolved) -> None:
        self._report(asset)
        body: dict[str, JsonValue] = {"code": asset.code, "values": dict(resolved.values)}
        batch = self._batches.setdefault(asset.family, [])
        batch.append((asset, body))
        if len(batch) >= BATCH:
            await self._send(asset.family)

    async def flush(self) -> None:
        """Wait for the assets still resolving, then send every queued batch."""
        await self._drain(0)
        for family in list(self._batches):
            await self._send(family)

    async def _send(self, family: str) -> None:
        batch = self._batches.pop(family, [])
        if not batch:
            return
        results = await self.pim.upsert_assets(family, [body for _, body in batch])
        written: list[tuple[str, str]] = []
        for (asset, _), result in zip(batch, results, strict=True):
            if result.outcome in ("created", "updated"):
                written.append((asset.code, fingerprint(asset)))
                if result.outcome == "created":
                    self.counts.created += 1
                else:
                    self.counts.updated += 1
                self.counts.per_family[family] = self.counts.per_family.get(family, 0) + 1
                continue
            self.counts.rejected += 1
            detail = "; ".join(f"{e.property}: {e.message}" for e in result.errors)
            reason = f"refused by the PIM ({result.status_code}): {result.message}"
            self.sink(
                ReportLine("skipped_asset", asset.code, family, "", f"{reason} {detail}".strip())
            )
        self.progress.remember_assets(family, written)
        c = self.counts
        log.info(
            "pam.batch_written",
            family=family,
            sent=len(batch),
            created=c.created,
            updated=c.updated,
            rejected=c.rejected,
            unchanged=c.unchanged,
            uploads=c.uploads,
            reused=c.reused,
        )


def _resolved(task: asyncio.Task[Resolved] | None) -> bool:
    return task is None or task.done()


def _unlink(path: str) -> None:
    os.unlink(path)


__all__ = [
    "BATCH",
    "PamFetcher",
    "PamProgress",
    "PamTargetPim",
    "PamWriter",
    "StructureConflictError",
    "WriteCounts",
    "fingerprint",
]
