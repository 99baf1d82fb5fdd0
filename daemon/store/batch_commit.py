"""
The batch commit: one transaction that records everything a PIM-acknowledged batch changed.

Order inside the transaction: the fenced checkpoint write first (so a stale lease stops
everything before any other row is touched, and on PostgreSQL the checkpoint row lock serialises
writers), then resolved failures (with their trails), media codes, new failures (each with one
more attempt in its trail, the oldest beyond :data:`ATTEMPTS_KEPT` deleted) and finally asset
states. Any error rolls the whole transaction back: a batch is recorded completely or not at all.

Rows go in executemany upserts and ``IN`` lists in one expanding parameter, so a batch costs a
fixed number of statements whatever its size; the statements of every batch are built once per
dialect (:mod:`daemon.store.statements`). What a batch records before its PIM write (claims,
intents) and the media codes of uploads live in :mod:`daemon.store.batch_prepare`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Delete,
    Executable,
    Row,
    Table,
    Update,
    bindparam,
    delete,
    func,
    select,
    update,
)

from daemon.core.errors import CheckpointError
from daemon.core.records import Cursor, Window
from daemon.store.asset_writes import write_assets
from daemon.store.batch_prepare import record_media
from daemon.store.driver_in import driver_in
from daemon.store.product_link_store import activate_wants, settle_unchanged
from daemon.store.rows import (
    ATTEMPTS_KEPT,
    AssetWrite,
    BackoffPolicy,
    FailureRecord,
    Lease,
    LeaseLostError,
)
from daemon.store.statements import CHUNK, chunks, ids_param, upsert
from daemon.store.tables import asset_states, checkpoints, failure_attempts, failures

if TYPE_CHECKING:
    from sqlalchemy import Connection

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BatchResult:
    """
    What :meth:`Store.commit_batch` committed.

    Args:
        cursor: The stored cursor after the commit (never behind the one before).
        dead_lettered: DAM ids that became dead letters in this batch.
        scheduled: DAM ids scheduled for a later retry.
    """

    cursor: Cursor | None
    dead_lettered: tuple[str, ...]
    scheduled: tuple[str, ...]


def _last_wins(items: Iterable[T], key: Any) -> dict[str, T]:
    """Deduplicate by key, keeping the last (one upsert may not touch a row twice on PG)."""
    return {key(item): item for item in items}


def commit_batch(
    session: Connection,
    lease: Lease,
    run_id: int | None,
    *,
    now: datetime,
    backoff: BackoffPolicy,
    cursor: Cursor | None,
    window: Window | None,
    written: Sequence[AssetWrite],
    media: Sequence[tuple[str, str]],
    failed: Sequence[FailureRecord],
    resolved: Sequence[str],
    deleted: Sequence[str],
) -> BatchResult:
    """
    Record one batch inside the caller's transaction; see :meth:`Store.commit_batch`.

    Returns:
        The committed cursor and the failure outcomes.

    Raises:
        LeaseLostError: ``lease.epoch`` is no longer the checkpoint's epoch.
        CheckpointError: The cursor lies outside ``window``.
    """
    source = lease.source
    if cursor is not None and window is not None and not cursor.updated_at < window.until:
        raise CheckpointError(
            f"source {source!r}: cursor {cursor.updated_at.isoformat()} is not below the "
            f"window's upper bound {window.until.isoformat()}"
        )
    stored = _fence(session, lease, now)
    new_cursor = stored if cursor is None or (stored is not None and stored >= cursor) else cursor
    values: dict[str, Any] = {}
    if new_cursor is not None and new_cursor != stored:
        values.update(cursor_updated_at=new_cursor.updated_at, cursor_id=new_cursor.id)
    if window is not None:
        values.update(window_since=window.since, window_until=window.until)
    if values:
        params = {f"new_{name}": value for name, value in values.items()}
        session.execute(
            _move_checkpoint(*sorted(values)),
            {"key_source": source, "key_epoch": lease.epoch, **params},
        )

    failed_by_id = _last_wins(failed, lambda f: f.dam_id)
    cleared = ({w.dam_id for w in written} | set(deleted)) - set(failed_by_id)
    clear_failures = driver_in(session, "clear_failures", _clear_failures)
    clear_attempts = driver_in(session, "clear_attempts", _clear_attempts)
    for part in chunks(sorted(cleared)):
        params = {"source": source, "ids": list(part)}
        clear_failures.run(session, params)
        clear_attempts.run(session, params)
    # An asset found unchanged settles its failures, except a dead-lettered product link one:
    # its links are tried again when the asset is written again (the link writer closes it).
    settle_unchanged(session, source, set(resolved) - cleared - set(failed_by_id))

    codes = {w.binary_checksum: w.media_code for w in written if w.binary_checksum and w.media_code}
    codes.update(dict(media))
    record_media(session, source, codes, now)

    dead, scheduled = _record_failures(session, source, run_id, failed_by_id, now, backoff)
    _record_attempts(session, source, run_id, failed_by_id, now)
    write_assets(session, source, run_id, written, now)
    # Their product links wait for the link writer, recorded with the assets (rule 5).
    activate_wants(session, source, [*(w.dam_id for w in written), *resolved])
    for part in chunks(sorted(set(deleted))):
        params = {"key_source": source, "ids": list(part), "now": now, "run": run_id}
        session.execute(_flag_deleted(), params)
    return BatchResult(cursor=new_cursor, dead_lettered=dead, scheduled=scheduled)


def _fence(session: Connection, lease: Lease, now: datetime) -> Cursor | None:
    """The compare-and-set on the lease epoch; returns the stored cursor."""
    row = session.execute(
        _fence_statement(), {"key_source": lease.source, "key_epoch": lease.epoch, "now": now}
    ).first()
    if row is None:
        raise LeaseLostError(source=lease.source, epoch=lease.epoch)
    if row.cursor_updated_at is None:
        return None
    return Cursor(row.cursor_updated_at, row.cursor_id)


@functools.cache
def _fence_statement() -> Executable:
    c = checkpoints.c
    return (
        update(checkpoints)
        .where(c.source == bindparam("key_source"), c.epoch == bindparam("key_epoch"))
        .values(updated_at=bindparam("now", type_=c.updated_at.type))
        .returning(c.cursor_updated_at, c.cursor_id)
    )


@functools.cache
def _move_checkpoint(*columns: str) -> Update:
    """The checkpoint's new cursor and/or window: ``columns`` set from ``new_<column>``."""
    c = checkpoints.c
    return (
        update(checkpoints)
        .where(c.source == bindparam("key_source"), c.epoch == bindparam("key_epoch"))
        .values({n: bindparam(f"new_{n}", type_=c[n].type) for n in columns})
    )


@functools.cache
def _clear(table: Table) -> Delete:
    """Delete a source's rows of ``table`` (failures, their trails) for the ``ids`` given."""
    return delete(table).where(
        table.c.source == bindparam("source"), table.c.dam_id.in_(ids_param())
    )


def _clear_failures() -> Delete:
    return _clear(failures)


def _clear_attempts() -> Delete:
    return _clear(failure_attempts)


@functools.cache
def _flag_deleted() -> Update:
    c = asset_states.c
    return (
        update(asset_states)
        .where(c.source == bindparam("key_source"), c.dam_id.in_(ids_param()))
        .values(
            deleted=True,
            last_synced_at=bindparam("now", type_=c.last_synced_at.type),
            run_id=bindparam("run", type_=c.run_id.type),
        )
    )


def record_failures(
    session: Connection,
    source: str,
    run_id: int | None,
    failed: Mapping[str, FailureRecord],
    now: datetime,
    backoff: BackoffPolicy,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Failures recorded outside a batch commit (the link writer), as :func:`commit_batch` does."""
    outcome = _record_failures(session, source, run_id, failed, now, backoff)
    _record_attempts(session, source, run_id, failed, now)
    return outcome


def _record_failures(
    session: Connection,
    source: str,
    run_id: int | None,
    failed: Mapping[str, FailureRecord],
    now: datetime,
    backoff: BackoffPolicy,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Upsert failures with attempts + 1; returns (newly dead-lettered ids, scheduled ids)."""
    if not failed:
        return (), ()
    existing: dict[str, Row[Any]] = {}
    ids = sorted(failed)
    for part in chunks(ids):
        query = select(
            failures.c.dam_id,
            failures.c.attempts,
            failures.c.first_failed_at,
            failures.c.dead_lettered,
        ).where(failures.c.source == source, failures.c.dam_id.in_(part))
        existing.update({row.dam_id: row for row in session.execute(query)})
    rows: list[dict[str, Any]] = []
    dead: list[str] = []
    scheduled: list[str] = []
    for dam_id in ids:
        record = failed[dam_id]
        before = existing.get(dam_id)
        attempts = (before.attempts if before is not None else 0) + 1
        is_dead = record.permanent or attempts >= backoff.max_attempts
        if is_dead and (before is None or not before.dead_lettered):
            dead.append(dam_id)
        elif not is_dead:
            scheduled.append(dam_id)
        rows.append(
            {
                "source": source,
                "dam_id": dam_id,
                "stage": record.stage,
                "error_type": record.error_type,
                "detail": record.detail,
                "attempts": attempts,
                "permanent": record.permanent,
                "dead_lettered": is_dead,
                "first_failed_at": before.first_failed_at if before is not None else now,
                "last_failed_at": now,
                "next_attempt_at": None if is_dead else now + backoff.delay(attempts),
                "dam_updated_at": record.dam_updated_at,
                "run_id": run_id,
            }
        )
    stmt = upsert(session, failures)
    keys = ("source", "dam_id", "first_failed_at")
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[failures.c.source, failures.c.dam_id],
            set_={name: stmt.excluded[name] for name in rows[0] if name not in keys},
        ),
        rows,
    )
    return tuple(dead), tuple(scheduled)


def _record_attempts(
    session: Connection,
    source: str,
    run_id: int | None,
    failed: Mapping[str, FailureRecord],
    now: datetime,
) -> None:
    """Add one attempt to each failed asset's trail; keep only its last ``ATTEMPTS_KEPT``."""
    if not failed:
        return
    ids = sorted(failed)
    last: dict[str, int] = {}
    for part in chunks(ids):
        query = (
            select(failure_attempts.c.dam_id, func.max(failure_attempts.c.attempt))
            .where(failure_attempts.c.source == source, failure_attempts.c.dam_id.in_(part))
            .group_by(failure_attempts.c.dam_id)
        )
        last.update({dam_id: int(n) for dam_id, n in session.execute(query)})
    attempt = {dam_id: last.get(dam_id, 0) + 1 for dam_id in ids}
    rows = [
        {
            "source": source,
            "dam_id": dam_id,
            "attempt": attempt[dam_id],
            "stage": failed[dam_id].stage,
            "error_type": failed[dam_id].error_type,
            "detail": failed[dam_id].detail,
            "failed_at": now,
            "run_id": run_id,
        }
        for dam_id in ids
    ]
    session.execute(failure_attempts.insert(), rows)
    # Attempts at or below this number fall off the trail; grouped so that one DELETE serves
    # every asset at the same count (almost always none, or a few counts per batch).
    cutoffs: dict[int, list[str]] = {}
    for dam_id, n in attempt.items():
        if n > ATTEMPTS_KEPT:
            cutoffs.setdefault(n - ATTEMPTS_KEPT, []).append(dam_id)
    for cutoff, dam_ids in sorted(cutoffs.items()):
        for part in chunks(dam_ids):
            session.execute(
                failure_attempts.delete().where(
                    failure_attempts.c.source == source,
                    failure_attempts.c.dam_id.in_(part),
                    failure_attempts.c.attempt <= cutoff,
                )
            )


__all__ = [
    "CHUNK",
    "BatchResult",
    "chunks",
    "commit_batch",
    "record_failures",
    "upsert",
]
