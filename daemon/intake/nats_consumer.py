"""
Broker intake from NATS JetStream: DAM events from a stream the user already runs, into the inbox.

One :class:`NatsConsumer` per source connects (nats-py reconnects a lost connection itself, every
``reconnect_wait`` seconds, forever), binds a durable pull consumer named ``settings.durable`` on
``settings.stream`` filtered by ``settings.subject`` (created with explicit acks and
``settings.ack_wait`` when missing), and fetches up to ``fetch_batch`` messages at a time:

- a body the parser refuses is terminated (``+TERM``): JetStream has no dead-letter exchange, so
  the message stays in the stream (per its retention) but is never delivered again; it is
  counted and logged with its stream sequence and the reason, never the body;
- the events of the other messages are persisted in one call, and each message is acknowledged
  only after the store returned (persist, then ack: a crash in between redelivers it after
  ``ack_wait``, and the store dedupes);
- while the store is unavailable the messages are negatively acknowledged with a growing
  redelivery delay (``-NAK``) and fetching pauses as long: no spinning through redeliveries.

The URL may hold a user and password or a token: logs, errors and the health name the host only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.client import JetStreamContext

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

_T = TypeVar("_T")

ORIGIN: EventOrigin = "nats"

#: What a NATS call may raise when the server, the stream or the connection is not there.
NATS_ERRORS = (nats.errors.Error, OSError, TimeoutError)


def nats_location(url: str) -> str:
    """The ``host:port`` list of a NATS URL (servers comma-separated), without credentials."""
    hosts = []
    for server in url.split(","):
        parts = urlsplit(server.strip())
        hosts.append(f"{parts.hostname or 'localhost'}:{parts.port or 4222}")
    return ",".join(hosts)


class NatsConsumer(BrokerConsumerBase):
    """
    Consumes one source's JetStream durable pull consumer into the inbox until stopped.

    Args:
        source: The configured source the events belong to.
        settings: The source's ``[sources.broker]`` (``type = "nats"``).
        parse: Reads one message body into events.
        persist: Stores events in the inbox; raises ``TransientError`` when it cannot.
        observer: Counts received, deduplicated and rejected events.
        setup_backoff: Pauses between failed consumer setups (stream missing, JetStream off).
        store_backoff: Redelivery delay and fetch pause while the store fails.
        fetch_timeout: Seconds one fetch waits for messages.
        connect_timeout: Seconds one connection attempt may take.
        reconnect_wait: nats-py's pause between connection attempts (whole seconds).
        drain_seconds: On stop, how long a batch being stored may take to finish.
    """

    def __init__(
        self,
        source: str,
        settings: BrokerSettings,
        parse: Parse,
        persist: Persist,
        observer: IntakeObserver,
        *,
        setup_backoff: Backoff = CONNECT_BACKOFF,
        store_backoff: Backoff = STORE_BACKOFF,
        fetch_timeout: float = 5.0,
        connect_timeout: int = 10,
        reconnect_wait: int = 2,
        drain_seconds: float = 5.0,
    ) -> None:
        if settings.type != "nats" or not settings.stream or not settings.subject:
            raise ValueError("NatsConsumer needs nats broker settings with a stream and subject")
        super().__init__(ORIGIN, source, parse, persist, observer, store_backoff)
        self._settings = settings
        self._stream = settings.stream
        self._subject = settings.subject
        self._setup_backoff = setup_backoff
        self._fetch_timeout = fetch_timeout
        self._connect_timeout = connect_timeout
        self._reconnect_wait = reconnect_wait
        self._drain_seconds = drain_seconds
        self._broker = nats_location(settings.url.get_secret_value())
        self._log = log.bind(source=source, broker=self._broker, stream=settings.stream)
        self._client: Client | None = None
        self._subscribed = False
        self._logged_error: str | None = None

    def __repr__(self) -> str:
        return (
            f"NatsConsumer(source={self._source!r}, broker={self._broker!r}, "
            f"stream={self._stream!r}, durable={self._settings.durable!r})"
        )

    @property
    def health(self) -> BrokerHealth:
        """Connected and bound, the last error line, and whether the store answers."""
        client = self._client
        connected = self._subscribed and client is not None and client.is_connected
        return self._health(connected)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then finish the batch in hand and close."""
        attempt = 0
        while not stop.is_set():
            client = Client()
            self._client = client
            try:
                # Until stopped: nats-py retries the first connection too, every reconnect_wait.
                connecting = asyncio.create_task(
                    client.connect(
                        servers=[
                            s.strip() for s in self._settings.url.get_secret_value().split(",")
                        ],
                        name=f"damsync {self._source}",
                        connect_timeout=self._connect_timeout,
                        reconnect_time_wait=self._reconnect_wait,
                        max_reconnect_attempts=-1,
                        error_cb=self._on_error,
                        disconnected_cb=self._on_disconnected,
                        reconnected_cb=self._on_reconnected,
                    )
                )
                if not await _until_done_or_stopped(connecting, stop):
                    return
                connecting.result()
                await self._consume(client, stop)
                return
            except NATS_ERRORS as exc:
                attempt += 1
                self._failed("intake.nats_connect_failed", exc, self._setup_backoff.delay(attempt))
            finally:
                self._subscribed = False
                with contextlib.suppress(*NATS_ERRORS):
                    await client.close()
            if await stopped_within(stop, self._setup_backoff.delay(attempt)):
                return

    async def _consume(self, client: Client, stop: asyncio.Event) -> None:
        """Bind the consumer (retrying setup failures), then fetch and handle until ``stop``."""
        js = client.jetstream()
        attempt = 0
        while True:
            try:
                subscription = await self._subscribe(js)
                break
            except NATS_ERRORS as exc:
                attempt += 1
                self._failed("intake.nats_setup_failed", exc, self._setup_backoff.delay(attempt))
                if await stopped_within(stop, self._setup_backoff.delay(attempt)):
                    return
        self._subscribed = True
        self._log.info(
            "intake.nats_consuming",
            durable=self._settings.durable,
            subject=self._subject,
        )
        while not stop.is_set():
            fetching = asyncio.create_task(
                subscription.fetch(self._settings.fetch_batch, timeout=self._fetch_timeout)
            )
            try:
                if not await _until_done_or_stopped(fetching, stop):
                    return
                messages = fetching.result()
            except nats.errors.TimeoutError:
                continue  # nothing new
            except NATS_ERRORS as exc:  # disconnected: nats-py reconnects meanwhile
                self._failed("intake.nats_fetch_failed", exc, self._setup_backoff.first)
                if await stopped_within(stop, self._setup_backoff.first):
                    return
                continue
            handling = asyncio.create_task(self._handle(messages, stop))
            if not await _until_done_or_stopped(handling, stop, grace=self._drain_seconds):
                return

    async def _subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        """The durable pull consumer, created when missing; a differing one is reported."""
        settings = self._settings
        config = ConsumerConfig(
            durable_name=settings.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=settings.ack_wait,
            filter_subject=self._subject,
        )
        try:
            subscription = await js.pull_subscribe(
                self._subject, durable=settings.durable, stream=self._stream, config=config
            )
            current = (await subscription.consumer_info()).config
        except nats.js.errors.NotFoundError:
            raise nats.js.errors.NotFoundError(
                description=f"stream {self._stream!r} not found (damsync never creates streams)"
            ) from None
        if current.filter_subject != self._subject or current.ack_wait != settings.ack_wait:
            # An existing durable keeps its configuration: say so rather than guess.
            self._log.warning(
                "intake.nats_consumer_differs",
                durable=settings.durable,
                filter_subject=current.filter_subject,
                ack_wait=current.ack_wait,
                wanted_subject=self._subject,
                wanted_ack_wait=settings.ack_wait,
            )
        return subscription

    async def _handle(self, messages: Sequence[Msg], stop: asyncio.Event) -> None:
        """Terminate unreadable messages; persist the others' events, then ack or nak them."""
        readable: list[Msg] = []
        events: list[DamEvent] = []
        for message in messages:
            parsed = self._read(message)
            if parsed is None:
                await self._settle(message.term(), message)
            else:
                readable.append(message)
                events.extend(parsed)
        if not readable:
            return
        try:
            added = await self._persist(events)
        except Exception as exc:  # nothing is lost: the messages are redelivered
            delay = self._count_store_failure(exc)
            for message in readable:
                await self._settle(message.nak(delay=delay), message)
            await stopped_within(stop, delay)  # fetching pauses as long as the redelivery
            return
        self._store_answered()
        for message in readable:
            await self._settle(message.ack(), message)
        self._count_stored(added)

    def _read(self, message: Msg) -> Sequence[DamEvent] | None:
        """The message's events, or ``None`` (counted and logged) when it cannot be read."""
        return self._read_body(
            message.data,
            sequence=_sequence(message),
            message_id=(message.headers or {}).get("Nats-Msg-Id"),
        )

    async def _settle(self, settlement: Awaitable[object], message: Msg) -> None:
        """Send an ack, nak or term; a lost one means JetStream redelivers after ``ack_wait``."""
        try:
            await settlement
        except NATS_ERRORS as exc:
            self._log.warning(
                "intake.nats_settle_failed",
                sequence=_sequence(message),
                error=self._redact(f"{type(exc).__name__}: {exc}"),
            )

    async def _on_error(self, exc: Exception) -> None:
        self._failed("intake.nats_connect_failed", exc, float(self._reconnect_wait))

    async def _on_disconnected(self) -> None:
        if self._subscribed:
            self._log.warning("intake.nats_disconnected")

    async def _on_reconnected(self) -> None:
        self._logged_error = None
        self._log.info("intake.nats_reconnected")

    def _failed(self, event: str, exc: BaseException, retry_in: float) -> None:
        """Record an error; log it (one line, no traceback, no secret) when it is a new one."""
        error = self._redact(f"{type(exc).__name__}: {exc}")
        self._last_error = error
        if error == self._logged_error:
            return  # nats-py retries every few seconds: one line per distinct error
        self._logged_error = error
        self._log.error(
            event,
            error=error,
            retry_in=retry_in,
        )

    def _redact(self, text: str) -> str:
        """``text`` without the URL's password, user or token (errors may quote the URL)."""
        for server in self._settings.url.get_secret_value().split(","):
            parts = urlsplit(server.strip())
            for secret in (parts.password, parts.username):
                if secret:
                    text = text.replace(secret, "***")
        return " ".join(text.split())


def _sequence(message: Msg) -> int | None:
    """The message's stream sequence, when its reply subject carries the metadata."""
    try:
        return message.metadata.sequence.stream
    except (nats.errors.Error, ValueError, IndexError, AttributeError):
        return None


async def _until_done_or_stopped(
    task: asyncio.Task[_T], stop: asyncio.Event, grace: float = 0.0
) -> bool:
    """
    Wait for ``task``; ``False`` when ``stop`` came first (the task then gets ``grace``
    seconds, and is cancelled if it is still running).
    """
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task.done():
        return True  # its result (or error) is the caller's
    if grace > 0:
        await asyncio.wait({task}, timeout=grace)
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return False


__all__ = ["NatsConsumer", "nats_location"]
