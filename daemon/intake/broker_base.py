"""
What the RabbitMQ and NATS consumers share: backoffs, health, and the handling of one message.

Both read a message body with the source's parser (an unreadable one is counted and logged, never
its body), persist the events, and account for the store: one log line per outage, a growing
pause while it fails, the counts of new and deduplicated events once it answers. The broker
calls (connect, ack, nack, reject, term) differ and stay in each consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from daemon.core.errors import TransientError
from daemon.core.events import DamEvent, EventOrigin, InboxAdded
from daemon.intake.ports import EventParseError, IntakeObserver, Parse, Persist


@dataclass(frozen=True, slots=True)
class Backoff:
    """Pauses growing from ``first`` seconds, doubling, to at most ``most`` seconds."""

    first: float
    most: float

    def delay(self, attempt: int) -> float:
        """The pause after the ``attempt``-th consecutive failure (1-based)."""
        return min(self.most, self.first * 2.0 ** max(0, min(attempt - 1, 30)))


#: Between failed connections or setups; before a requeue while the store fails.
CONNECT_BACKOFF = Backoff(1.0, 60.0)
STORE_BACKOFF = Backoff(0.5, 30.0)


@dataclass(frozen=True, slots=True)
class BrokerHealth:
    """
    A broker consumer's state, for ``/readyz`` and metrics.

    Args:
        connected: Connected and consuming right now.
        last_error: The latest connection or setup error, one line without secrets; ``None``
            until something failed (kept after recovery, for diagnosis).
        store_available: ``False`` while persisting fails (messages are requeued meanwhile).
    """

    connected: bool
    last_error: str | None
    store_available: bool = True


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds``; ``True`` when ``stop`` was set (at once or meanwhile)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


class BrokerConsumerBase:
    """
    The message handling both broker consumers share, for one source.

    The log events are named after the origin (``intake.<origin>_message_rejected``,
    ``intake.<origin>_store_unavailable``, ``intake.<origin>_store_recovered``), so each
    consumer keeps its own. A subclass binds ``_log`` to its source and broker, and redacts the
    secrets of its URL in :meth:`_redact`.

    Args:
        origin: Where the events come from (``rabbitmq``, ``nats``).
        source: The configured source the events belong to.
        parse: Reads one message body into events.
        persist: Stores events in the inbox; raises ``TransientError`` when it cannot.
        observer: Counts received, deduplicated and rejected events.
        store_backoff: The pause before a message comes again while the store fails.
    """

    _log: structlog.typing.FilteringBoundLogger

    def __init__(
        self,
        origin: EventOrigin,
        source: str,
        parse: Parse,
        persist: Persist,
        observer: IntakeObserver,
        store_backoff: Backoff,
    ) -> None:
        self._origin: EventOrigin = origin
        self._source = source
        self._parse = parse
        self._persist = persist
        self._observer = observer
        self._store_backoff = store_backoff
        self._last_error: str | None = None
        self._store_failures = 0

    def _redact(self, text: str) -> str:
        """``text`` without the URL's secrets (errors may quote the URL)."""
        raise NotImplementedError

    def _health(self, connected: bool) -> BrokerHealth:
        """The health with ``connected``, the last error line, and whether the store answers."""
        return BrokerHealth(connected, self._last_error, self._store_failures == 0)

    def _read_body(self, body: bytes, **ids: object) -> Sequence[DamEvent] | None:
        """
        The body's events, or ``None`` (counted and logged with the message's ``ids``) when it
        cannot be read.
        """
        try:
            return self._parse(body)
        except EventParseError as exc:
            reason = exc.reason
        except Exception as exc:  # a parser bug must not kill the consumer
            reason = f"parser failed: {type(exc).__name__}"
        self._observer.event_rejected(self._source, self._origin, "unparsable")
        self._log.warning(f"intake.{self._origin}_message_rejected", **ids, reason=reason)
        return None

    def _count_store_failure(self, exc: Exception) -> float:
        """Count the failure, say so once per outage; the pause before the message comes again."""
        self._store_failures += 1
        self._observer.event_rejected(self._source, self._origin, "store_unavailable")
        if self._store_failures == 1:  # once per outage; anything but TransientError is a bug
            say = self._log.warning if isinstance(exc, TransientError) else self._log.error
            say(
                f"intake.{self._origin}_store_unavailable",
                error=self._redact(f"{type(exc).__name__}: {exc}"),
            )
        return self._store_backoff.delay(self._store_failures)

    def _store_answered(self) -> None:
        """The store took events: an outage, if any, is over (said once)."""
        if self._store_failures:
            self._store_failures = 0
            self._log.info(f"intake.{self._origin}_store_recovered")

    def _count_stored(self, added: InboxAdded) -> None:
        """Count the new and the already known events of an acknowledged delivery."""
        if added.added:
            self._observer.events_received(self._source, self._origin, added.added)
        if added.duplicates:
            self._observer.events_deduplicated(self._source, self._origin, added.duplicates)


__all__ = [
    "CONNECT_BACKOFF",
    "STORE_BACKOFF",
    "Backoff",
    "BrokerConsumerBase",
    "BrokerHealth",
    "stopped_within",
]
