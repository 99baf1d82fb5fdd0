"""The RabbitMQ consumer against the real local broker: persist-then-ack, dead letters, outages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable

import aio_pika
import pytest
from structlog.testing import capture_logs

from daemon.intake.rabbitmq_consumer import Backoff, RabbitConsumer
from daemon.settings.event_intake import BrokerSettings
from tests.intake.broker_fixtures import (
    RABBITMQ_URL,
    Observer,
    Recorder,
    body,
    json_parser,
    require_server,
    wait_until,
)

pytestmark = pytest.mark.slow

FAST = Backoff(0.05, 0.2)


class Rabbit:
    """A unique queue, its dead-letter exchange and queue, and a publisher; deleted afterwards."""

    def __init__(self, connection: aio_pika.abc.AbstractConnection) -> None:
        self.connection = connection
        self.queue = f"damsync-test-{uuid.uuid4().hex[:12]}"
        self.dlx = f"{self.queue}.dlx"

    def settings(self, **overrides: object) -> BrokerSettings:
        values: dict[str, object] = {
            "type": "rabbitmq",
            "url": RABBITMQ_URL,
            "queue": self.queue,
            "dead_letter_exchange": self.dlx,
            "prefetch": 10,
        }
        values.update(overrides)
        return BrokerSettings.model_validate(values)

    async def publish(self, payload: bytes, message_id: str | None = None) -> None:
        async with self.connection.channel() as channel:
            message = aio_pika.Message(
                payload, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await channel.default_exchange.publish(message, routing_key=self.queue)

    async def count(self, queue: str) -> int:
        """Ready messages in ``queue`` (a passive declare)."""
        async with self.connection.channel() as channel:
            declared = await channel.declare_queue(queue, passive=True)
            count = declared.declaration_result.message_count
            assert count is not None
            return count

    async def cleanup(self) -> None:
        async with self.connection.channel() as channel:
            for queue in (self.queue, f"{self.queue}.dead"):
                await channel.queue_delete(queue)
            await channel.exchange_delete(self.dlx)


@pytest.fixture
async def rabbit() -> AsyncIterator[Rabbit]:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    connection = await aio_pika.connect(RABBITMQ_URL)
    broker = Rabbit(connection)
    try:
        yield broker
    finally:
        await broker.cleanup()
        await connection.close()


class Running:
    """One consumer task, stopped through its event."""

    def __init__(self, consumer: RabbitConsumer) -> None:
        self.consumer = consumer
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(consumer.run(self.stop))

    async def connected(self) -> None:
        await wait_until(lambda: self.consumer.health.connected, "the consumer to connect")

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)


def consumer(
    settings: BrokerSettings, recorder: Recorder, observer: Observer, drain_seconds: float = 5.0
) -> Running:
    parse = json_parser("dam", "rabbitmq")
    return Running(
        RabbitConsumer(
            "dam",
            settings,
            parse,
            recorder,
            observer,
            store_backoff=FAST,
            connect_backoff=FAST,
            drain_seconds=drain_seconds,
        )
    )


async def test_messages_are_persisted_then_acknowledged(rabbit: Rabbit) -> None:
    """Every message ends in the store once and the queue is empty afterwards."""
    recorder, observer = Recorder(), Observer()
    running = consumer(rabbit.settings(), recorder, observer)
    await running.connected()
    for n in range(5):
        await rabbit.publish(body(f"e{n}", asset=f"a{n}"))
    await rabbit.publish(body("e0"))  # a redelivery by the DAM: stored again, counted as duplicate
    await wait_until(lambda: len(recorder.events) == 6, "six events stored")
    await wait_until(lambda: observer.deduplicated == 1, "the duplicate counted")
    await running.close()

    assert ["e0", "e1", "e2", "e3", "e4"] == sorted(set(recorder.ids()))
    assert 5 == observer.received
    assert 0 == await rabbit.count(rabbit.queue)
    assert 0 == await rabbit.count(f"{rabbit.queue}.dead")
    assert [] == observer.rejected
    assert not running.consumer.health.connected


async def test_unparsable_message_goes_to_the_dead_letter_queue(rabbit: Rabbit) -> None:
    """A body the parser refuses is rejected to the DLX, counted and logged without its body."""
    recorder, observer = Recorder(), Observer()
    running = consumer(rabbit.settings(), recorder, observer)
    await running.connected()
    with capture_logs() as logs:
        await rabbit.publish(b"not json, secret-body", message_id="m-42")
        await rabbit.publish(body("good"))
        await wait_until(lambda: recorder.ids() == ["good"], "the good message stored")
        await wait_until(lambda: len(observer.rejected) == 1, "the rejection counted")
    await wait_until(
        lambda: _has(rabbit.count(f"{rabbit.queue}.dead"), 1), "the dead-lettered message"
    )
    await running.close()

    assert [("dam", "rabbitmq", "unparsable")] == observer.rejected
    assert 0 == await rabbit.count(rabbit.queue)
    rejected = [line for line in logs if line["event"] == "intake.rabbitmq_message_rejected"]
    assert 1 == len(rejected)
    assert "m-42" == rejected[0]["message_id"]
    assert "secret-body" not in repr(logs)


async def _has(count: Awaitable[int], expected: int) -> bool:
    return expected == await count


async def test_persist_failure_nacks_and_the_message_comes_back(rabbit: Rabbit) -> None:
    """While the store is down nothing is acknowledged; once it answers the event is stored."""
    recorder, observer = Recorder(), Observer()
    recorder.failing = True
    running = consumer(rabbit.settings(), recorder, observer)
    await running.connected()
    with capture_logs() as logs:
        await rabbit.publish(body("e1"))
        await wait_until(lambda: recorder.failures >= 3, "the message redelivered twice")
        assert [] == recorder.events
        recorder.failing = False
        await wait_until(lambda: recorder.ids() == ["e1"], "the event stored after recovery")
    await running.close()

    assert 1 == observer.received
    assert 0 == await rabbit.count(rabbit.queue)
    assert ("dam", "rabbitmq", "store_unavailable") in observer.rejected
    events = [line["event"] for line in logs]
    assert 1 == events.count("intake.rabbitmq_store_unavailable")  # once per outage, not per try
    assert 1 == events.count("intake.rabbitmq_store_recovered")


async def test_crash_before_ack_redelivers_the_event(rabbit: Rabbit) -> None:
    """Stopped after the store took an event but before the ack: the event arrives again."""
    recorder, observer = Recorder(), Observer()
    recorder.hold_after_record = True
    first = consumer(rabbit.settings(), recorder, observer, drain_seconds=0.1)
    await first.connected()
    await rabbit.publish(body("e1"))
    await wait_until(lambda: recorder.ids() == ["e1"], "the event recorded")
    await first.close()  # the connection closes with the message unacknowledged

    recorder.hold_after_record = False
    second = consumer(rabbit.settings(), recorder, observer)
    await wait_until(lambda: recorder.ids() == ["e1", "e1"], "the event delivered again")
    await second.close()

    assert 1 == observer.deduplicated  # the store dedupes by id; the broker delivered twice
    assert 0 == await rabbit.count(rabbit.queue)


async def test_prefetch_bounds_unacknowledged_messages(rabbit: Rabbit) -> None:
    """With prefetch 3 and a blocked store, three messages are in flight and the rest wait."""
    recorder, observer = Recorder(), Observer()
    recorder.gate = asyncio.Event()
    running = consumer(rabbit.settings(prefetch=3), recorder, observer)
    await running.connected()
    for n in range(10):
        await rabbit.publish(body(f"e{n}"))
    await wait_until(lambda: recorder.in_flight == 3, "three messages in flight")
    await wait_until(lambda: _has(rabbit.count(rabbit.queue), 7), "seven still in the queue")
    assert 3 == recorder.in_flight
    recorder.gate.set()
    await wait_until(lambda: len(recorder.events) == 10, "all ten stored")
    await running.close()

    assert 3 == recorder.max_in_flight
    assert 10 == len(set(recorder.ids()))


async def test_queue_declared_with_other_arguments_is_one_clear_error(rabbit: Rabbit) -> None:
    """An existing queue without the dead-letter argument: one error line, no consuming."""
    async with rabbit.connection.channel() as channel:
        await channel.declare_queue(rabbit.queue, durable=True)
    await rabbit.publish(body("e1"))
    recorder, observer = Recorder(), Observer()
    with capture_logs() as logs:
        running = consumer(rabbit.settings(), recorder, observer)
        await wait_until(lambda: running.consumer.health.last_error is not None, "the error")
        await running.close()

    health = running.consumer.health
    assert not health.connected
    assert health.last_error is not None
    assert "PRECONDITION_FAILED" in health.last_error
    assert rabbit.queue in health.last_error
    errors = [line for line in logs if line["event"] == "intake.rabbitmq_setup_failed"]
    assert errors
    assert "exc_info" not in errors[0]
    assert [] == recorder.events
    assert 1 == await rabbit.count(rabbit.queue)


async def test_unreachable_broker_is_retried_without_leaking_the_password() -> None:
    """A refused connection shows in the health and the logs, host only, and stop still works."""
    settings = BrokerSettings.model_validate(
        {"type": "rabbitmq", "url": "amqp://damsync:hunter2-pw@127.0.0.1:1/prod", "queue": "q"}
    )
    with capture_logs() as logs:
        running = consumer(settings, Recorder(), Observer())
        await wait_until(
            lambda: sum(line["event"] == "intake.rabbitmq_connect_failed" for line in logs) >= 2,
            "two connection attempts",
        )
        await running.close()

    assert not running.consumer.health.connected
    assert "hunter2-pw" not in repr(logs)
    assert "hunter2-pw" not in repr(running.consumer)
    assert "hunter2-pw" not in str(running.consumer.health.last_error)
    assert "127.0.0.1:1" == logs[0]["broker"]
    assert "prod" == logs[0]["vhost"]


def test_missing_broker_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker fixtures never skip in CI."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_server("RabbitMQ", "127.0.0.1", 1)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_server("RabbitMQ", "127.0.0.1", 1)
