"""
Where the simulated DAM's events go: a webhook URL, a RabbitMQ exchange, a NATS JetStream
subject.

Each sink makes one attempt per :meth:`EventSink.send` and raises :class:`DeliveryFailed` when
it did not get through; retries, backoff and counting belong to the feed (``event_feed``).
Connections are opened on first use and dropped after a failure, so the next attempt
reconnects. URLs may hold credentials: they never appear in an exception's text, a log or a repr.
"""

from __future__ import annotations

from typing import Literal, Protocol

import aio_pika
import httpx
import nats
from aiormq.abc import DeliveredMessage
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pamqp.commands import Basic

from daemon.sim.dam.event_shapes import Envelope

SinkName = Literal["webhook", "rabbitmq", "nats"]


class DeliveryFailed(Exception):
    """
    One attempt did not get through.

    Args:
        sink: which target.
        reason: a short cause (a status code or an exception's class), never a URL.
    """

    def __init__(self, sink: SinkName, reason: str) -> None:
        self.sink = sink
        self.reason = reason
        super().__init__(f"{sink}: {reason}")


class EventSink(Protocol):
    """One target of the feed."""

    name: SinkName

    async def send(self, envelope: Envelope, headers: dict[str, str]) -> None:
        """Deliver once, or raise :class:`DeliveryFailed`."""
        ...

    async def aclose(self) -> None:
        """Close connections (idempotent)."""
        ...


class WebhookSink:
    """
    POSTs each event to one URL; any non-2xx answer is a failure.

    Args:
        url: the receiver (may carry a token: never shown).
        timeout: seconds for one attempt (Standard Webhooks producers use 15-30 s).
        transport: an httpx transport for tests (``None``: the network).
    """

    name: SinkName = "webhook"

    def __init__(
        self, url: str, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url = url
        self._client = httpx.AsyncClient(
            timeout=timeout, transport=transport, follow_redirects=False
        )
        self.last_status: int | None = None

    async def send(self, envelope: Envelope, headers: dict[str, str]) -> None:
        """POST the body with the attempt's headers."""
        try:
            response = await self._client.post(self._url, content=envelope.body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(self.name, type(exc).__name__) from None
        self.last_status = response.status_code
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(self.name, f"HTTP {response.status_code}")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    def __repr__(self) -> str:
        return "WebhookSink(<url>)"


class AmqpSink:
    """
    Publishes each event to RabbitMQ with publisher confirms (persistent, ``mandatory``): a
    message no queue takes (returned) or a nack is a failed attempt.

    Args:
        url: ``amqp://user:password@host/vhost`` (never shown).
        exchange: a topic exchange to declare (durable) and publish to; ``""``: the default
            exchange, where the routing key is the queue's name.
        routing_key: the routing key (the queue's name on the default exchange).
        timeout: seconds for connecting and for one confirm.
    """

    name: SinkName = "rabbitmq"

    def __init__(self, url: str, *, exchange: str, routing_key: str, timeout: float) -> None:
        self._url = url
        self._exchange_name = exchange
        self._routing_key = routing_key
        self._timeout = timeout
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def _target(self) -> aio_pika.abc.AbstractExchange:
        if self._exchange is None:
            self._connection = await aio_pika.connect(self._url, timeout=self._timeout)
            channel = await self._connection.channel(publisher_confirms=True)
            if self._exchange_name:
                self._exchange = await channel.declare_exchange(
                    self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
                )
            else:
                self._exchange = channel.default_exchange
        return self._exchange

    async def send(self, envelope: Envelope, headers: dict[str, str]) -> None:
        """Publish the body; the attempt's headers go in the message's headers."""
        message = aio_pika.Message(
            envelope.body,
            headers=dict(headers),
            content_type=headers.get("Content-Type", "application/json"),
            message_id=envelope.event_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            exchange = await self._target()
            confirmation = await exchange.publish(
                message, self._routing_key, mandatory=True, timeout=self._timeout
            )
        except Exception as exc:  # any broker or network error: this attempt failed
            await self.aclose()
            raise DeliveryFailed(self.name, type(exc).__name__) from None
        if isinstance(confirmation, DeliveredMessage):  # returned: no queue is bound
            raise DeliveryFailed(self.name, "unroutable")
        if isinstance(confirmation, Basic.Nack):
            raise DeliveryFailed(self.name, "nack")

    async def aclose(self) -> None:
        """Close the connection."""
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # closing a broken connection: nothing left to do
                pass

    def __repr__(self) -> str:
        return f"AmqpSink(exchange={self._exchange_name!r}, routing_key={self._routing_key!r})"


class NatsSink:
    """
    Publishes each event to a NATS JetStream subject and waits for the stream's ack.

    Args:
        url: ``nats://host:4222`` (may carry credentials: never shown).
        subject: the subject.
        stream: a stream to create (covering ``subject``) when it does not exist; ``""``:
            the stream must exist already.
        timeout: seconds for connecting and for one ack.
    """

    name: SinkName = "nats"

    def __init__(self, url: str, *, subject: str, stream: str, timeout: float) -> None:
        self._url = url
        self._subject = subject
        self._stream = stream
        self._timeout = timeout
        self._client: NatsClient | None = None

    async def _jetstream(self) -> JetStreamContext:
        if self._client is None:
            self._client = await nats.connect(
                self._url,
                connect_timeout=self._timeout,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # 0 would mean "for ever" in nats-py
                reconnect_time_wait=0.1,
                error_cb=_quiet,  # the feed counts and logs failures itself
            )
            js = self._client.jetstream(timeout=self._timeout)
            if self._stream:
                try:
                    await js.stream_info(self._stream)
                except NotFoundError:
                    await js.add_stream(name=self._stream, subjects=[self._subject])
        return self._client.jetstream(timeout=self._timeout)

    async def send(self, envelope: Envelope, headers: dict[str, str]) -> None:
        """Publish the body with the attempt's headers (no ``Nats-Msg-Id``: duplicates pass)."""
        try:
            js = await self._jetstream()
            await js.publish(self._subject, envelope.body, headers=dict(headers))
        except Exception as exc:  # any broker or network error: this attempt failed
            await self.aclose()
            raise DeliveryFailed(self.name, type(exc).__name__) from None

    async def aclose(self) -> None:
        """Close the connection."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # closing a broken connection: nothing left to do
                pass

    def __repr__(self) -> str:
        return f"NatsSink(subject={self._subject!r}, stream={self._stream!r})"


async def _quiet(_exc: Exception) -> None:
    return None


__all__ = ["AmqpSink", "DeliveryFailed", "EventSink", "NatsSink", "SinkName", "WebhookSink"]
