"""
The engine's seams: the Protocols it owns for the PIM, the store, the DAM and its observers.

Adapters implement them (``daemon.pim.PimClient``, ``daemon.store.Store``, every
``daemon.sources`` source, ``daemon.telemetry.Metrics``); tests pass fakes without patching.
Nothing here is ``Any``: a seam says exactly what crosses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from daemon.core.errors import FieldError, SyncError
from daemon.core.events import DamEvent, InboxAdded, InboxDepth, InboxEntry
from daemon.core.records import Cursor, PimAsset, PimValue, SourcePage, Window
from daemon.store import (
    AssetState,
    AssetWrite,
    BrakeFigures,
    ChannelsSnapshot,
    Checkpoint,
    DamClockReading,
    Failure,
    FailureCounts,
    FailureRecord,
    FamilySnapshot,
    HeldLease,
    Lease,
    OwnedAsset,
    OwnerAction,
    PendingDeletion,
    RunCounts,
    RunStatus,
    StructureSnapshots,
    WithdrawnAsset,
)

if TYPE_CHECKING:
    from daemon.engine.inbox_consumer import ConsumeReport
    from daemon.engine.outcomes import BatchReport, PassResult


class UpsertResult(Protocol):
    """
    The PIM's answer for one asset of a bulk PATCH.

    ``error`` is the failure of the whole request carrying the asset (a 404 for a family gone,
    a network failure); ``message`` and ``errors`` are Akeneo's own answer for this asset (its
    ``errors[]``, empty when the answer is a plain message), which tell drift of our cached
    structure from a value the PIM refuses.
    """

    @property
    def ok(self) -> bool: ...

    @property
    def index(self) -> int: ...

    @property
    def error(self) -> SyncError | None: ...

    @property
    def message(self) -> str: ...

    @property
    def errors(self) -> Sequence[FieldError]: ...

    @property
    def status_code(self) -> int | None: ...


class PimWriter(Protocol):
    """What a batch needs from the PIM client (``daemon.pim.PimClient`` implements it)."""

    async def upsert_assets(
        self, family: str, assets: Iterable[PimAsset]
    ) -> Sequence[UpsertResult]: ...

    async def upsert_attribute_option(
        self, family: str, attribute: str, code: str, labels: Mapping[str, str] | None = None
    ) -> object: ...

    async def delete_asset(self, family: str, code: str) -> None: ...


class PimAssetView(Protocol):
    """One asset as the PIM lists it (``daemon.pim.RemoteAsset``): its code and values."""

    @property
    def code(self) -> str: ...

    @property
    def values(self) -> Mapping[str, Sequence[PimValue]]: ...


class PimReader(Protocol):
    """What a reconcile reads from the PIM: a family's assets, paged by the client."""

    def iter_assets(self, family: str) -> AsyncIterator[PimAssetView]: ...


class PimAssetLookup(Protocol):
    """What a dry run's diff reads from the PIM: the assets of a family with these codes."""

    def iter_assets(
        self, family: str, *, codes: Iterable[str] | None = None
    ) -> AsyncIterator[PimAssetView]: ...


class LeaseStore(Protocol):
    """The lease half of the state store (``daemon.store.Store`` implements it)."""

    def acquire_lease(
        self, source: str, holder: str, ttl_seconds: float, *, takeover: str | None = None
    ) -> Lease | None: ...

    @property
    def single_host(self) -> bool: ...

    def lease_held(self, source: str) -> HeldLease | None: ...

    def release_lease(self, lease: Lease) -> bool: ...


class BatchStore(Protocol):
    """What a batch needs from the store (``daemon.store.Store`` implements it)."""

    def asset_states(self, source: str, dam_ids: Sequence[str]) -> dict[str, AssetState]: ...

    def prepare_batch(
        self,
        source: str,
        claims: Sequence[tuple[str, str, str]],
        intents: Sequence[tuple[str, str, str]],
    ) -> dict[tuple[str, str], str]: ...

    def commit_batch(
        self,
        lease: Lease,
        run_id: int | None,
        *,
        cursor: Cursor | None,
        window: Window | None = None,
        written: Sequence[AssetWrite] = (),
        media: Sequence[tuple[str, str]] = (),
        failures: Sequence[FailureRecord] = (),
        resolved: Sequence[str] = (),
        deleted: Sequence[str] = (),
        withdrawn: Sequence[WithdrawnAsset] = (),
    ) -> object: ...

    # Ownership and the deletion brake (see daemon.engine.withdrawals).
    def live_keys(
        self, source: str, dam_ids: Sequence[str]
    ) -> dict[str, list[tuple[str, str]]]: ...

    def brake_figures(
        self, source: str, families: Iterable[str], window_seconds: float
    ) -> dict[str, BrakeFigures]: ...

    def pending_deletions(self, source: str | None = None) -> list[PendingDeletion]: ...

    def settle_pending(self, source: str, outcomes: Sequence[tuple[int, OwnerAction]]) -> int: ...


class EngineStore(LeaseStore, Protocol):
    """The part of the state store a pass uses (``daemon.store.Store`` implements it)."""

    def load_checkpoint(self, source: str) -> Checkpoint | None: ...

    def start_run(self, source: str) -> int: ...

    def finish_run(
        self, run_id: int, status: RunStatus, counts: RunCounts, error: str | None = None
    ) -> bool: ...


class DriftStore(Protocol):
    """
    What a reconcile reads from the store: states of a page of ids, every state, the owned PIM
    assets, and the media code uploaded for a binary (by checksum key), if any.
    """

    def asset_states(self, source: str, dam_ids: Sequence[str]) -> dict[str, AssetState]: ...

    def iter_asset_states(self, source: str) -> Iterator[AssetState]: ...

    def owned_assets(self, source: str) -> list[OwnedAsset]: ...

    def media_code(self, source: str, checksum: str) -> str | None: ...


class JobStore(EngineStore, DriftStore, Protocol):
    """What the retry and reconcile jobs add: due failures, known ids, backlog counts."""

    def due_failures(self, source: str, now: datetime, limit: int) -> list[Failure]: ...

    def known_ids(self, source: str) -> Iterator[str]: ...

    def failure_counts(self) -> dict[str, FailureCounts]: ...


class InboxStore(Protocol):
    """
    The event inbox of the state store (``daemon.store.Store`` implements it).

    A row is one asset of one event: ``pending`` until a consumer claims it for
    ``claim_seconds`` (each claim is an attempt), then ``done``, back to ``pending`` at its
    ``retry_at``, or ``dead`` at ``max_attempts``. Only the claiming holder settles a row.
    """

    def add_events(self, events: Sequence[DamEvent]) -> InboxAdded: ...

    def claim_events(
        self,
        source: str,
        holder: str,
        *,
        limit: int,
        claim_seconds: float,
        now: datetime | None = None,
    ) -> list[InboxEntry]: ...

    def finish_events(self, ids: Sequence[int], holder: str) -> int: ...

    def release_events(
        self,
        ids: Sequence[int],
        holder: str,
        *,
        error: str,
        retry_at: datetime,
        max_attempts: int,
    ) -> int: ...

    def unclaim_events(self, ids: Sequence[int], holder: str) -> int: ...

    def prune_events(self, before: datetime) -> int: ...

    def inbox_depth(self) -> dict[str, InboxDepth]: ...


class InboxConsumerStore(LeaseStore, InboxStore, Protocol):
    """What the inbox consumer uses of the store: the source's lease and the inbox."""


class ChangeSource(Protocol):
    """What a pass reads from a DAM: its clock and the changes of a window."""

    name: str
    sorted_by_cursor: bool

    async def server_now(self) -> datetime: ...

    def changes(self, window: Window) -> AsyncIterator[SourcePage]: ...


class JobSource(ChangeSource, Protocol):
    """What the retry and reconcile jobs add: assets by id, and every live id."""

    async def fetch(self, ids: Sequence[str]) -> SourcePage: ...

    def all_ids(self) -> AsyncIterator[Sequence[str]]: ...


class StructureStore(Protocol):
    """
    Where the structure cache keeps its persisted copy (``daemon.store.Store`` implements it).

    Rows are keyed by a PIM identity that is not a secret (its base URL without credentials).
    """

    def load_structure(self, pim: str, since: datetime) -> StructureSnapshots: ...

    def save_structure(
        self,
        pim: str,
        families: Sequence[FamilySnapshot] = (),
        channels: ChannelsSnapshot | None = None,
    ) -> None: ...

    def drop_structure(
        self, pim: str, families: Sequence[str] | None = None, *, channels: bool = False
    ) -> None: ...


class DamClockStore(Protocol):
    """Where a source's last DAM clock reading is kept between processes."""

    def dam_clock(self, source: str) -> DamClockReading | None: ...

    def save_dam_clock(self, source: str, reading: DamClockReading) -> None: ...


class PassObserver(Protocol):
    """Progress and metrics hooks of a pass (the CLI's progress bar, the daemon's metrics)."""

    def batch_done(self, source: str, report: BatchReport, duration: float) -> None: ...

    def pass_done(self, result: PassResult) -> None: ...


class BacklogObserver(Protocol):
    """Where the failure backlog of a source is reported (the daemon's metrics)."""

    def set_backlog(self, source: str, *, pending: int, dead_letters: int) -> None: ...


class DeletionObserver(Protocol):
    """Where the deletions the brake holds for a source are reported (the daemon's metrics)."""

    def set_pending_deletions(self, source: str, count: int) -> None: ...


class LinkObserver(Protocol):
    """
    Where direct product link writes are reported (the daemon's metrics): products (or models)
    PATCHed, and assets whose links failed, once their outcome is recorded.
    """

    def product_links_written(self, source: str, *, patched: int, failed: int) -> None: ...


class DriftObserver(Protocol):
    """Where a reconcile's findings are reported (the daemon's metrics)."""

    def reconcile_finished(
        self, source: str, drift: Mapping[tuple[str, str], int], *, finished_at: datetime
    ) -> None: ...


class EventObserver(Protocol):
    """
    Where consumed inbox events are reported (the daemon's metrics).

    ``latencies`` are the seconds from each finished row's receipt to the end of its write
    (event-to-PIM latency).
    """

    def events_consumed(
        self, source: str, latencies: Sequence[float], report: ConsumeReport
    ) -> None: ...


class JobObserver(PassObserver, BacklogObserver, DeletionObserver, DriftObserver, Protocol):
    """Every observer in one (the daemon's metrics)."""


__all__ = [
    "BacklogObserver",
    "BatchStore",
    "ChangeSource",
    "DamClockStore",
    "DriftObserver",
    "DeletionObserver",
    "DriftStore",
    "EngineStore",
    "EventObserver",
    "InboxConsumerStore",
    "InboxStore",
    "JobObserver",
    "JobSource",
    "JobStore",
    "LeaseStore",
    "LinkObserver",
    "PassObserver",
    "PimAssetLookup",
    "PimAssetView",
    "PimReader",
    "PimWriter",
    "StructureStore",
    "UpsertResult",
]
