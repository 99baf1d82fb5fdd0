"""
:class:`InboxAdmin`: what an operator sees of the event inbox and how dead rows get another go.

``damsync events list --dead`` reads :meth:`InboxAdmin.dead_event_rows` (the dead rows with
their last error, which the consumer's :class:`~daemon.core.events.InboxEntry` does not carry);
``damsync events retry`` calls :meth:`InboxAdmin.retry_dead_events`, which puts dead rows back
to pending, due at once with no attempt counted, for the running daemon's consumer to claim at
its next poll. Only dead rows are touched: a pending, claimed or done row never is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, CursorResult, Row, select, update

from daemon.core.events import EventKind, EventOrigin
from daemon.store.session_boundary import SessionBoundary
from daemon.store.statements import chunks
from daemon.store.tables import event_inbox


@dataclass(frozen=True, slots=True)
class DeadEvent:
    """
    One dead inbox row (one asset of one event), as an operator lists it.

    ``attempts`` counts the claims it had; ``last_error`` is stored redacted and cut;
    ``died_at`` is when it was given up.
    """

    id: int
    source: str
    event_id: str
    dam_id: str
    kind: EventKind
    origin: EventOrigin
    received_at: datetime
    attempts: int
    last_error: str | None
    died_at: datetime


#: The columns of a :class:`DeadEvent`, in its fields' order.
_DEAD_COLUMNS = (
    event_inbox.c.id,
    event_inbox.c.source,
    event_inbox.c.event_id,
    event_inbox.c.dam_id,
    event_inbox.c.kind,
    event_inbox.c.origin,
    event_inbox.c.received_at,
    event_inbox.c.attempts,
    event_inbox.c.last_error,
    event_inbox.c.done_at,
)


class InboxAdmin(SessionBoundary):
    """The event inbox for operators: dead rows with their errors, and requeuing them."""

    def dead_event_rows(self, source: str | None = None, limit: int = 100) -> list[DeadEvent]:
        """
        Dead rows, newest first (by when they died), optionally of one source only.

        Args:
            source: Only this source's rows (``None``: every source).
            limit: At most this many rows (>= 1).
        """
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        c = event_inbox.c
        query = select(*_DEAD_COLUMNS).where(c.status == "dead")
        if source is not None:
            query = query.where(c.source == source)
        query = query.order_by(c.done_at.desc(), c.id.desc()).limit(limit)
        with self._read("dead_event_rows") as session:
            return [_dead(row) for row in session.execute(query)]

    def retry_dead_events(
        self, target: Sequence[int] | Literal["all"], *, source: str | None = None
    ) -> int:
        """
        Put dead rows back to pending: due now, attempts reset to 0, no longer settled.

        Their ``last_error`` is kept until the next attempt settles them. Rows of ``target``
        that are not dead (or not of ``source``) are left alone, so the count tells how many of
        the given ids were retried.

        Args:
            target: The row ids, or ``"all"`` for every dead row.
            source: Only this source's rows (``None``: any source).

        Returns:
            How many rows were put back.
        """
        c = event_inbox.c
        scope: list[ColumnElement[bool]] = [c.status == "dead"]
        if source is not None:
            scope.append(c.source == source)
        values: dict[str, Any] = {
            "status": "pending",
            "next_attempt_at": self._clock(),
            "attempts": 0,
            "done_at": None,
        }
        parts: list[list[ColumnElement[bool]]]
        if target == "all":
            parts = [scope]
        else:
            parts = [[*scope, c.id.in_(part)] for part in chunks(sorted(set(target)))]
        retried = 0
        with self._write("retry_dead_events") as session:
            for where in parts:
                result = session.execute(update(event_inbox).where(*where).values(values))
                retried += int(cast(CursorResult[Any], result).rowcount)
        return retried


def _dead(row: Row[*tuple[Any, ...]]) -> DeadEvent:
    return DeadEvent(*row)


__all__ = ["DeadEvent", "InboxAdmin"]
