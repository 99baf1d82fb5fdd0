"""
:class:`InboxAccess`: the durable inbox of DAM events, between intake and the consumer.

The intake (webhooks, RabbitMQ, NATS) adds each event before it acknowledges it
(:meth:`InboxAccess.add_events`, one transaction): one row per asset of the event, pending and
due at once. ``UNIQUE(source, event_id, dam_id)`` and ``INSERT ... ON CONFLICT DO NOTHING`` make
a redelivered event a duplicate, also when two receivers add it at the same moment.

Consumers *claim* due rows of a source for a while (:meth:`InboxAccess.claim_events`; on
PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED``, so that several consumers never take the same
row; on SQLite the write transaction serialises them). A claim that expires (a crashed consumer)
is taken over by the next claim. The holder then finishes its rows (``done``), releases them
for a later retry (back to ``pending``, or ``dead`` after too many attempts) or gives them back
untouched. Settled rows are kept as dedupe keys until :meth:`InboxAccess.prune_events`.

Row life::

    pending --claim--> claimed --finish--> done --prune--> (gone)
       ^                  |  \\--release (attempts >= max)--> dead --prune--> (gone)
       \\--release/unclaim-/
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Row, and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from daemon.core.events import (
    MAX_DAM_ID,
    MAX_EVENT_ID,
    DamEvent,
    InboxAdded,
    InboxDepth,
    InboxEntry,
)
from daemon.core.lazy_log import LazyLogger
from daemon.store.batch_commit import chunks, upsert
from daemon.store.session_boundary import SessionBoundary
from daemon.store.tables import EVENT_KINDS, EVENT_ORIGINS, event_inbox
from daemon.telemetry.logs import redact_text

log = LazyLogger(__name__)

#: ``last_error`` is cut to this many characters (after redaction, so no secret is cut in two).
MAX_ERROR_CHARS = 2000
#: Settled rows deleted per transaction by :meth:`InboxAccess.prune_events`.
PRUNE_CHUNK = 1000

#: The columns of an :class:`InboxEntry`, in its fields' order.
_ENTRY_COLUMNS = tuple(event_inbox.c[f.name] for f in fields(InboxEntry))
#: The dedupe key.
_KEY = (event_inbox.c.source, event_inbox.c.event_id, event_inbox.c.dam_id)
#: A row leaving the claimed status.
_UNCLAIMED = {"claimed_by": None, "claimed_until": None}


class InboxAccess(SessionBoundary):
    """The event inbox: adding events, claiming and settling them, pruning, depth, dead rows."""

    def add_events(self, events: Sequence[DamEvent]) -> InboxAdded:
        """
        Persist ``events`` in ONE transaction: one pending row per (event, asset id).

        An event whose ``(source, event_id)`` is already in the inbox (any status, until
        pruned), or repeated in ``events``, is a duplicate and adds nothing. Two receivers adding
        the same event at once give one added and one duplicate, never an error (were their
        asset lists to differ, the racing one would add its extra assets' rows).

        Returns:
            How many events were new and how many were duplicates (they add up to
            ``len(events)``).

        Raises:
            ValueError: An event is malformed (no asset, an id too long, a naive time); nothing
                is written.
            StoreUnavailableError: The database could not be reached; nothing was written.
        """
        fresh = _unique(events)
        if not fresh:
            return InboxAdded(added=0, duplicates=len(events))
        now = self._clock()
        with self._write("add_events") as session:
            known = _known_events(session, fresh)
            rows = sorted(  # one lock order for every receiver: concurrent adds never deadlock
                (
                    _row(event, dam_id, now)
                    for key, event in fresh.items()
                    if key not in known
                    for dam_id in dict.fromkeys(event.dam_ids)
                ),
                key=lambda r: (r["source"], r["event_id"], r["dam_id"]),
            )
            inserted: set[tuple[str, str]] = set()
            for part in chunks(rows):
                stmt = (
                    upsert(session, event_inbox)
                    .values(list(part))
                    .on_conflict_do_nothing(index_elements=_KEY)
                    .returning(event_inbox.c.source, event_inbox.c.event_id)
                )
                inserted.update((r.source, r.event_id) for r in session.execute(stmt))
        added = InboxAdded(added=len(inserted), duplicates=len(events) - len(inserted))
        log.debug("store.events_added", added=added.added, duplicates=added.duplicates)
        return added

    def claim_events(
        self,
        source: str,
        holder: str,
        *,
        limit: int,
        claim_seconds: float,
        now: datetime | None = None,
    ) -> list[InboxEntry]:
        """
        Claim up to ``limit`` due rows of ``source`` for ``holder``, oldest received first.

        Due: pending with ``next_attempt_at <= now``, or claimed with an expired claim (its
        consumer crashed). They become claimed until ``now + claim_seconds``, attempts +1.
        Several consumers never get the same row.

        Args:
            source: The source whose rows are claimed.
            holder: Who claims (stable per consumer).
            limit: At most this many rows (>= 1).
            claim_seconds: How long the claim holds (> 0).
            now: The time judged by (default: the store's clock).

        Returns:
            The claimed rows, oldest received first; ``attempts`` includes this claim.
        """
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        if claim_seconds <= 0:
            raise ValueError(f"claim_seconds must be > 0, got {claim_seconds}")
        at = _aware(now if now is not None else self._clock(), "now")
        c = event_inbox.c
        due = or_(
            and_(c.status == "pending", c.next_attempt_at <= at),
            and_(c.status == "claimed", c.claimed_until <= at),
        )
        with self._write("claim_events") as session:
            # SKIP LOCKED: rows another consumer is claiming are passed over, never waited for;
            # SQLite renders no FOR UPDATE (its write transaction already serialises claims).
            pick = select(c.id).where(c.source == source, due).order_by(c.received_at, c.id)
            ids = session.scalars(pick.limit(limit).with_for_update(skip_locked=True)).all()
            if not ids:
                return []
            claimed = session.execute(
                update(event_inbox)
                .where(c.id.in_(ids))
                .values(
                    status="claimed",
                    claimed_by=holder,
                    claimed_until=at + timedelta(seconds=claim_seconds),
                    attempts=c.attempts + 1,
                )
                .returning(*_ENTRY_COLUMNS)
            ).all()
        return sorted((_entry(row) for row in claimed), key=lambda e: (e.received_at, e.id))

    def finish_events(self, ids: Sequence[int], holder: str) -> int:
        """
        Mark rows done, only those still claimed by ``holder``.

        A claim that expired and was taken by another consumer is not finished by the old one.

        Returns:
            How many rows were finished.
        """
        now = self._clock()
        done = {"status": "done", "done_at": now, **_UNCLAIMED}
        (finished,) = self._settle("finish_events", ids, holder, (done, None))
        return finished

    def release_events(
        self,
        ids: Sequence[int],
        holder: str,
        *,
        error: str,
        retry_at: datetime,
        max_attempts: int,
    ) -> int:
        """
        Hand rows claimed by ``holder`` back for a retry at ``retry_at``, with their error.

        A row whose attempts reached ``max_attempts`` becomes dead instead (``done_at`` now).
        ``error`` is stored redacted and cut to :data:`MAX_ERROR_CHARS`.

        Returns:
            How many rows were released, dead ones included.
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        retry = _aware(retry_at, "retry_at")
        stored = _stored_error(error)
        now = self._clock()
        unclaimed = {**_UNCLAIMED, "last_error": stored}
        dead, back = self._settle(
            "release_events",
            ids,
            holder,
            (
                {"status": "dead", "done_at": now, **unclaimed},
                event_inbox.c.attempts >= max_attempts,
            ),
            ({"status": "pending", "next_attempt_at": retry, **unclaimed}, None),
        )
        if dead:
            log.warning("store.events_dead", rows=dead, holder=holder, attempts=max_attempts)
        return dead + back

    def unclaim_events(self, ids: Sequence[int], holder: str) -> int:
        """
        Give rows claimed by ``holder`` back untouched: pending, due now, attempts -1.

        For a consumer that could not even start (its source's lease is busy): not an attempt.

        Returns:
            How many rows were given back.
        """
        now = self._clock()
        attempts = event_inbox.c.attempts - 1
        back = {"status": "pending", "next_attempt_at": now, "attempts": attempts, **_UNCLAIMED}
        (given_back,) = self._settle("unclaim_events", ids, holder, (back, None))
        return given_back

    def prune_events(self, before: datetime) -> int:
        """
        Delete done and dead rows settled before ``before``; never a pending or claimed row.

        Rows go in chunks of :data:`PRUNE_CHUNK`, one transaction each, so that a large backlog
        never holds SQLite's write lock for long.

        Returns:
            How many rows were deleted.
        """
        cutoff = _aware(before, "before")
        c = event_inbox.c
        settled = select(c.id).where(c.status.in_(("done", "dead")), c.done_at < cutoff)
        total = 0
        while True:
            with self._write("prune_events") as session:
                part = session.execute(settled.limit(PRUNE_CHUNK)).scalars().all()
                deleted = _count(session, delete(event_inbox).where(c.id.in_(part))) if part else 0
            total += deleted
            if len(part) < PRUNE_CHUNK:
                break
        log.debug("store.events_pruned", rows=total)
        return total

    def inbox_depth(self) -> dict[str, InboxDepth]:
        """
        Per source: rows waiting (pending and claimed), the oldest received among them, and
        dead rows. Sources with none of these are absent.
        """
        c = event_inbox.c
        query = (
            select(c.source, c.status, func.count(), func.min(c.received_at))
            .where(c.status.in_(("pending", "claimed", "dead")))
            .group_by(c.source, c.status)
        )
        waiting: dict[str, int] = defaultdict(int)
        oldest: dict[str, datetime] = {}
        dead: dict[str, int] = defaultdict(int)
        with self._read("inbox_depth") as session:
            for source, status, count, first in session.execute(query):
                if status == "dead":
                    dead[source] += count
                    continue
                waiting[source] += count
                oldest[source] = min(first, oldest.get(source, first))
        return {
            source: InboxDepth(
                pending=waiting[source], oldest=oldest.get(source), dead=dead[source]
            )
            for source in sorted(waiting.keys() | dead.keys())
        }

    def dead_events(self, source: str | None = None, limit: int = 100) -> list[InboxEntry]:
        """Dead rows, newest first (by when they died), optionally of one source only."""
        c = event_inbox.c
        query = select(*_ENTRY_COLUMNS).where(c.status == "dead")
        if source is not None:
            query = query.where(c.source == source)
        query = query.order_by(c.done_at.desc(), c.id.desc()).limit(limit)
        with self._read("dead_events") as session:
            return [_entry(row) for row in session.execute(query)]

    def _settle(
        self,
        operation: str,
        ids: Sequence[int],
        holder: str,
        *steps: tuple[dict[str, Any], ColumnElement[bool] | None],
    ) -> tuple[int, ...]:
        """
        In one transaction, update the rows of ``ids`` still claimed by ``holder``: each step's
        values on the rows its condition (``None``: any) selects, in order.

        Returns:
            How many rows each step updated.
        """
        wanted = sorted(set(ids))
        counts = [0] * len(steps)
        if not wanted:
            return tuple(counts)
        c = event_inbox.c
        with self._write(operation) as session:
            for part in chunks(wanted):
                mine = and_(c.id.in_(part), c.status == "claimed", c.claimed_by == holder)
                for n, (values, condition) in enumerate(steps):
                    where = mine if condition is None else and_(mine, condition)
                    counts[n] += _count(session, update(event_inbox).where(where).values(values))
        return tuple(counts)


def _unique(events: Sequence[DamEvent]) -> dict[tuple[str, str], DamEvent]:
    """The events by ``(source, event_id)``, the first of each kept; raise if one is malformed."""
    fresh: dict[tuple[str, str], DamEvent] = {}
    for event in events:
        _check(event)
        fresh.setdefault((event.source, event.event_id), event)
    return fresh


def _check(event: DamEvent) -> None:
    if not event.source or len(event.source) > 200:
        raise ValueError(f"event source must have 1 to 200 characters, got {len(event.source)}")
    if not event.event_id or len(event.event_id) > MAX_EVENT_ID:
        raise ValueError(f"event id must have 1 to {MAX_EVENT_ID} characters")
    if not event.dam_ids:
        raise ValueError(f"event {event.event_id!r} names no asset")
    if any(not dam_id or len(dam_id) > MAX_DAM_ID for dam_id in event.dam_ids):
        raise ValueError(f"event {event.event_id!r}: asset ids must have 1 to {MAX_DAM_ID} chars")
    if event.kind not in EVENT_KINDS:
        raise ValueError(f"event {event.event_id!r}: unknown kind {event.kind!r}")
    if event.origin not in EVENT_ORIGINS:
        raise ValueError(f"event {event.event_id!r}: unknown origin {event.origin!r}")
    _aware(event.received_at, "received_at")


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")
    return value


def _known_events(
    session: Connection, fresh: dict[tuple[str, str], DamEvent]
) -> set[tuple[str, str]]:
    """The ``(source, event_id)`` pairs of ``fresh`` already in the inbox."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for source, event_id in fresh:
        by_source[source].append(event_id)
    c = event_inbox.c
    known: set[tuple[str, str]] = set()
    for source, event_ids in by_source.items():
        for part in chunks(event_ids):
            query = select(c.event_id).where(c.source == source, c.event_id.in_(part)).distinct()
            known.update((source, event_id) for event_id in session.execute(query).scalars())
    return known


def _row(event: DamEvent, dam_id: str, now: datetime) -> dict[str, Any]:
    return {
        "source": event.source,
        "event_id": event.event_id,
        "dam_id": dam_id,
        "kind": event.kind,
        "origin": event.origin,
        "received_at": event.received_at,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
    }


def _entry(row: Row[*tuple[Any, ...]]) -> InboxEntry:
    return InboxEntry(*row)


def _stored_error(error: str) -> str:
    """``error`` as stored: redacted first, then cut to :data:`MAX_ERROR_CHARS`."""
    text = redact_text(error)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _count(session: Connection, stmt: Any) -> int:
    """Execute an UPDATE or DELETE; the rows it touched."""
    return int(cast(CursorResult[Any], session.execute(stmt)).rowcount)


__all__ = ["MAX_ERROR_CHARS", "PRUNE_CHUNK", "InboxAccess"]
