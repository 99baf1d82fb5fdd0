"""
Queries on the failures table (retry queue and dead letters) and the runs audit trail.

Functions take an open :class:`~sqlalchemy.engine.Connection`; the :class:`~daemon.store.Store`
facade owns transactions. Writes to failures made by the engine go through the batch commit; the
functions here serve the retry loop and the operator commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection, Row, exists, func, select, update

from daemon.store.rows import (
    SUCCESS_STATUSES,
    Failure,
    FailureAttempt,
    FailureCounts,
    RunCounts,
    RunStatus,
    RunSummary,
)
from daemon.store.tables import RUN_STATUSES, failure_attempts, failures, runs

Target = int | Literal["all"]


def to_failure(row: Row[Any]) -> Failure:
    """Build a :class:`Failure` from a full row of the failures table."""
    return Failure(
        id=row.id,
        source=row.source,
        dam_id=row.dam_id,
        stage=row.stage,
        error_type=row.error_type,
        detail=row.detail,
        attempts=row.attempts,
        permanent=bool(row.permanent),
        dead_lettered=bool(row.dead_lettered),
        first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at,
        next_attempt_at=row.next_attempt_at,
        dam_updated_at=row.dam_updated_at,
        run_id=row.run_id,
    )


def due_failures(session: Connection, source: str, now: datetime, limit: int) -> list[Failure]:
    """Failures of ``source`` due for a retry at ``now``, earliest first."""
    query = (
        select(failures)
        .where(
            failures.c.source == source,
            failures.c.dead_lettered.is_(False),
            failures.c.next_attempt_at.is_not(None),
            failures.c.next_attempt_at <= now,
        )
        .order_by(failures.c.next_attempt_at, failures.c.id)
        .limit(limit)
    )
    return [to_failure(row) for row in session.execute(query)]


def list_failures(session: Connection, source: str | None, dead: bool | None) -> list[Failure]:
    """Every failure, optionally of one source and/or only (not) dead-lettered ones."""
    query = select(failures).order_by(failures.c.source, failures.c.id)
    if source is not None:
        query = query.where(failures.c.source == source)
    if dead is not None:
        query = query.where(failures.c.dead_lettered.is_(dead))
    return [to_failure(row) for row in session.execute(query)]


def get_failure(session: Connection, failure_id: int) -> Failure | None:
    """One failure by id."""
    row = session.execute(select(failures).where(failures.c.id == failure_id)).first()
    return None if row is None else to_failure(row)


def failure_trail(session: Connection, source: str, dam_id: str) -> list[FailureAttempt]:
    """The kept attempts of one asset's open failure, oldest first."""
    query = (
        select(failure_attempts)
        .where(failure_attempts.c.source == source, failure_attempts.c.dam_id == dam_id)
        .order_by(failure_attempts.c.attempt)
    )
    return [
        FailureAttempt(
            attempt=row.attempt,
            stage=row.stage,
            error_type=row.error_type,
            detail=row.detail,
            failed_at=row.failed_at,
            run_id=row.run_id,
        )
        for row in session.execute(query)
    ]


def _targeted(target: Target, source: str | None) -> list[Any]:
    clauses: list[Any] = []
    if target != "all":
        clauses.append(failures.c.id == target)
    if source is not None:
        clauses.append(failures.c.source == source)
    return clauses


def retry_failures(session: Connection, target: Target, source: str | None, now: datetime) -> int:
    """Make failures due at ``now``, un-dead-lettered, with a fresh attempt count."""
    result = session.execute(
        update(failures)
        .where(*_targeted(target, source))
        .values(next_attempt_at=now, dead_lettered=False, permanent=False, attempts=0)
    )
    return int(result.rowcount)


def forget_failures(session: Connection, target: Target, source: str | None) -> int:
    """Delete failures and their trails; the assets come back only when the DAM changes them."""
    of_forgotten = exists().where(
        failures.c.source == failure_attempts.c.source,
        failures.c.dam_id == failure_attempts.c.dam_id,
        *_targeted(target, source),
    )
    session.execute(failure_attempts.delete().where(of_forgotten))
    result = session.execute(failures.delete().where(*_targeted(target, source)))
    return int(result.rowcount)


def failure_counts(session: Connection) -> dict[str, FailureCounts]:
    """Pending and dead-lettered failures per source."""
    query = select(failures.c.source, failures.c.dead_lettered, func.count()).group_by(
        failures.c.source, failures.c.dead_lettered
    )
    counts: dict[str, dict[bool, int]] = {}
    for source, dead, n in session.execute(query):
        counts.setdefault(source, {})[bool(dead)] = int(n)
    return {
        s: FailureCounts(pending=c.get(False, 0), dead=c.get(True, 0)) for s, c in counts.items()
    }


# --- runs -----------------------------------------------------------------------------------


def start_run(session: Connection, source: str, now: datetime) -> int:
    """Insert a ``running`` run and return its id."""
    row = session.execute(
        runs.insert()
        .values(
            source=source,
            started_at=now,
            status="running",
            seen=0,
            written=0,
            unchanged=0,
            failed=0,
            deleted=0,
            dead_lettered=0,
        )
        .returning(runs.c.id)
    ).one()
    return int(row.id)


def finish_run(
    session: Connection,
    run_id: int,
    status: RunStatus,
    counts: RunCounts,
    error: str | None,
    now: datetime,
) -> bool:
    """Close a run; returns ``False`` when no such run exists."""
    if status not in RUN_STATUSES or status == "running":
        raise ValueError(f"a run finishes as one of {RUN_STATUSES[1:]}, not {status!r}")
    result = session.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(
            finished_at=now,
            status=status,
            error=error,
            seen=counts.seen,
            written=counts.written,
            unchanged=counts.unchanged,
            failed=counts.failed,
            deleted=counts.deleted,
            dead_lettered=counts.dead_lettered,
        )
    )
    return bool(result.rowcount)


def to_run(row: Row[Any]) -> RunSummary:
    """Build a :class:`RunSummary` from a full row of the runs table."""
    return RunSummary(
        id=row.id,
        source=row.source,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=cast(RunStatus, row.status),
        counts=RunCounts(
            seen=row.seen,
            written=row.written,
            unchanged=row.unchanged,
            failed=row.failed,
            deleted=row.deleted,
            dead_lettered=row.dead_lettered,
        ),
        error=row.error,
    )


def last_runs(session: Connection, source: str, n: int) -> list[RunSummary]:
    """The ``n`` latest runs of ``source``, newest first."""
    query = (
        select(runs)
        .where(runs.c.source == source)
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
        .limit(n)
    )
    return [to_run(row) for row in session.execute(query)]


def last_success(
    session: Connection, source: str, statuses: Sequence[str] = SUCCESS_STATUSES
) -> datetime | None:
    """When the latest good run of ``source`` finished."""
    query = select(func.max(runs.c.finished_at)).where(
        runs.c.source == source, runs.c.status.in_(statuses)
    )
    value = session.execute(query).scalar_one_or_none()
    return cast("datetime | None", value)


__all__ = [
    "Target",
    "due_failures",
    "failure_counts",
    "failure_trail",
    "finish_run",
    "forget_failures",
    "get_failure",
    "last_runs",
    "last_success",
    "list_failures",
    "retry_failures",
    "start_run",
    "to_failure",
    "to_run",
]
