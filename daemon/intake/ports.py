"""
What the intake needs from the rest of the daemon, as types: where events go, and who counts them.

The webhook app and the broker consumers take these as arguments; the service passes the store's
``add_events`` (in a worker thread) and the daemon's metrics. Nothing here is ``Any``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from daemon.core.events import DamEvent, EventOrigin, InboxAdded

#: Stores events in the inbox (one transaction) and says how many were new. It raises
#: ``daemon.core.errors.TransientError`` (the store's ``StoreUnavailableError`` is one) when the
#: database cannot be reached: then nothing may be acknowledged (503, nack).
Persist = Callable[[Sequence[DamEvent]], Awaitable[InboxAdded]]


class EventParseError(ValueError):
    """A message or body that cannot be read as events; ``reason`` is one line, no secrets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: Reads one broker message body into events (``received_at`` now, ``origin`` given).
#: Raises :class:`EventParseError` for a body it cannot read.
Parse = Callable[[bytes], Sequence[DamEvent]]


class IntakeObserver(Protocol):
    """Where the intake reports what it took and what it refused (the daemon's metrics)."""

    def events_received(self, source: str, origin: EventOrigin, count: int) -> None:
        """``count`` new events were stored."""

    def events_deduplicated(self, source: str, origin: EventOrigin, count: int) -> None:
        """``count`` events were already in the inbox (redeliveries, replays)."""

    def event_rejected(self, source: str, origin: EventOrigin, reason: str) -> None:
        """
        One request or message was refused; ``reason`` is a short fixed label (a metric
        label value): ``signature``, ``timestamp``, ``too_large``, ``unparsable``,
        ``unknown_source``, ``method``, ``store_unavailable``, ``certificate``, ``topic``.
        """


__all__ = ["EventParseError", "IntakeObserver", "Parse", "Persist"]
