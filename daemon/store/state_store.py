"""
:class:`Store`: the one facade the sync engine, the runtime and the CLI use for durable state.

It is synchronous (plain SQLAlchemy, one short session per call, one transaction per batch):
calls are short, so the engine calls them directly or through ``asyncio.to_thread``. Driver
errors are translated here, at the store's single boundary: connection trouble becomes
:class:`StoreUnavailableError` (transient), anything else a :class:`CheckpointError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Engine, and_, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from daemon.core.errors import CheckpointError
from daemon.core.records import Cursor, Window
from daemon.store import database as engines
from daemon.store import failures as queries
from daemon.store import fencing as leases
from daemon.store.batch_commit import (
    BatchResult,
    chunks,
    commit_batch,
    record_intents,
    record_media,
    upsert,
)
from daemon.store.rows import (
    AssetState,
    AssetWrite,
    BackoffPolicy,
    Checkpoint,
    Failure,
    FailureCounts,
    FailureRecord,
    Lease,
    RunCounts,
    RunStatus,
    RunSummary,
    StoreUnavailableError,
)
from daemon.store.tables import asset_states, media_files, source_configs

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    """The default clock: aware UTC."""
    return datetime.now(UTC)


class Store:
    """
    Durable state of every source: leases, checkpoints, asset states, media, failures, runs.

    Args:
        engine: A SQLAlchemy engine from :func:`daemon.store.database.make_engine`.
        backoff: When failed assets are retried and when they are dead-lettered.
        clock: Aware-UTC clock for bookkeeping times (lease expiry uses the database clock).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        backoff: BackoffPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._dialect = engine.dialect.name
        self.backoff = backoff or BackoffPolicy()
        self._clock = clock

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

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for health checks and tests)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._dialect

    # --- lifecycle and schema ---------------------------------------------------------------

    def upgrade(self, *, lock_timeout: float = 60.0) -> tuple[str, ...]:
        """
        Apply pending migrations (PostgreSQL: under an advisory lock, bounded wait).

        Returns:
            The revision(s) the database is at afterwards.
        """
        url = self._engine.url.render_as_string(hide_password=False)
        with self._translated("upgrade"):
            return engines.upgrade(url, lock_timeout=lock_timeout)

    def current_revision(self) -> str | None:
        """The database's schema revision, ``None`` for a database never migrated."""
        with self._translated("current_revision"):
            current = engines.current_revisions(self._engine)
        return ",".join(current) or None

    def check_at_head(self) -> None:
        """
        Refuse to run on a schema that is not at head.

        Raises:
            SchemaNotAtHeadError: Names the current and expected revisions and the fix.
        """
        with self._translated("check_at_head"):
            engines.check_at_head(self._engine)

    def ping(self) -> None:
        """Round-trip to the database; raises :class:`StoreUnavailableError` when down."""
        with self._translated("ping"), self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def check_writable(self, timeout: float = 1.0) -> None:
        """
        SQLite only: fail when another process holds the write lock longer than ``timeout``.

        ``SELECT 1`` still succeeds under another writer's lock (WAL readers are never
        blocked), so readiness would stay green while every batch commit fails.

        Raises:
            StoreUnavailableError: The database is locked for writing.
        """
        if self._dialect != "sqlite":
            return
        with self._translated("check_writable"):
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                try:
                    cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
                    try:
                        cursor.execute("BEGIN IMMEDIATE")
                        cursor.execute("ROLLBACK")
                    except sqlite3.OperationalError as exc:
                        raise StoreUnavailableError(
                            operation="check_writable", reason=f"database is locked ({exc})"
                        ) from exc
                    finally:
                        cursor.execute(f"PRAGMA busy_timeout = {engines.SQLITE_BUSY_TIMEOUT_MS}")
                finally:
                    cursor.close()
            finally:
                raw.close()

    def dispose(self) -> None:
        """Close every pooled connection (idempotent)."""
        self._engine.dispose()

    @contextmanager
    def _translated(self, operation: str) -> Iterator[None]:
        try:
            yield
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
            reason = _reason(exc)
            log.warning("store.unavailable", operation=operation, reason=reason)
            raise StoreUnavailableError(operation=operation, reason=reason) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise CheckpointError(f"state store {operation} failed: {_reason(exc)}") from exc

    @contextmanager
    def _read(self, operation: str) -> Iterator[Session]:
        with self._translated(operation), Session(self._engine) as session:
            yield session

    @contextmanager
    def _write(self, operation: str) -> Iterator[Session]:
        with self._translated(operation), Session(self._writer) as session, session.begin():
            yield session

    # --- leases -----------------------------------------------------------------------------

    def lease_holder(self, source: str) -> str | None:
        """Who holds ``source``'s lease (valid or expired), if anybody."""
        with self._read("lease_holder") as session:
            return leases.holder(session, source)

    def acquire_lease(
        self, source: str, holder: str, ttl_seconds: float, *, takeover: str | None = None
    ) -> Lease | None:
        """
        Take or renew the lease on ``source``'s checkpoint.

        Args:
            source: The source name.
            holder: Who asks (stable per process, e.g. ``host:pid``).
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
        log.debug(
            "store.batch_committed",
            source=lease.source,
            run_id=run_id,
            written=len(written),
            failed=len(failures),
            dead_lettered=len(result.dead_lettered),
        )
        return result

    # --- asset state ------------------------------------------------------------------------

    def mapping_changed(self, source: str, mapping_hash: str) -> bool:
        """
        Store ``mapping_hash`` as the mapping ``source`` now runs with.

        Returns:
            True when a different mapping was stored before (not on the first call).
        """
        with self._write("mapping_changed") as session:
            before = session.execute(
                select(source_configs.c.mapping_hash).where(source_configs.c.source == source)
            ).scalar()
            if before == mapping_hash:
                return False
            stmt = upsert(session, source_configs)
            row = {"source": source, "mapping_hash": mapping_hash, "updated_at": self._clock()}
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[source_configs.c.source],
                    set_={"mapping_hash": mapping_hash, "updated_at": row["updated_at"]},
                ),
                [row],
            )
        return before is not None

    def record_media(self, source: str, checksum: str, media_code: str) -> None:
        """
        Remember an upload at once, outside any batch: the binary exists in the PIM from now
        on, whatever happens to its batch, so a crash never makes us upload it again.
        """
        with self._write("record_media") as session:
            record_media(session, source, {checksum: media_code}, self._clock())

    def record_intents(self, source: str, intents: Sequence[tuple[str, str, str]]) -> None:
        """Note ``(dam_id, family, code)`` of assets about to be written (see batch module)."""
        with self._write("record_intents") as session:
            record_intents(session, source, intents, self._clock())

    def asset_states(self, source: str, dam_ids: Sequence[str]) -> dict[str, AssetState]:
        """The known state of ``dam_ids`` (bulk read for one batch); unknown ids are absent."""
        found: dict[str, AssetState] = {}
        with self._read("asset_states") as session:
            for part in chunks(sorted(set(dam_ids))):
                query = select(asset_states).where(
                    asset_states.c.source == source, asset_states.c.dam_id.in_(part)
                )
                for row in session.execute(query):
                    found[row.dam_id] = _to_state(row)
        return found

    def media_code(self, source: str, checksum: str) -> str | None:
        """The media file code of a binary already uploaded for ``source``, by checksum."""
        with self._read("media_code") as session:
            return session.execute(
                select(media_files.c.media_code).where(
                    and_(media_files.c.source == source, media_files.c.checksum == checksum)
                )
            ).scalar_one_or_none()

    def known_ids(self, source: str, *, batch_size: int = 1000) -> Iterator[str]:
        """Stream the DAM ids of ``source`` not flagged deleted, in id order (reconciliation)."""
        with self._translated("known_ids"), self._engine.connect() as conn:
            result = conn.execution_options(yield_per=batch_size).execute(
                select(asset_states.c.dam_id)
                .where(asset_states.c.source == source, asset_states.c.deleted.is_(False))
                .order_by(asset_states.c.dam_id)
            )
            for row in result:
                yield row.dam_id

    # --- failures ---------------------------------------------------------------------------

    def due_failures(self, source: str, now: datetime, limit: int) -> list[Failure]:
        """Failures due for a retry at ``now``, earliest first (never dead or permanent)."""
        with self._read("due_failures") as session:
            return queries.due_failures(session, source, now, limit)

    def list_failures(self, source: str | None = None, dead: bool | None = None) -> list[Failure]:
        """Every failure, optionally filtered by source and dead-letter state."""
        with self._read("list_failures") as session:
            return queries.list_failures(session, source, dead)

    def get_failure(self, failure_id: int) -> Failure | None:
        """One failure by id."""
        with self._read("get_failure") as session:
            return queries.get_failure(session, failure_id)

    def retry_failure(self, target: queries.Target, *, source: str | None = None) -> int:
        """Make one failure (or ``"all"``, optionally of one source) due now; returns how many."""
        with self._write("retry_failure") as session:
            return queries.retry_failures(session, target, source, self._clock())

    def forget_failure(self, target: queries.Target, *, source: str | None = None) -> int:
        """Delete one failure (or ``"all"``, optionally of one source); returns how many."""
        with self._write("forget_failure") as session:
            return queries.forget_failures(session, target, source)

    def failure_counts(self) -> dict[str, FailureCounts]:
        """Pending and dead-lettered failures per source (sources without any are absent)."""
        with self._read("failure_counts") as session:
            return queries.failure_counts(session)

    # --- runs -------------------------------------------------------------------------------

    def start_run(self, source: str) -> int:
        """Open a run in the audit trail; returns its id."""
        with self._write("start_run") as session:
            return queries.start_run(session, source, self._clock())

    def finish_run(
        self, run_id: int, status: RunStatus, counts: RunCounts, error: str | None = None
    ) -> bool:
        """Close a run with its outcome counts; ``False`` when no such run exists."""
        with self._write("finish_run") as session:
            return queries.finish_run(session, run_id, status, counts, error, self._clock())

    def last_runs(self, source: str, n: int = 10) -> list[RunSummary]:
        """The ``n`` latest runs of ``source``, newest first."""
        with self._read("last_runs") as session:
            return queries.last_runs(session, source, n)

    def last_success(self, source: str) -> datetime | None:
        """When the latest ``success``/``partial`` run of ``source`` finished."""
        with self._read("last_success") as session:
            return queries.last_success(session, source)


def _to_state(row: Any) -> AssetState:
    return AssetState(
        source=row.source,
        dam_id=row.dam_id,
        family=row.family,
        code=row.code,
        content_hash=row.content_hash,
        binary_checksum=row.binary_checksum,
        media_code=row.media_code,
        dam_updated_at=row.dam_updated_at,
        deleted=bool(row.deleted),
        last_synced_at=row.last_synced_at,
        run_id=row.run_id,
        request_id=row.request_id,
    )


def _reason(exc: sa_exc.SQLAlchemyError) -> str:
    """The driver's first line, without the statement or its parameters."""
    orig = getattr(exc, "orig", None)
    source = orig if orig is not None else exc
    lines = str(source).strip().splitlines()
    return f"{type(source).__name__}: {lines[0] if lines else ''}".strip()


__all__ = ["Store", "utcnow"]
