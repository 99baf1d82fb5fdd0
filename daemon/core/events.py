"""
DAM events: what a webhook or a broker message announces, and what the inbox hands back.

An event is a hint, never data: it names assets and whether the DAM says they changed or were
deleted; the consumer fetches their current state from the DAM before anything is written.
These are plain values shared by the intake (``daemon.intake``), the inbox
(``daemon.store``) and the consumer (``daemon.engine``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

#: What the DAM says happened to the assets of an event.
EventKind = Literal["changed", "deleted"]

#: Where an event came in.
EventOrigin = Literal["webhook", "rabbitmq", "nats"]

#: Longest event id and asset id kept in the inbox (longer ones are refused at intake).
MAX_EVENT_ID = 200
MAX_DAM_ID = 512


@dataclass(frozen=True, slots=True)
class DamEvent:
    """
    One event as received, before it is stored.

    Args:
        source: The configured source it belongs to.
        event_id: The DAM's delivery id (``webhook-id``, ``x-amz-sns-message-id``, a configured
            body path) or, when the DAM sends none, a digest of the raw body: the dedupe key.
        dam_ids: The assets it names (one or more, never empty).
        kind: ``changed`` or ``deleted``.
        received_at: When damsync received it (aware UTC).
        origin: ``webhook``, ``rabbitmq`` or ``nats``.
    """

    source: str
    event_id: str
    dam_ids: tuple[str, ...]
    kind: EventKind
    received_at: datetime
    origin: EventOrigin


@dataclass(frozen=True, slots=True)
class InboxAdded:
    """What :meth:`daemon.store.Store.add_events` did: new events and already known ones."""

    added: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """
    One claimed inbox row: one asset of one event.

    ``attempts`` counts the claims so far, this one included.
    """

    id: int
    source: str
    event_id: str
    dam_id: str
    kind: EventKind
    origin: EventOrigin
    received_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class InboxDepth:
    """The pending rows of one source: how many, and when the oldest was received."""

    pending: int
    oldest: datetime | None
    dead: int = 0


__all__ = [
    "MAX_DAM_ID",
    "MAX_EVENT_ID",
    "DamEvent",
    "EventKind",
    "EventOrigin",
    "InboxAdded",
    "InboxDepth",
    "InboxEntry",
]
