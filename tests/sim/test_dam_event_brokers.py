"""The DAM simulator publishing its events to the real local RabbitMQ and NATS JetStream.

Each test uses names of its own and removes them. Without a broker the tests skip locally and
fail under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import nats
import pytest
from nats.js.api import StreamConfig
from starlette.applications import Starlette

from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.dam.event_options import EventFeedOptions
from tests.sim.test_dam_helpers import Clock

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
NATS_URL = "nats://127.0.0.1:4222"

pytestmark = pytest.mark.e2e


def _missing(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable ({type(exc).__name__})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI must run this test")
    pytest.skip(message)


@pytest.fixture(name="amqp")
async def _amqp() -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
    except Exception as exc:  # any failure to connect: no broker here
        _missing("RabbitMQ at 127.0.0.1:5672", exc)
    async with connection:
        yield await connection.channel()


@pytest.fixture(name="js")
async def _js() -> AsyncIterator[nats.js.JetStreamContext]:
    try:
        client = await nats.connect(NATS_URL, connect_timeout=5, allow_reconnect=False)
    except Exception as exc:  # any failure to connect: no broker here
        _missing("NATS at 127.0.0.1:4222", exc)
    try:
        yield client.jetstream(timeout=5)
    finally:
        await client.close()


def _app(**events: Any) -> Starlette:
    return create_dam_app(
        DamSimOptions(assets=30),
        clock=Clock(),
        events=EventFeedOptions(retry_base=0.0, concurrency=1, **events),
        event_transport=httpx.MockTransport(lambda _r: httpx.Response(200)),
    )


async def _drain(
    queue: aio_pika.abc.AbstractQueue, count: int, timeout: float = 10.0
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take ``count`` messages from the queue, waiting at most ``timeout`` seconds in all."""
    messages: list[aio_pika.abc.AbstractIncomingMessage] = []
    async with asyncio.timeout(timeout):
        async with queue.iterator() as stream:
            async for message in stream:
                await message.ack()
                messages.append(message)
                if len(messages) == count:
                    break
    return messages


async def test_rabbitmq_default_exchange_gets_every_event(amqp):
    """Published on the default exchange, each change lands in the queue, persistent and
    signed, with its id as message_id."""
    name = f"damsync-test-{uuid.uuid4().hex}"
    queue = await amqp.declare_queue(name, durable=False)
    app = _app(amqp_url=AMQP_URL, amqp_routing_key=name)
    try:
        async with app.state.events as feed:
            tick = app.state.dam.store.tick(app.state.dam.now_us())
            await feed.wait_idle(10)
        messages = await _drain(queue, 13)
    finally:
        await queue.delete(if_unused=False, if_empty=False)
    ids = {json.loads(m.body)["data"]["id"] for m in messages}
    assert set(tick.changed + tick.added + tick.deleted) == ids
    assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in messages)
    assert all(str(m.headers["webhook-signature"]).startswith("v1,") for m in messages)
    assert all(m.message_id == m.headers["webhook-id"] for m in messages)
    assert {"rabbitmq": 13} == dict(feed.stats.delivered)


async def test_rabbitmq_topic_exchange_and_duplicates(amqp):
    """Through a declared topic exchange, duplicate=1 delivers every event twice."""
    suffix = uuid.uuid4().hex
    exchange = await amqp.declare_exchange(
        f"damsync-test-x-{suffix}", aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await amqp.declare_queue(f"damsync-test-{suffix}", durable=False)
    await queue.bind(exchange, "dam.#")
    app = _app(
        style="bynder",
        amqp_url=AMQP_URL,
        amqp_exchange=exchange.name,
        amqp_routing_key="dam.events",
        duplicate=1.0,
    )
    try:
        async with app.state.events as feed:
            app.state.dam.store.mutate(1, app.state.dam.now_us(), deleted=True)
            await feed.wait_idle(10)
        messages = await _drain(queue, 2)
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
    envelopes = [json.loads(m.body) for m in messages]
    assert 1 == len({e["MessageId"] for e in envelopes})
    assert ["asset_bank.media.deleted"] * 2 == [e["Subject"] for e in envelopes]
    assert messages[0].body == messages[1].body


async def test_rabbitmq_unroutable_message_is_a_failure(amqp):
    """With no queue behind the routing key, the returned message counts as failed."""
    app = _app(
        amqp_url=AMQP_URL, amqp_routing_key=f"damsync-none-{uuid.uuid4().hex}", max_attempts=2
    )
    async with app.state.events as feed:
        app.state.dam.store.mutate(2, app.state.dam.now_us(), new_file=True)
        await feed.wait_idle(10)
    assert ({"rabbitmq": 2}, {"rabbitmq": 1}) == (
        dict(feed.stats.attempts),
        dict(feed.stats.failed),
    )


async def test_nats_existing_stream_gets_every_event(js):
    """Published on a subject of an existing stream, every change is stored, with its headers."""
    suffix = uuid.uuid4().hex
    stream, subject = f"damsync-test-{suffix}", f"damsync.test.{suffix}"
    await js.add_stream(StreamConfig(name=stream, subjects=[subject]))
    app = _app(style="cloudinary", nats_url=NATS_URL, nats_subject=subject)
    try:
        async with app.state.events as feed:
            tick = app.state.dam.store.tick(app.state.dam.now_us())
            await feed.wait_idle(10)
        info = await js.stream_info(stream)
        messages = [await js.get_msg(stream, seq) for seq in range(1, info.state.messages + 1)]
    finally:
        await js.delete_stream(stream)
    bodies = [json.loads(m.data) for m in messages]
    public_ids = {
        (b["resources"][0] if b["notification_type"] == "delete" else b)["public_id"]
        for b in bodies
    }
    assert {f"damsync/{i}" for i in tick.changed + tick.added + tick.deleted} == public_ids
    assert all("X-Cld-Signature" in (m.headers or {}) for m in messages)
    assert {"nats": 13} == dict(feed.stats.delivered)


async def test_nats_stream_is_created_when_missing(js):
    """With nats_stream, the simulator creates the stream for its subject."""
    suffix = uuid.uuid4().hex
    stream, subject = f"damsync-test-{suffix}", f"damsync.test.{suffix}"
    app = _app(nats_url=NATS_URL, nats_subject=subject, nats_stream=stream)
    try:
        async with app.state.events as feed:
            app.state.dam.store.mutate(3, app.state.dam.now_us(), metadata={"sku": "N"})
            await feed.wait_idle(10)
        info = await js.stream_info(stream)
    finally:
        try:
            await js.delete_stream(stream)
        except nats.js.errors.NotFoundError:
            pass
    assert ([subject], 1) == (info.config.subjects, info.state.messages)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("target", ["rabbitmq", "nats"])
async def test_unreachable_broker_is_a_failed_attempt(target):
    """A broker that does not answer makes failed attempts, retried then given up."""
    port = _closed_port()
    if target == "rabbitmq":
        events = {"amqp_url": f"amqp://guest:guest@127.0.0.1:{port}/", "amqp_routing_key": "q"}
    else:
        events = {"nats_url": f"nats://127.0.0.1:{port}", "nats_subject": "s"}
    app = _app(max_attempts=2, timeout=2, **events)
    async with app.state.events as feed:
        app.state.dam.store.mutate(4, app.state.dam.now_us(), metadata={"sku": "U"})
        await feed.wait_idle(10)
    assert ({target: 2}, {target: 1}) == (dict(feed.stats.attempts), dict(feed.stats.failed))


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_missing_broker_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    """The broker fixtures never skip under CI=true."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome):
        _missing("RabbitMQ", ConnectionRefusedError())
