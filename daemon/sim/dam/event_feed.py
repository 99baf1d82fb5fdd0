"""
The simulated DAM's event feed: every asset change becomes an event sent in the background.

:class:`EventFeed` listens to the store (``DamStore.listeners``): each add, change and delete,
from a tick, ``/_sim/mutate`` or a direct call, is noticed synchronously and cheaply (a seeded
fault draw and an append to a bounded queue), never blocking the DAM's request path. Tasks in
the feed's event loop render the event (``event_shapes``), pass it through the fault switches
and deliver it to every target (``event_sinks``) with bounded retries and exponential backoff.

Fault switches, drawn from ``random.Random(fault_seed)`` in the order changes happen, so the
same seed and the same changes give the same counts: ``drop`` (never sent), ``duplicate`` (sent
twice, same bytes), ``delay`` (held up to ``delay_max`` seconds) and ``reorder_window``
(events released in shuffled groups of that size). :class:`EventStats` counts all of it.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
import structlog

from daemon.sim.dam.dataset import AssetRecord, DamStore
from daemon.sim.dam.event_options import EventFeedOptions
from daemon.sim.dam.event_shapes import (
    Change,
    Envelope,
    EventRenderer,
    RendererConfig,
    change_kind,
)
from daemon.sim.dam.event_sinks import (
    AmqpSink,
    DeliveryFailed,
    EventSink,
    NatsSink,
    WebhookSink,
)
from daemon.sim.dam.webhook_signing import SnsSigner

log = structlog.get_logger(__name__)


class EventStats:
    """
    What the feed did, for tests and ``GET /_sim/events/stats``.

    ``emitted`` counts changes noticed; ``dropped``, ``duplicated``, ``delayed`` and
    ``reordered`` the fault switches; ``overflowed`` events lost to a full queue; and per
    target, ``attempts``, ``delivered`` (copies that got a 2xx or a broker ack) and ``failed``
    (copies given up after ``max_attempts``).
    """

    def __init__(self) -> None:
        self.emitted = 0
        self.dropped = 0
        self.duplicated = 0
        self.delayed = 0
        self.reordered = 0
        self.overflowed = 0
        self.attempts: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.subscription_confirmed = False

    def as_dict(self) -> dict[str, Any]:
        """
        Returns:
            The counters as JSON-ready values.
        """
        return {
            "emitted": self.emitted,
            "dropped": self.dropped,
            "duplicated": self.duplicated,
            "delayed": self.delayed,
            "reordered": self.reordered,
            "overflowed": self.overflowed,
            "attempts": dict(self.attempts),
            "delivered": dict(self.delivered),
            "failed": dict(self.failed),
            "subscription_confirmed": self.subscription_confirmed,
        }


class _Plan:
    """One noticed change and its fault draws."""

    __slots__ = ("change", "copies", "delay")

    def __init__(self, change: Change, copies: int, delay: float) -> None:
        self.change = change
        self.copies = copies
        self.delay = delay


class EventFeed:
    """
    Sends the DAM's changes as events; an async context manager around its tasks.

    Changes noticed before :meth:`start` wait in the queue (up to ``queue_limit``).

    Args:
        options: targets, style, secret, fault switches and limits.
        store: the DAM whose changes are sent (the feed adds itself to its listeners).
        clock: the DAM's clock (signed timestamps).
        base_url: the simulator's public URL (``SigningCertURL``, ``SubscribeURL``).
        transport: an httpx transport for the webhook (tests); ``None``: the network.
        sinks: targets replacing the ones the options describe (tests).
    """

    def __init__(
        self,
        options: EventFeedOptions,
        store: DamStore,
        clock: Callable[[], datetime],
        *,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        sinks: list[EventSink] | None = None,
    ) -> None:
        self.options = options
        self.stats = EventStats()
        self._clock = clock
        self.signer = (
            SnsSigner.from_files(options.sns_key, options.sns_cert)
            if options.style == "bynder"
            else None
        )
        config = RendererConfig(
            style=options.style,
            secret=options.effective_secret,
            base_url=base_url,
            topic_arn=options.topic_arn,
            sns_version=options.sns_version,
            cloudinary_algorithm=options.cloudinary_algorithm,
        )
        self.renderer = EventRenderer(config, store, self.signer)
        self.sinks = sinks if sinks is not None else _sinks(options, transport)
        self.subscription_token = secrets.token_hex(16)
        self._store = store
        self._faults = random.Random(options.fault_seed)
        self._jitter = random.Random(f"{options.fault_seed}:jitter")
        self._lock = threading.Lock()
        self._inbox: deque[_Plan] = deque()
        self._pending = 0  # copies accepted and not yet delivered or given up
        self._seq = 0
        self._window: list[Envelope] = []
        self._windows = 0
        self._flush: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._ready: asyncio.Queue[Envelope] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        store.listeners.append(self.notice)

    def notice(self, old: AssetRecord | None, new: AssetRecord) -> None:
        """
        Take one change (a store listener): draw its faults and queue it. Never blocks.

        Args:
            old: the asset before (``None``: new).
            new: the asset after.
        """
        opts = self.options
        rng = self._faults
        # Four draws per change whatever the outcome, so one switch never shifts another.
        drop, dup, late, amount = rng.random(), rng.random(), rng.random(), rng.random()
        with self._lock:
            self._seq += 1
            self.stats.emitted += 1
            if drop < opts.drop:
                self.stats.dropped += 1
                return
            copies = 2 if dup < opts.duplicate else 1
            if self._pending + copies > opts.queue_limit:
                self.stats.overflowed += 1
                return
            self.stats.duplicated += copies - 1
            delay = amount * opts.delay_max if late < opts.delay else 0.0
            self.stats.delayed += 1 if delay else 0
            self._pending += copies
            self._inbox.append(_Plan(Change(self._seq, change_kind(old, new), new), copies, delay))
        self._poke()

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    @property
    def pending(self) -> int:
        """
        Returns:
            Event copies accepted and not yet delivered or given up.
        """
        return self._pending

    async def start(self) -> None:
        """Start the background tasks in the running loop (idempotent)."""
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._ready = asyncio.Queue()
        if self.options.sns_subscribe and self.options.style == "bynder":
            with self._lock:
                self._pending += 1
            self._ready.put_nowait(self.renderer.subscription_confirmation(self.subscription_token))
        self._tasks.append(asyncio.create_task(self._intake(), name="dam_sim.events.intake"))
        self._tasks += [
            asyncio.create_task(self._sender(), name=f"dam_sim.events.sender{n}")
            for n in range(self.options.concurrency)
        ]
        self._wake.set()

    async def aclose(self) -> None:
        """Stop the tasks and close the targets; undelivered events are abandoned."""
        if self.notice in self._store.listeners:
            self._store.listeners.remove(self.notice)
        if self._flush is not None:
            self._flush.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for sink in self.sinks:
            await sink.aclose()

    async def __aenter__(self) -> EventFeed:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def wait_idle(self, timeout: float) -> None:
        """
        Wait until every accepted event was delivered or given up (polls every 10 ms).

        Args:
            timeout: seconds at most.

        Raises:
            TimeoutError: events are still pending at the deadline.
        """
        deadline = time.monotonic() + timeout
        while self._pending:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self._pending} event copies still pending")
            await asyncio.sleep(0.01)

    async def _intake(self) -> None:
        assert self._wake is not None and self._ready is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._inbox:
                plan = self._inbox.popleft()
                envelope = self.renderer.render(plan.change)
                for _ in range(plan.copies):
                    if plan.delay:
                        loop.call_later(plan.delay, self._ready.put_nowait, envelope)
                    else:
                        self._hold(envelope)
                await asyncio.sleep(0)  # let senders run during a big burst

    def _hold(self, envelope: Envelope) -> None:
        assert self._ready is not None
        window = self.options.reorder_window
        if window <= 1:
            self._ready.put_nowait(envelope)
            return
        self._window.append(envelope)
        if len(self._window) >= window:
            self._release()
        elif self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self.options.reorder_hold, self._release)

    def _release(self) -> None:
        assert self._ready is not None
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        held, self._window = self._window, []
        self._windows += 1
        shuffled = list(held)
        random.Random(f"{self.options.fault_seed}:reorder:{self._windows}").shuffle(shuffled)
        self.stats.reordered += sum(1 for a, b in zip(held, shuffled, strict=True) if a is not b)
        for envelope in shuffled:
            self._ready.put_nowait(envelope)

    async def _sender(self) -> None:
        assert self._ready is not None
        while True:
            envelope = await self._ready.get()
            try:
                for sink in self.sinks:
                    if sink.name == "webhook" or not _is_confirmation(envelope):
                        await self._deliver(sink, envelope)  # confirmations are HTTP only
            finally:
                with self._lock:
                    self._pending -= 1

    async def _deliver(self, sink: EventSink, envelope: Envelope) -> None:
        opts = self.options
        for attempt in range(1, opts.max_attempts + 1):
            self.stats.attempts[sink.name] += 1
            now_s = int(self._clock().timestamp())
            try:
                await sink.send(envelope, self.renderer.attempt_headers(envelope, now_s))
            except DeliveryFailed as exc:
                log.info(
                    "dam_sim.event_attempt_failed",
                    target=sink.name,
                    event_id=envelope.event_id,
                    attempt=attempt,
                    reason=exc.reason,
                )
                if attempt == opts.max_attempts:
                    self.stats.failed[sink.name] += 1
                    log.warning(
                        "dam_sim.event_given_up", target=sink.name, event_id=envelope.event_id
                    )
                    return
                backoff = min(opts.retry_max, opts.retry_base * 2 ** (attempt - 1))
                await asyncio.sleep(backoff * (0.5 + self._jitter.random() / 2))
                continue
            self.stats.delivered[sink.name] += 1
            return

    def confirm_subscription(self, token: str) -> bool:
        """
        Args:
            token: the ``Token`` of a ``GET /_sim/sns/confirm``.

        Returns:
            Whether it is this feed's subscription token (then the subscription is confirmed).
        """
        if token != self.subscription_token:
            return False
        self.stats.subscription_confirmed = True
        return True


def _is_confirmation(envelope: Envelope) -> bool:
    return envelope.headers.get("x-amz-sns-message-type") == "SubscriptionConfirmation"


def _sinks(
    options: EventFeedOptions, transport: httpx.AsyncBaseTransport | None
) -> list[EventSink]:
    sinks: list[EventSink] = []
    if options.webhook_url:
        sinks.append(WebhookSink(options.webhook_url, timeout=options.timeout, transport=transport))
    if options.amqp_url:
        sinks.append(
            AmqpSink(
                options.amqp_url,
                exchange=options.amqp_exchange,
                routing_key=options.amqp_routing_key,
                timeout=options.timeout,
            )
        )
    if options.nats_url:
        sinks.append(
            NatsSink(
                options.nats_url,
                subject=options.nats_subject,
                stream=options.nats_stream,
                timeout=options.timeout,
            )
        )
    return sinks


__all__ = ["EventFeed", "EventFeedOptions", "EventStats"]
