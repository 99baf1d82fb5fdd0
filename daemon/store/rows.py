"""
The state store's records and policies: frozen, slotted, no I/O.

What the sync engine hands in (:class:`AssetWrite`, :class:`FailureRecord`), what it reads back
(:class:`Checkpoint`, :class:`Lease`, :class:`AssetState`, :class:`Failure`,
:class:`RunSummary`), the retry schedule (:class:`BackoffPolicy`) and the store's own errors,
which extend :class:`daemon.core.errors.CheckpointError` with fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from daemon.core.errors import CheckpointError, SyncError, TransientError
from daemon.core.records import Cursor, Window, require_utc

RunStatus = Literal["running", "success", "partial", "failed", "aborted"]

#: Run statuses that count as a good pass for ``last_success`` (``partial``: the pass finished,
#: some items were recorded as failures).
SUCCESS_STATUSES: tuple[RunStatus, ...] = ("success", "partial")

#: One value of a PIM asset: ``(attribute, locale, channel)``.
ValueKey = tuple[str, str | None, str | None]


# --- errors ---------------------------------------------------------------------------------


class LeaseLostError(CheckpointError):
    """
    A write carried a lease epoch that is no longer current: another holder took over.

    Args:
        source: The source whose checkpoint was to be written.
        epoch: The stale epoch the writer held.
    """

    def __init__(self, *, source: str, epoch: int) -> None:
        self.source = source
        self.epoch = epoch
        super().__init__(
            f"source {source!r}: lease epoch {epoch} is no longer current; "
            "the batch was not committed (another holder or an operator rewind took over)"
        )


class SchemaNotAtHeadError(CheckpointError):
    """
    The database schema is not the one this damsync version expects.

    Args:
        current: The database's revision(s), empty when it has none.
        head: The migrations' head revision(s).
        unknown: The database is at a revision this version does not know (it is newer).
    """

    def __init__(
        self, *, current: tuple[str, ...], head: tuple[str, ...], unknown: bool = False
    ) -> None:
        self.current = current
        self.head = head
        self.unknown = unknown
        at = ", ".join(current) or "no revision (empty database)"
        want = ", ".join(head)
        if unknown:
            message = (
                f"database schema is at {at}, which this damsync version does not know "
                f"(expected head {want}): upgrade damsync or point it at another database"
            )
        else:
            message = f"database schema is at {at}, expected head {want}: run `damsync db upgrade`"
        super().__init__(message)


class StoreUnavailableError(SyncError, TransientError):
    """
    The database could not be reached or was busy; a later attempt may succeed.

    Args:
        operation: The store operation (``commit_batch``, ``acquire_lease``, ...).
        reason: The driver's one-line reason (never the URL or statement parameters).
    """

    def __init__(self, *, operation: str, reason: str) -> None:
        self.operation = operation
        self.reason = reason
        super().__init__(f"state store unavailable during {operation}: {reason}")


# --- policies -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """
    When a failed asset is tried again.

    Args:
        base_seconds: Wait after the first failure.
        factor: Multiplier per further attempt.
        max_seconds: Cap of one wait.
        max_attempts: After this many failed attempts the asset is dead-lettered.
    """

    base_seconds: float = 60.0
    factor: float = 2.0
    max_seconds: float = 6 * 3600.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.factor < 1 or self.max_seconds < self.base_seconds:
            raise ValueError(f"invalid backoff policy {self!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")

    def delay(self, attempts: int) -> timedelta:
        """
        The wait after the ``attempts``-th failure (1-based).

        Args:
            attempts: Failed attempts so far, this one included.

        Returns:
            ``base * factor ** (attempts - 1)``, capped at ``max_seconds``.
        """
        exponent = max(attempts - 1, 0)
        # Cap the exponent before the power so that a huge attempt count cannot overflow.
        seconds = self.max_seconds
        if exponent < 64:
            seconds = min(self.max_seconds, self.base_seconds * self.factor**exponent)
        return timedelta(seconds=seconds)


# --- records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lease:
    """
    The right to write one source's checkpoint; ``epoch`` is its fencing token.

    Args:
        source: The source name.
        holder: Who holds it (host/process id).
        epoch: Increments on every change of holder; a renewal keeps it.
        expires_at: On the database clock.
    """

    source: str
    holder: str
    epoch: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class HeldLease:
    """
    Who holds a source's lease and until when: what a skipped pass reports (never a right to
    write; only :class:`Lease` carries the epoch).

    Args:
        source: The source name.
        holder: Who holds it (``host:pid:starttime``; ``host:pid`` from older versions).
        expires_at: On the database clock.
    """

    source: str
    holder: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """
    What one replica heartbeat saw: the live replicas and the sources already taken.

    Args:
        live: Each live replica (this one included) and how many of the sources asked about
            it holds a valid lease on.
        taken: The sources asked about whose lease is valid now, whoever holds it.
    """

    live: dict[str, int]
    taken: frozenset[str]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """
    Where a source's incremental read stands.

    Args:
        source: The source name.
        cursor: The last fully acknowledged ``(updated_at, id)``, or ``None`` before the first.
        window: The window of the last committed batch, if any.
        epoch: The lease epoch allowed to write it.
        updated_at: When it was last written (database clock of the writer's transaction).
    """

    source: str
    cursor: Cursor | None
    window: Window | None
    epoch: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AssetWrite:
    """
    One asset the PIM accepted, as the engine reports it to :meth:`Store.commit_batch`.

    Args:
        dam_id: The DAM id.
        family: The Akeneo asset family.
        code: The Akeneo asset code.
        content_hash: Hash of the patch that was written (a no-op skip compares it).
        request_id: The PIM request that wrote it (the engine's id for the bulk PATCH).
        binary_checksum: Checksum of the binary, if the asset has one.
        media_code: The media file code that binary has in the PIM.
        dam_updated_at: The DAM's ``updated_at`` of the version written.
        managed_values: The values damsync now manages in that PIM asset (those it wrote and
            has not erased); ``None`` records "unknown", which erases nothing later.
    """

    dam_id: str
    family: str
    code: str
    content_hash: str
    request_id: str | None = None
    binary_checksum: str | None = None
    media_code: str | None = None
    dam_updated_at: datetime | None = None
    managed_values: frozenset[ValueKey] | None = None

    def __post_init__(self) -> None:
        if self.dam_updated_at is not None:
            object.__setattr__(
                self, "dam_updated_at", require_utc(self.dam_updated_at, "dam_updated_at")
            )


@dataclass(frozen=True, slots=True)
class AssetState:
    """
    What the store knows about one DAM asset of one source.

    ``managed_values`` are the values damsync manages in the PIM asset (see
    :class:`AssetWrite`); ``None`` when unknown: rows written before revision 0003, and
    write intents.
    """

    source: str
    dam_id: str
    family: str
    code: str
    content_hash: str
    binary_checksum: str | None
    media_code: str | None
    dam_updated_at: datetime | None
    deleted: bool
    last_synced_at: datetime
    run_id: int | None
    request_id: str | None
    managed_values: frozenset[ValueKey] | None = None


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """
    One asset that failed in a batch, as the engine reports it.

    Args:
        dam_id: The DAM id.
        stage: Where it failed (``fetch``, ``map``, ``upload``, ``patch``, ``delete``, ...).
        error_type: The error class name (``MappingError``, ``PimRejected``, ...).
        detail: The error message (names the field and why; never a secret).
        permanent: Retrying the same input fails the same way: dead-lettered at once, never
            retried blindly.
        dam_updated_at: The DAM's ``updated_at`` of the failing version, if known.
    """

    dam_id: str
    stage: str
    error_type: str
    detail: str
    permanent: bool = False
    dam_updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.dam_updated_at is not None:
            object.__setattr__(
                self, "dam_updated_at", require_utc(self.dam_updated_at, "dam_updated_at")
            )


@dataclass(frozen=True, slots=True)
class Failure:
    """A row of the failures table: an asset waiting for a retry, or dead-lettered."""

    id: int
    source: str
    dam_id: str
    stage: str
    error_type: str
    detail: str
    attempts: int
    permanent: bool
    dead_lettered: bool
    first_failed_at: datetime
    last_failed_at: datetime
    next_attempt_at: datetime | None
    dam_updated_at: datetime | None
    run_id: int | None


#: Failed attempts kept per asset in the failure trail; older ones are deleted as new ones come.
ATTEMPTS_KEPT = 20


@dataclass(frozen=True, slots=True)
class FailureAttempt:
    """One failed attempt of an asset, as the failure trail keeps it (full reason)."""

    attempt: int
    stage: str
    error_type: str
    detail: str
    failed_at: datetime
    run_id: int | None


@dataclass(frozen=True, slots=True)
class FailureCounts:
    """Per source: failures still scheduled for a retry, and dead letters."""

    pending: int
    dead: int


@dataclass(frozen=True, slots=True)
class RunCounts:
    """How many assets a run saw and what became of them."""

    seen: int = 0
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    dead_lettered: int = 0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) < 0:
                raise ValueError(f"RunCounts.{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One row of the runs audit trail."""

    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    counts: RunCounts
    error: str | None


__all__ = [
    "ATTEMPTS_KEPT",
    "SUCCESS_STATUSES",
    "AssetState",
    "AssetWrite",
    "BackoffPolicy",
    "Checkpoint",
    "Failure",
    "FailureAttempt",
    "FailureCounts",
    "FailureRecord",
    "HeldLease",
    "Lease",
    "LeaseLostError",
    "ReplicaView",
    "RunCounts",
    "RunStatus",
    "RunSummary",
    "SchemaNotAtHeadError",
    "StoreUnavailableError",
    "ValueKey",
]
