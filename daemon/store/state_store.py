"""
:class:`Store`: the one facade the sync engine, the runtime and the CLI use for durable state.

It is synchronous (plain SQLAlchemy, one short session per call, one transaction per batch):
calls are short, so the engine calls them directly or through ``asyncio.to_thread``. Driver
errors are translated at the store's single boundary, :class:`SessionBoundary`: connection
trouble becomes :class:`StoreUnavailableError` (transient), anything else a
:class:`CheckpointError`.

This module holds the leases, the checkpoints and the batch commit they fence; the other
concerns are mixed in from their own modules (schema and health, asset states and media
codes, failures and runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from daemon.core.errors import CheckpointError
from daemon.core.lazy_log import LazyLogger
from daemon.core.records import Cursor, Window
from daemon.store import database as engines
from daemon.store import fencing as leases
from daemon.store.asset_access import AssetAccess
from daemon.store.batch_commit import BatchResult, commit_batch
from daemon.store.clock_readings import ClockReadingAccess
from daemon.store.failure_access import FailureAccess, RunAccess
from daemon.store.inbox import InboxAccess
from daemon.store.inbox_admin import InboxAdmin
from daemon.store.ownership import OwnershipAccess, WithdrawnAsset, record_withdrawn
from daemon.store.rows import (
    AssetWrite,
    BackoffPolicy,
    Checkpoint,
    FailureRecord,
    HeldLease,
    Lease,
    ReplicaView,
)
from daemon.store.schema_health import SchemaHealth
from daemon.store.session_boundary import utcnow
from daemon.store.structure_snapshots import StructureSnapshotAccess

log = LazyLogger(__name__)


class Store(
    SchemaHealth,
    AssetAccess,
    FailureAccess,
    RunAccess,
    OwnershipAccess,
    InboxAccess,
    InboxAdmin,
    StructureSnapshotAccess,
    ClockReadingAccess,
):
    """
    Durable state of every source: leases, checkpoints, asset states, media, failures, runs.

    Args:
        engine: A SQLAlchemy engine from :func:`daemon.store.database.make_engine`.
        backoff: When failed assets are retried and when they are dead-lettered.
        clock: Aware-UTC clock for bookkeeping times (lease expiry uses the database clock).
    """

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        backoff: BackoffPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> Store:
        """
        Open the store at ``url`` (no connection is made until first use).

        Args:
            url: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``.
            backoff: Retry policy for failed assets.
            clock: Aware-UTC clock.

        Returns:
            The store; call :meth:`dispose` when done.
        """
        return cls(engines.make_engine(url), backoff=backoff, clock=clock)

    def __repr__(self) -> str:
        return f"Store({self._engine.url.render_as_string(hide_password=True)!r})"

    # --- leases -----------------------------------------------------------------------------

    @property
    def single_host(self) -> bool:
        """
        Whether every lease holder runs on this host, so a dead one can be recognised.

        True for a SQLite file. A PostgreSQL database is shared by hosts whose names and process
        ids may coincide (containers), so its leases are only ever taken over on expiry.
        """
        return self.dialect == "sqlite"

    def lease_holder(self, source: str) -> str | None:
        """Who holds ``source``'s lease (valid or expired), if anybody."""
        with self._read("lease_holder") as session:
            return leases.holder(session, source)

    def lease_held(self, source: str) -> HeldLease | None:
        """Who holds ``source``'s lease (valid or expired) and until when, if anybody."""
        with self._read("lease_held") as session:
            return leases.held(session, source)

    def acquire_lease(
        self, source: str, holder: str, ttl_seconds: float, *, takeover: str | None = None
    ) -> Lease | None:
        """
        Take or renew the lease on ``source``'s checkpoint.

        Args:
            source: The source name.
            holder: Who asks (stable per process: ``host:pid:starttime``).
            ttl_seconds: Lifetime from now, on the database clock.
            takeover: A holder known to be dead whose lease may be taken at once.

        Returns:
            The lease (``epoch`` +1 when the holder changed, kept on renewal), or ``None``
            while another holder's lease is still valid.
        """
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be > 0, got {ttl_seconds}")
        with self._write("acquire_lease") as session:
            lease = leases.acquire(
                session, source, holder, ttl_seconds, self._clock(), takeover=takeover
            )
        if lease is not None:
            log.debug("store.lease_acquired", source=source, holder=holder, epoch=lease.epoch)
        return lease

    def release_lease(self, lease: Lease) -> bool:
        """
        Give the lease up; its epoch is bumped so that it can never write again.

        Returns:
            ``False`` when the lease had already been lost.
        """
        with self._write("release_lease") as session:
            released = leases.release(session, lease, self._clock())
        log.debug("store.lease_released", source=lease.source, epoch=lease.epoch, ok=released)
        return released

    def renew_lease(self, lease: Lease, ttl_seconds: float) -> Lease | None:
        """
        Extend ``lease`` to ``ttl_seconds`` from now (database clock), keeping its epoch.

        Returns:
            The renewed lease, or ``None`` when it was lost (taken over, released, rewound):
            a lost lease is never renewed back, even when nobody holds the source now.
        """
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be > 0, got {ttl_seconds}")
        with self._write("renew_lease") as session:
            return leases.renew(session, lease, ttl_seconds)

    def lease_standings(self) -> list[leases.LeaseStanding]:
        """
        Who owns each source and since when: every lease row with the database clock.

        Read-only (a status readout, never a right to write: only a held ``Lease`` is).
        """
        with self._read("lease_standings") as session:
            return leases.lease_standings(session)

    # --- replicas ---------------------------------------------------------------------------

    def replica_heartbeat(
        self, replica: str, ttl_seconds: float, sources: Sequence[str]
    ) -> ReplicaView:
        """
        Announce ``replica`` as live for ``ttl_seconds`` (database clock) and read the others.

        Rows of replicas whose heartbeat expired are deleted in the same transaction.

        Returns:
            The live replicas with the number of ``sources`` each holds a valid lease on, and
            which of ``sources`` are taken.
        """
        with self._write("replica_heartbeat") as session:
            return leases.beat(session, replica, ttl_seconds, list(sources))

    def other_replicas(self, replica: str) -> list[str]:
        """The live replicas other than ``replica`` (their heartbeat has not expired)."""
        with self._read("other_replicas") as session:
            return leases.other_replicas(session, replica)

    def forget_replica(self, replica: str) -> bool:
        """Delete ``replica``'s heartbeat row (it stops, or is known dead)."""
        with self._write("forget_replica") as session:
            return leases.forget_replica(session, replica)

    # --- checkpoints ------------------------------------------------------------------------

    def load_checkpoint(self, source: str) -> Checkpoint | None:
        """The checkpoint of ``source``, or ``None`` if it never held a lease."""
        with self._read("load_checkpoint") as session:
            return leases.load_checkpoint(session, source)

    def rewind(self, source: str, since: datetime | None) -> Checkpoint:
        """
        Operator command: move the cursor of ``source`` back to ``since`` (``None``: re-read all).

        The lease epoch is bumped and the holder cleared, so a running daemon's next batch
        commit fails with :class:`LeaseLostError`; it re-acquires and reloads the rewound
        checkpoint instead of writing its newer cursor back over it.

        Returns:
            The rewound checkpoint.
        """
        cursor = None if since is None else Cursor(since, "")
        with self._write("rewind") as session:
            epoch = leases.rewind(session, source, cursor, self._clock())
            checkpoint = leases.load_checkpoint(session, source)
        log.info("store.checkpoint_rewound", source=source, since=since, epoch=epoch)
        if checkpoint is None:  # pragma: no cover - written in the transaction above
            raise CheckpointError(f"source {source!r}: rewound checkpoint vanished")
        return checkpoint

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
    ) -> BatchResult:
        """
        Record one PIM-acknowledged batch in ONE transaction, fenced by the lease epoch.

        Args:
            lease: The caller's lease; a stale epoch raises and writes nothing.
            run_id: The run that did the work (from :meth:`start_run`).
            cursor: The new cursor; the stored one only moves forward (max is kept).
            window: The window the batch was read from; stored, and the cursor must lie in it.
            written: Assets the PIM accepted (their open failures are resolved).
            media: ``(binary checksum, media file code)`` pairs uploaded in this batch.
            failures: Assets that failed: attempts +1, next attempt by backoff, dead-lettered
                after ``backoff.max_attempts`` or at once when ``permanent``.
            resolved: DAM ids whose open failure is settled (e.g. skipped as unchanged).
            deleted: DAM ids deleted in the PIM (state kept, flagged deleted).
            withdrawn: PIM assets withdrawn by the source's deletion policy, or held by the
                brake (their owner rows and pending rows; see :mod:`daemon.store.ownership`).

        Returns:
            The committed cursor and which failures were scheduled or dead-lettered.

        Raises:
            LeaseLostError: Another holder (or a rewind) took the lease over.
            StoreUnavailableError: The database could not be reached; nothing was written.
        """
        now = self._clock()
        with self._write("commit_batch") as session:
            result = commit_batch(
                session,
                lease,
                run_id,
                now=now,
                backoff=self.backoff,
                cursor=cursor,
                window=window,
                written=written,
                media=media,
                failed=failures,
                resolved=resolved,
                deleted=deleted,
            )
            record_withdrawn(session, lease.source, withdrawn, now)  # after the fence above
        log.debug(
            "store.batch_committed",
            source=lease.source,
            run_id=run_id,
            written=len(written),
            failed=len(failures),
            dead_lettered=len(result.dead_lettered),
        )
        return result


__all__ = ["Store", "utcnow"]
