"""The NATS JetStream consumer against the real local server: persist-then-ack, term, outages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerInfo
from structlog.testing import capture_logs

from daemon.intake.nats_consumer import NatsConsumer
from daemon.intake.rabbitmq_consumer import Backoff
from daemon.settings.event_intake import BrokerSettings
from tests.intake.broker_fixtures import (
    NATS_URL,
    Observer,
    Recorder,
    body,
    json_parser,
    require_server,
    wait_until,
)

pytestmark = pytest.mark.slow

FAST = Backoff(0.05, 0.2)


class Stream:
    """A unique stream and subject, a publisher, and the consumer's state; deleted afterwards."""

    def __init__(self, client: Client) -> None:
        self.js = client.jetstream()
        tag = uuid.uuid4().hex[:12]
        self.name = f"DAMSYNC_TEST_{tag}"
        self.subject = f"damsync.test.{tag}.events"

    def settings(self, **overrides: object) -> BrokerSettings:
        values: dict[str, object] = {
            "type": "nats",
            "url": NATS_URL,
            "stream": self.name,
            "subject": self.subject,
            "durable": "damsync",
            "fetch_batch": 10,
            "ack_wait": 30.0,
        }
        values.update(overrides)
        return BrokerSettings.model_validate(values)

    async def publish(self, payload: bytes) -> None:
        await self.js.publish(self.subject, payload, stream=self.name)

    async def info(self) -> ConsumerInfo:
        info: ConsumerInfo = await self.js.consumer_info(self.name, "damsync")
        return info

    async def settled(self) -> bool:
        """Nothing pending, nothing awaiting an ack."""
        info = await self.info()
        return info.num_pending == 0 and info.num_ack_pending == 0


@pytest.fixture
async def stream() -> AsyncIterator[Stream]:
    require_server("NATS", "127.0.0.1", 4222)
    client = await nats.connect(NATS_URL)
    created = Stream(client)
    await created.js.add_stream(name=created.name, subjects=[created.subject])
    try:
        yield created
    finally:
        await created.js.delete_stream(created.name)
        await client.close()


class Running:
    """One consumer task, stopped through its event."""

    def __init__(self, consumer: NatsConsumer) -> None:
        self.consumer = consumer
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(consumer.run(self.stop))

    async def connected(self) -> None:
        await wait_until(lambda: self.consumer.health.connected, "the consumer to bind")

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)


def consumer(
    settings: BrokerSettings, recorder: Recorder, observer: Observer, drain_seconds: float = 5.0
) -> Running:
    parse = json_parser("dam", "nats")
    return Running(
        NatsConsumer(
            "dam",
            settings,
            parse,
            recorder,
            observer,
            setup_backoff=FAST,
            store_backoff=FAST,
            fetch_timeout=0.5,
            reconnect_wait=1,
            drain_seconds=drain_seconds,
        )
    )


async def test_messages_are_persisted_then_acknowledged(stream: Stream) -> None:
    """Every message ends in the store and the durable consumer has nothing left."""
    recorder, observer = Recorder(), Observer()
    running = consumer(stream.settings(), recorder, observer)
    await running.connected()
    for n in range(5):
        await stream.publish(body(f"e{n}", asset=f"a{n}"))
    await stream.publish(body("e0"))
    await wait_until(lambda: len(recorder.events) == 6, "six events stored")
    await wait_until(stream.settled, "every message acknowledged")
    await running.close()

    assert ["e0", "e1", "e2", "e3", "e4"] == sorted(set(recorder.ids()))
    assert (5, 1) == (observer.received, observer.deduplicated)
    assert [] == observer.rejected
    assert not running.consumer.health.connected


async def test_unparsable_message_is_terminated(stream: Stream) -> None:
    """A body the parser refuses is terminated (never redelivered), counted and logged."""
    recorder, observer = Recorder(), Observer()
    running = consumer(stream.settings(), recorder, observer)
    await running.connected()
    with capture_logs() as logs:
        await stream.publish(b"not json, secret-body")
        await stream.publish(body("good"))
        await wait_until(lambda: recorder.ids() == ["good"], "the good message stored")
        await wait_until(stream.settled, "both messages settled")
    await running.close()

    info = await stream.info()
    assert 0 == info.num_redelivered
    assert [("dam", "nats", "unparsable")] == observer.rejected
    rejected = [line for line in logs if line["event"] == "intake.nats_message_rejected"]
    assert 1 == len(rejected)
    assert 1 == rejected[0]["sequence"]
    assert "secret-body" not in repr(logs)


async def test_persist_failure_naks_and_the_message_comes_back(stream: Stream) -> None:
    """While the store is down nothing is acknowledged; once it answers the event is stored."""
    recorder, observer = Recorder(), Observer()
    recorder.failing = True
    running = consumer(stream.settings(), recorder, observer)
    await running.connected()
    with capture_logs() as logs:
        await stream.publish(body("e1"))
        await wait_until(lambda: recorder.failures >= 3, "the message redelivered twice")
        assert [] == recorder.events
        assert ((await stream.info()).num_redelivered or 0) >= 1
        recorder.failing = False
        await wait_until(lambda: recorder.ids() == ["e1"], "the event stored after recovery")
        await wait_until(stream.settled, "the message acknowledged")
    await running.close()

    assert 1 == observer.received
    assert ("dam", "nats", "store_unavailable") in observer.rejected
    events = [line["event"] for line in logs]
    assert 1 == events.count("intake.nats_store_unavailable")
    assert 1 == events.count("intake.nats_store_recovered")


async def test_crash_before_ack_redelivers_the_event(stream: Stream) -> None:
    """Stopped after the store took an event but before the ack: it arrives again."""
    recorder, observer = Recorder(), Observer()
    recorder.hold_after_record = True
    settings = stream.settings(ack_wait=1.0)
    first = consumer(settings, recorder, observer, drain_seconds=0.1)
    await first.connected()
    await stream.publish(body("e1"))
    await wait_until(lambda: recorder.ids() == ["e1"], "the event recorded")
    await first.close()

    recorder.hold_after_record = False
    second = consumer(settings, recorder, observer)
    await wait_until(lambda: recorder.ids() == ["e1", "e1"], "the event delivered again")
    await wait_until(stream.settled, "the redelivery acknowledged")
    await second.close()

    assert 1 == observer.deduplicated


async def test_fetch_batch_bounds_unacknowledged_messages(stream: Stream) -> None:
    """With fetch_batch 3 and a blocked store, three messages await their ack, no more."""
    recorder, observer = Recorder(), Observer()
    recorder.gate = asyncio.Event()
    for n in range(10):
        await stream.publish(body(f"e{n}"))
    running = consumer(stream.settings(fetch_batch=3), recorder, observer)
    await running.connected()
    await wait_until(lambda: recorder.in_flight == 1, "one batch in the store")
    info = await stream.info()
    assert (3, 7) == (info.num_ack_pending, info.num_pending)
    recorder.gate.set()
    await wait_until(lambda: len(recorder.events) == 10, "all ten stored")
    await wait_until(stream.settled, "all acknowledged")
    await running.close()

    assert max(recorder.calls) <= 3
    assert 1 == recorder.max_in_flight


async def test_missing_stream_is_one_clear_error(stream: Stream) -> None:
    """A stream that does not exist: the health says so, in one line, and stop still works."""
    recorder, observer = Recorder(), Observer()
    with capture_logs() as logs:
        running = consumer(stream.settings(stream="DAMSYNC_NO_SUCH_STREAM"), recorder, observer)
        await wait_until(lambda: running.consumer.health.last_error is not None, "the error")
        await running.close()

    error = running.consumer.health.last_error
    assert error is not None
    assert "DAMSYNC_NO_SUCH_STREAM" in error
    assert not running.consumer.health.connected
    failures = [line for line in logs if line["event"] == "intake.nats_setup_failed"]
    assert 1 == len(failures)  # repeated attempts with the same error are not logged again


async def test_unreachable_server_is_retried_without_leaking_the_password() -> None:
    """A refused connection shows in the health and the logs, host only; stop still works."""
    settings = BrokerSettings.model_validate(
        {
            "type": "nats",
            "url": "nats://damsync:hunter2-pw@127.0.0.1:1",
            "stream": "S",
            "subject": "s.x",
        }
    )
    with capture_logs() as logs:
        running = consumer(settings, Recorder(), Observer())
        await wait_until(
            lambda: running.consumer.health.last_error is not None, "a connection attempt"
        )
        await running.close()

    assert not running.consumer.health.connected
    assert "hunter2-pw" not in repr(logs)
    assert "hunter2-pw" not in repr(running.consumer)
    assert "hunter2-pw" not in str(running.consumer.health.last_error)
    assert "127.0.0.1:1" == logs[0]["broker"]
