"""
Broker intake from RabbitMQ: DAM events from a queue the user already runs, into the inbox.

One :class:`RabbitConsumer` per source holds a robust aio-pika connection (reconnected by
aio-pika at a fixed interval; the first connection and a failed setup are retried here with a
bounded exponential backoff), a channel with ``prefetch`` unacknowledged messages at most, and a
consumer on the source's queue. Each message is handled in its own task (so up to ``prefetch``
persist calls run at once):

- a body the parser refuses is rejected without requeue: it goes to the dead-letter exchange
  (and the ``<queue>.dead`` queue when damsync declares them), with one log line naming the
  message id and the reason, never the body;
- otherwise its events are persisted and the message is acknowledged only after the store
  returned (persist, then ack: a crash in between redelivers it, and the store dedupes);
- while the store is unavailable each message is negatively acknowledged with requeue after a
  growing pause, and only one message at a time tries the store: consuming pauses instead of
  spinning through redeliveries.

The URL holds the password: logs, errors and the health name the host and vhost only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Sequence
from urllib.parse import unquote, urlsplit

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import (
    CONNECTION_EXCEPTIONS,
    ChannelNotFoundEntity,
    ChannelPreconditionFailed,
)

from daemon.core.events import DamEvent, EventOrigin
from daemon.intake.broker_base import (
    CONNECT_BACKOFF,
    STORE_BACKOFF,
    Backoff,
    BrokerConsumerBase,
    BrokerHealth,
    stopped_within,
)
from daemon.intake.ports import IntakeObserver, Parse, Persist
from daemon.settings.event_intake import BrokerSettings

log = structlog.get_logger(__name__)

ORIGIN: EventOrigin = "rabbitmq"

#: What a broker call may raise when the connection or channel is gone (timeouts included).
BROKER_ERRORS = (*CONNECTION_EXCEPTIONS, TimeoutError)


def _amqp_location(url: str) -> tuple[str, str]:
    """The ``host:port`` and the vhost of an AMQP URL: what logs may show of it."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return f"{host}:{port}", vhost


class RabbitConsumer(BrokerConsumerBase):
    """
    Consumes one source's RabbitMQ queue into the inbox until stopped.

    Args:
        source: The configured source the events belong to.
        settings: The source's ``[sources.broker]`` (``type = "rabbitmq"``).
        parse: Reads one message body into events.
        persist: Stores events in the inbox; raises ``TransientError`` when it cannot.
        observer: Counts received, deduplicated and rejected events.
        connect_backoff: Pauses between failed connections or setups.
        store_backoff: Pauses before a message is requeued while the store fails.
        reconnect_interval: aio-pika's pause between reconnections of a lost connection.
        connect_timeout: Seconds one connection attempt may take.
        drain_seconds: On stop, how long messages being stored may take to finish.
    """

    def __init__(
        self,
        source: str,
        settings: BrokerSettings,
        parse: Parse,
        persist: Persist,
        observer: IntakeObserver,
        *,
        connect_backoff: Backoff = CONNECT_BACKOFF,
        store_backoff: Backoff = STORE_BACKOFF,
        reconnect_interval: float = 5.0,
        connect_timeout: float = 10.0,
        drain_seconds: float = 5.0,
    ) -> None:
        if settings.type != "rabbitmq" or not settings.queue:
            raise ValueError("RabbitConsumer needs rabbitmq broker settings with a queue")
        super().__init__(ORIGIN, source, parse, persist, observer, store_backoff)
        self._settings = settings
        self._queue_name = settings.queue
        self._connect_backoff = connect_backoff
        self._reconnect_interval = reconnect_interval
        self._connect_timeout = connect_timeout
        self._drain_seconds = drain_seconds
        self._broker, self._vhost = _amqp_location(settings.url.get_secret_value())
        self._log = log.bind(
            source=source, broker=self._broker, vhost=self._vhost, queue=settings.queue
        )
        self._connection: AbstractRobustConnection | None = None
        self._consuming = False
        self._stopping = False
        self._store_turn = asyncio.Lock()
        self._handlers: set[asyncio.Task[object]] = set()

    def __repr__(self) -> str:
        return (
            f"RabbitConsumer(source={self._source!r}, broker={self._broker!r}, "
            f"vhost={self._vhost!r}, queue={self._queue_name!r})"
        )

    @property
    def health(self) -> BrokerHealth:
        """Connected and consuming, the last error line, and whether the store answers."""
        connection = self._connection
        connected = (
            self._consuming
            and connection is not None
            and not connection.is_closed
            and connection.connected.is_set()
        )
        return self._health(connected)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then finish or requeue what is in hand and close."""
        self._stopping = False
        attempt = 0
        while not stop.is_set():
            try:
                connection = await aio_pika.connect_robust(
                    self._settings.url.get_secret_value(),
                    timeout=self._connect_timeout,
                    reconnect_interval=self._reconnect_interval,
                    client_properties={"connection_name": f"damsync {self._source}"},
                )
            except BROKER_ERRORS as exc:
                attempt += 1
                self._failed("intake.rabbitmq_connect_failed", exc, attempt)
                if await stopped_within(stop, self._connect_backoff.delay(attempt)):
                    return
                continue
            self._connection = connection
            try:
                await self._consume(connection, stop)
                return
            except BROKER_ERRORS as exc:
                attempt += 1
                self._failed("intake.rabbitmq_setup_failed", exc, attempt)
            finally:
                self._consuming = False
                await self._drain()
                with contextlib.suppress(*BROKER_ERRORS):
                    await connection.close()
            if await stopped_within(stop, self._connect_backoff.delay(attempt)):
                return

    async def _consume(self, connection: AbstractRobustConnection, stop: asyncio.Event) -> None:
        """Set the channel and queue up, consume until ``stop``, then cancel the consumer."""
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._settings.prefetch)
        queue = await self._queue(channel)
        tag = await queue.consume(self._on_message)
        connection.close_callbacks.add(self._on_lost)
        connection.reconnect_callbacks.add(self._on_restored)
        self._consuming = True
        self._log.info("intake.rabbitmq_consuming", prefetch=self._settings.prefetch)
        await stop.wait()
        self._stopping = True
        # No new deliveries; those in hand finish (or are requeued when the connection closes).
        with contextlib.suppress(*BROKER_ERRORS):
            await queue.cancel(tag, timeout=self._connect_timeout)

    async def _queue(self, channel: AbstractChannel) -> AbstractQueue:
        """Declare the dead-letter exchange, its queue and the queue, or check the queue exists."""
        name = self._queue_name
        if not self._settings.declare:
            try:
                return await channel.get_queue(name, ensure=True)
            except ChannelNotFoundEntity as exc:
                raise ChannelNotFoundEntity(
                    f"queue {name!r} does not exist and declare = false ({exc})"
                ) from None
        dlx = self._settings.dead_letter_exchange
        try:
            exchange = await channel.declare_exchange(
                dlx, aio_pika.ExchangeType.FANOUT, durable=True
            )
            dead = await channel.declare_queue(f"{name}.dead", durable=True)
            await dead.bind(exchange)
            return await channel.declare_queue(
                name, durable=True, arguments={"x-dead-letter-exchange": dlx}
            )
        except ChannelPreconditionFailed as exc:
            # RabbitMQ refuses to redeclare a queue or exchange with other arguments.
            raise ChannelPreconditionFailed(
                f"queue {name!r} or exchange {dlx!r} exists with other arguments ({exc}); "
                f"delete it so damsync declares it with x-dead-letter-exchange={dlx!r}, "
                "or set declare = false to use it as it is"
            ) from None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        """Parse one message, then reject it, or persist its events and acknowledge it."""
        if self._stopping:
            return  # left unacknowledged: requeued when the connection closes
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            events = self._read(message)
            if events is None:
                await self._settle(message.reject(requeue=False), message)
                return
            await self._store(message, events)
        finally:
            if task is not None:
                self._handlers.discard(task)

    def _read(self, message: AbstractIncomingMessage) -> Sequence[DamEvent] | None:
        """The message's events, or ``None`` (counted and logged): it is then dead-lettered."""
        return self._read_body(
            message.body, message_id=message.message_id, delivery_tag=message.delivery_tag
        )

    async def _store(self, message: AbstractIncomingMessage, events: Sequence[DamEvent]) -> None:
        """Persist, then acknowledge; requeue after a pause when the store fails."""
        async with self._turn():
            try:
                added = await self._persist(events)
            except Exception as exc:  # nothing is lost: the message is requeued
                await self._store_failed(exc)
                await self._settle(message.nack(requeue=True), message)
                return
        self._store_answered()
        await self._settle(message.ack(), message)
        self._count_stored(added)

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """While the store fails, one message at a time tries it (the others wait unacked)."""
        if not self._store_failures:
            yield
            return
        async with self._store_turn:
            yield

    async def _store_failed(self, exc: Exception) -> None:
        """Count the failure, say so once per outage, and pause before the requeue."""
        delay = self._count_store_failure(exc)
        # Not the run's stop event: a stopping consumer cancels its handlers after draining.
        await asyncio.sleep(delay)

    async def _settle(
        self, settlement: Awaitable[object], message: AbstractIncomingMessage
    ) -> None:
        """Send an ack, nack or reject; a lost channel means the broker redelivers anyway."""
        try:
            await settlement
        except BROKER_ERRORS as exc:
            self._log.warning(
                "intake.rabbitmq_settle_failed",
                message_id=message.message_id,
                error=self._redact(f"{type(exc).__name__}: {exc}"),
            )

    async def _drain(self) -> None:
        """Let the messages in hand finish for ``drain_seconds``, then cancel the rest."""
        pending = set(self._handlers)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=self._drain_seconds)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def _on_lost(self, _sender: object, exc: BaseException | None = None) -> None:
        if self._stopping or isinstance(exc, asyncio.CancelledError):
            return
        error = self._redact(f"{type(exc).__name__}: {exc}") if exc else "connection closed"
        self._last_error = error
        self._log.warning(
            "intake.rabbitmq_connection_lost", error=error, reconnect_in=self._reconnect_interval
        )

    def _on_restored(self, _sender: object) -> None:
        self._log.info("intake.rabbitmq_reconnected")

    def _failed(self, event: str, exc: BaseException, attempt: int) -> None:
        """Record and log a failed connection or setup: one line, no traceback, no password."""
        self._last_error = self._redact(f"{type(exc).__name__}: {exc}")
        self._log.error(
            event,
            error=self._last_error,
            attempt=attempt,
            retry_in=self._connect_backoff.delay(attempt),
        )

    def _redact(self, text: str) -> str:
        """``text`` without the URL's password (errors may quote the URL)."""
        password = urlsplit(self._settings.url.get_secret_value()).password
        if password:
            text = text.replace(password, "***")
        return " ".join(text.split())


__all__ = ["CONNECT_BACKOFF", "STORE_BACKOFF", "Backoff", "BrokerHealth", "RabbitConsumer"]
