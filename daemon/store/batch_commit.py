"""
The batch commit: one transaction that records everything a PIM-acknowledged batch changed.

Order inside the transaction: the fenced checkpoint write first (so a stale lease stops
everything before any other row is touched, and on PostgreSQL the checkpoint row lock serialises
writers), then resolved failures (with their trails), media codes, new failures (each with one
more attempt in its trail, the oldest beyond :data:`ATTEMPTS_KEPT` deleted) and finally asset
states. Any error
rolls the whole transaction back: a batch is recorded completely or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Row, func, select, update

from daemon.core.errors import CheckpointError
from daemon.core.records import Cursor, Window
from daemon.store.rows import (
    ATTEMPTS_KEPT,
    AssetWrite,
    BackoffPolicy,
    FailureRecord,
    Lease,
    LeaseLostError,
)
from daemon.store.tables import (
    asset_states,
    checkpoints,
    failure_attempts,
    failures,
    media_files,
)
from daemon.store.value_keys import encode_value_keys

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")

#: Bound on the ids of one ``IN (...)`` list (SQLite's variable limit, PG's plan size).
CHUNK = 500


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


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Yield ``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert(session: Connection, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ``on_conflict_do_update`` on the connection's dialect."""
    # Imported here: a read-only command on SQLite never loads the PostgreSQL dialect (and a
    # PostgreSQL engine has loaded it already).
    if session.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


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
        session.execute(
            update(checkpoints)
            .where(checkpoints.c.source == source, checkpoints.c.epoch == lease.epoch)
            .values(**values)
        )

    failed_by_id = _last_wins(failed, lambda f: f.dam_id)
    cleared = (set(resolved) | {w.dam_id for w in written} | set(deleted)) - set(failed_by_id)
    for part in chunks(sorted(cleared)):
        session.execute(
            failures.delete().where(failures.c.source == source, failures.c.dam_id.in_(part))
        )
        session.execute(
            failure_attempts.delete().where(
                failure_attempts.c.source == source, failure_attempts.c.dam_id.in_(part)
            )
        )

    codes = {w.binary_checksum: w.media_code for w in written if w.binary_checksum and w.media_code}
    codes.update(dict(media))
    record_media(session, source, codes, now)

    dead, scheduled = _record_failures(session, source, run_id, failed_by_id, now, backoff)
    _record_attempts(session, source, run_id, failed_by_id, now)
    _write_assets(session, source, run_id, written, now)
    for part in chunks(sorted(set(deleted))):
        session.execute(
            update(asset_states)
            .where(asset_states.c.source == source, asset_states.c.dam_id.in_(part))
            .values(deleted=True, last_synced_at=now, run_id=run_id)
        )
    return BatchResult(cursor=new_cursor, dead_lettered=dead, scheduled=scheduled)


def _fence(session: Connection, lease: Lease, now: datetime) -> Cursor | None:
    """The compare-and-set on the lease epoch; returns the stored cursor."""
    row = session.execute(
        update(checkpoints)
        .where(checkpoints.c.source == lease.source, checkpoints.c.epoch == lease.epoch)
        .values(updated_at=now)
        .returning(checkpoints.c.cursor_updated_at, checkpoints.c.cursor_id)
    ).first()
    if row is None:
        raise LeaseLostError(source=lease.source, epoch=lease.epoch)
    if row.cursor_updated_at is None:
        return None
    return Cursor(row.cursor_updated_at, row.cursor_id)


def record_media(session: Connection, source: str, codes: Mapping[str, str], now: datetime) -> None:
    """Remember ``checksum -> media file code`` pairs (an uploaded binary is never sent again)."""
    if not codes:
        return
    stmt = upsert(session, media_files)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[media_files.c.source, media_files.c.checksum],
            set_={
                "media_code": stmt.excluded.media_code,
                "recorded_at": stmt.excluded.recorded_at,
            },
        ),
        [
            {"source": source, "checksum": c, "media_code": m, "recorded_at": now}
            for c, m in sorted(codes.items())
        ],
    )


def record_intents(
    session: Connection, source: str, intents: Sequence[tuple[str, str, str]], now: datetime
) -> None:
    """
    Note where assets are about to be written (``dam_id, family, code``), before the PIM write.

    A crash between the PIM's acknowledgement and the batch commit would otherwise leave an
    asset in the PIM that the store has never heard of: if the DAM then deleted it, its
    tombstone (no metadata, so no family) could not be applied, and no sweep would know it.
    An intent row has an empty content hash, so it never makes a later write look unchanged;
    a known asset's row is left alone, a deleted one is revived as an intent. An intent's
    managed values are unknown (NULL): a revived row's keys belonged to the deleted asset.
    """
    rows = [
        {
            "source": source,
            "dam_id": dam_id,
            "family": family,
            "code": code,
            "content_hash": "",
            "deleted": False,
            "last_synced_at": now,
        }
        for dam_id, (family, code) in {i[0]: (i[1], i[2]) for i in intents}.items()
    ]
    if not rows:
        return
    stmt = upsert(session, asset_states)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[asset_states.c.source, asset_states.c.dam_id],
            set_={
                "family": stmt.excluded.family,
                "code": stmt.excluded.code,
                "content_hash": "",
                "deleted": False,
                "managed_values": None,
            },
            where=asset_states.c.deleted.is_(True),
        ),
        rows,
    )


def _write_assets(
    session: Connection,
    source: str,
    run_id: int | None,
    written: Sequence[AssetWrite],
    now: datetime,
) -> None:
    rows = [
        {
            "source": source,
            "dam_id": w.dam_id,
            "family": w.family,
            "code": w.code,
            "content_hash": w.content_hash,
            "binary_checksum": w.binary_checksum,
            "media_code": w.media_code,
            "dam_updated_at": w.dam_updated_at,
            "deleted": False,
            "last_synced_at": now,
            "run_id": run_id,
            "request_id": w.request_id,
            # Written with the asset, in this transaction: the keys always match the PIM write.
            "managed_values": (
                None if w.managed_values is None else encode_value_keys(w.managed_values)
            ),
        }
        for w in _last_wins(written, lambda w: w.dam_id).values()
    ]
    if not rows:
        return
    stmt = upsert(session, asset_states)
    keys = ("source", "dam_id")
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[asset_states.c.source, asset_states.c.dam_id],
            set_={name: stmt.excluded[name] for name in rows[0] if name not in keys},
        ),
        rows,
    )


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
    "record_intents",
    "record_media",
    "upsert",
]
