"""
The event side of one configuration: broker consumers, the inbox consumer of each source, and
the inbox's upkeep (depth metrics, pruning). The webhook server is the process's
(:mod:`daemon.service.webhook_gate`); it hands its events to :meth:`EventLoops.persist`.

Each source fed by a webhook or a broker gets one consumer loop: woken at once when this process
stores an event for it, it waits ``[events] debounce`` seconds so that a burst is written as one
group, then consumes until the source's pending rows are taken. It also looks every
:data:`POLL_SECONDS` for rows it was not woken for (another instance's receiver, rows released
with a backoff, claims of a crashed consumer that expired).

Replicas on one PostgreSQL database: every replica receives webhooks and broker messages (it
only stores them), but a source's inbox is consumed only by the replica that owns the source
(:mod:`daemon.engine.replica_leases`), under the lease it keeps between jobs; the claim itself
is ``FOR UPDATE SKIP LOCKED`` besides, so two consumers never take the same row.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import structlog

from daemon.core.events import DamEvent, EventOrigin, InboxAdded
from daemon.engine.inbox_consumer import ConsumeReport, InboxOptions, consume_inbox
from daemon.engine.leasing import lease_keeper
from daemon.engine.source_jobs import SourceJobs
from daemon.intake.extract import EventReader
from daemon.settings.event_intake import EventFields, EventSettings, WebhookSettings
from daemon.settings.root import Settings
from daemon.store import Store
from daemon.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from daemon.intake.rabbitmq_consumer import BrokerHealth

log = structlog.get_logger(__name__)

#: Seconds between two looks at a source's inbox when nothing woke its consumer.
POLL_SECONDS = 5.0

#: Seconds before a consumer that found its source's lease busy tries again.
LEASE_RETRY_SECONDS = 0.25

#: Seconds between two prunes of finished inbox rows (and depth refreshes when idle).
UPKEEP_SECONDS = 3600.0


class BrokerConsumer(Protocol):
    """A RabbitMQ or NATS consumer (``daemon.intake``)."""

    @property
    def health(self) -> BrokerHealth: ...

    async def run(self, stop: asyncio.Event) -> None: ...


def inbox_options(events: EventSettings) -> InboxOptions:
    """The consumer's options from ``[events]``."""
    return InboxOptions(
        claim_batch=events.claim_batch,
        claim_seconds=events.claim_seconds,
        max_attempts=events.max_attempts,
        retry_base=events.retry_base,
        retry_max=events.retry_max,
        retention=events.retention,
    )


def webhook_sources(settings: Settings) -> dict[str, tuple[WebhookSettings, EventFields]]:
    """``{source: (its webhook, its event fields)}`` for every source that takes webhooks."""
    return {
        s.name: (s.webhook, s.events)
        for s in settings.sources
        if s.webhook is not None and s.events is not None
    }


def origins_of(settings: Settings, name: str) -> tuple[EventOrigin, ...]:
    """Where the events of source ``name`` come in."""
    entry = settings.source(name)
    found: list[EventOrigin] = []
    if entry.webhook is not None:
        found.append("webhook")
    if entry.broker is not None:
        found.append(entry.broker.type)
    return tuple(found)


@dataclass(slots=True)
class _SourceLoop:
    jobs: SourceJobs
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last: ConsumeReport | None = None


class EventLoops:
    """
    Brokers, inbox consumers and upkeep of one configuration; started and stopped with it.

    Args:
        settings: The configuration (``[events]``, each source's webhook/broker/events).
        store: The state store (the inbox).
        metrics: Intake and inbox metrics.
        runners: The configuration's source jobs by name (processor, source, lease holder).
        clock: Aware-UTC clock (latencies, pruning).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        metrics: Metrics,
        runners: Sequence[SourceJobs],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._events = settings.events
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._options = inbox_options(settings.events)
        self._loops: dict[str, _SourceLoop] = {}
        self.brokers: dict[str, BrokerConsumer] = {}
        for jobs in runners:
            entry = settings.source(jobs.name)
            if entry.events is None or (entry.webhook is None and entry.broker is None):
                continue
            self._loops[jobs.name] = _SourceLoop(jobs)
            metrics.register_event_source(jobs.name, origins_of(settings, jobs.name))
            if entry.broker is not None:
                reader = EventReader(jobs.name, entry.events)
                parse = reader.parser(entry.broker.type)
                # The broker clients load only when a broker is configured.
                if entry.broker.type == "rabbitmq":
                    from daemon.intake.rabbitmq_consumer import RabbitConsumer

                    consumer: BrokerConsumer = RabbitConsumer(
                        jobs.name, entry.broker, parse, self.persist, metrics
                    )
                else:
                    from daemon.intake.nats_consumer import NatsConsumer

                    consumer = NatsConsumer(jobs.name, entry.broker, parse, self.persist, metrics)
                self.brokers[jobs.name] = consumer
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def sources(self) -> list[str]:
        """The sources fed by events."""
        return list(self._loops)

    async def persist(self, events: Sequence[DamEvent]) -> InboxAdded:
        """Store events in the inbox (one transaction), then wake their sources' consumers."""
        added = await asyncio.to_thread(self._store.add_events, events)
        for name in {e.source for e in events}:
            loop = self._loops.get(name)
            if loop is not None:
                loop.wake.set()
        return added

    def start(self) -> None:
        """Start the broker consumers, the consumer loops and the upkeep (idempotent)."""
        if self._tasks or not self._loops:
            return
        for name, broker in self.brokers.items():
            self._spawn(self._broker(name, broker), f"{name}:broker")
        for name, loop in self._loops.items():
            self._spawn(self._consume_loop(loop), f"{name}:inbox")
        self._spawn(self._upkeep(), "inbox-upkeep")
        log.info("events.started", sources=self.sources, brokers=sorted(self.brokers))

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def wrapper() -> None:
            await coro

        self._tasks.append(asyncio.create_task(wrapper(), name=f"damsync-{name}"))

    async def _broker(self, name: str, broker: BrokerConsumer) -> None:
        watch = asyncio.create_task(self._watch_broker(name, broker))
        try:
            await broker.run(self._stop)
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            self._metrics.set_broker_connected(name, self._broker_origin(name), False)

    def _broker_origin(self, name: str) -> str:
        broker = self._settings.source(name).broker
        return broker.type if broker is not None else "webhook"

    async def _watch_broker(self, name: str, broker: BrokerConsumer) -> None:
        origin = self._broker_origin(name)
        while True:
            self._metrics.set_broker_connected(name, origin, broker.health.connected)
            await asyncio.sleep(1.0)

    async def _consume_loop(self, loop: _SourceLoop) -> None:
        jobs = loop.jobs
        debounce = self._events.debounce
        keeper = lease_keeper()
        while not self._stop.is_set():
            await _first_of(loop.wake, self._stop, timeout=POLL_SECONDS)
            if self._stop.is_set():
                return
            loop.wake.clear()
            if not keeper.may_run(jobs.name, jobs.holder):
                continue  # another replica owns the source: its consumer takes the rows
            # Gather a burst: the events arriving meanwhile are written with these.
            if debounce and await _first_of(self._stop, timeout=debounce):
                return
            while not self._stop.is_set():
                report = await consume_inbox(
                    jobs.source,
                    jobs.processor,
                    self._store,
                    self._options,
                    holder=jobs.holder,
                    lease_ttl=jobs.options.lease_ttl,
                    batch_size=jobs.options.batch_size,
                    observer=self._metrics,
                )
                loop.last = report
                await self._refresh_depth()
                if report.lease_busy:
                    # A pass of this source writes now; look again shortly, not in POLL_SECONDS.
                    if await _first_of(self._stop, timeout=LEASE_RETRY_SECONDS):
                        return
                    continue
                if report.claimed < self._options.claim_batch or report.error or report.released:
                    break  # all taken, or failing: the backoff decides when to look again

    async def _refresh_depth(self) -> None:
        try:
            depth = await asyncio.to_thread(self._store.inbox_depth)
        except Exception as exc:  # the store is away: the next refresh reports it
            log.warning("events.depth_unavailable", error=str(exc))
            return
        now = self._clock()
        self._metrics.set_inbox_depth(
            {
                name: (
                    d.pending,
                    (now - d.oldest).total_seconds() if d.oldest is not None else None,
                    d.dead,
                )
                for name, d in depth.items()
            }
        )

    async def _upkeep(self) -> None:
        while not self._stop.is_set():
            try:
                before = self._clock() - timedelta(seconds=self._events.retention)
                pruned = await asyncio.to_thread(self._store.prune_events, before)
                if pruned:
                    log.info("events.pruned", rows=pruned, before=before.isoformat())
            except Exception as exc:  # the store is away: try again at the next upkeep
                log.warning("events.prune_failed", error=str(exc))
            await self._refresh_depth()
            if await _first_of(self._stop, timeout=min(UPKEEP_SECONDS, POLL_SECONDS * 12)):
                return

    async def aclose(self, grace: float = 5.0) -> None:
        """Stop consuming: brokers close, a consume in progress gets ``grace`` seconds."""
        self._stop.set()
        if not self._tasks:
            return
        done, pending = await asyncio.wait(self._tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("events.task_failed", task=task.get_name(), error=str(task.exception()))
        self._tasks.clear()


async def _first_of(*events: asyncio.Event, timeout: float) -> bool:
    """Wait until one of ``events`` is set or ``timeout`` passes; whether one was set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    return bool(done)


__all__ = ["EventLoops", "inbox_options", "origins_of", "webhook_sources"]
