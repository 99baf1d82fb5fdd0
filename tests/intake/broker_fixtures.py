"""
Helpers of the broker consumer tests: the local servers, a tiny parser, a recording store and
observer, and a bounded poll.

The brokers are the real local ones (RabbitMQ 127.0.0.1:5672 guest/guest, NATS 127.0.0.1:4222
with JetStream). A missing server skips the tests on a workstation and fails them under
``CI=true``, where nothing may be skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import pytest

from daemon.core.errors import TransientError
from daemon.core.events import DamEvent, EventOrigin, InboxAdded
from daemon.intake.ports import EventParseError, Parse

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
NATS_URL = "nats://127.0.0.1:4222"


def require_server(name: str, host: str, port: int) -> None:
    """Fail (CI) or skip (elsewhere) unless something listens at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return
    except OSError as exc:
        message = f"{name} is not reachable at {host}:{port} ({exc.strerror or exc})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, but CI=true: the broker tests need the real server")
    pytest.skip(message)


def json_parser(source: str, origin: EventOrigin) -> Parse:
    """A stand-in for the real parser: ``{"id": ..., "asset": ..., "kind": ...}`` → one event."""

    def parse(body: bytes) -> Sequence[DamEvent]:
        try:
            doc = json.loads(body)
            return [
                DamEvent(
                    source=source,
                    event_id=str(doc["id"]),
                    dam_ids=(str(doc["asset"]),),
                    kind="deleted" if doc.get("kind") == "deleted" else "changed",
                    received_at=datetime.now(UTC),
                    origin=origin,
                )
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise EventParseError(f"not an event: {type(exc).__name__}") from None

    return parse


def body(event_id: str, asset: str = "a1", kind: str = "changed") -> bytes:
    """A message body the test parser reads."""
    return json.dumps({"id": event_id, "asset": asset, "kind": kind}).encode()


class StoreDown(TransientError):
    """The recorder's stand-in for ``StoreUnavailableError``."""


class Recorder:
    """
    An in-memory inbox: records every event it is given, in order (duplicates included, so a
    redelivery shows), and says which ids were new.

    ``failing`` makes it raise :class:`StoreDown`; ``gate`` (when not ``None``) holds every call
    until it is set; ``hold_after_record`` records and then blocks forever (a crash before the
    acknowledgement, once the consumer is stopped).
    """

    def __init__(self) -> None:
        self.events: list[DamEvent] = []
        self.calls: list[int] = []
        self.failures = 0
        self.failing = False
        self.gate: asyncio.Event | None = None
        self.hold_after_record = False
        self.in_flight = 0
        self.max_in_flight = 0
        self._known: set[str] = set()

    async def __call__(self, events: Sequence[DamEvent]) -> InboxAdded:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.failing:
                self.failures += 1
                raise StoreDown("database unreachable")
            self.calls.append(len(events))
            self.events.extend(events)
            new = [e for e in events if e.event_id not in self._known]
            self._known.update(e.event_id for e in events)
            if self.hold_after_record:
                await asyncio.Event().wait()
            return InboxAdded(added=len(new), duplicates=len(events) - len(new))
        finally:
            self.in_flight -= 1

    def ids(self) -> list[str]:
        """The recorded event ids, in order."""
        return [e.event_id for e in self.events]


class Observer:
    """Counts what an intake reports, per origin."""

    def __init__(self) -> None:
        self.received = 0
        self.deduplicated = 0
        self.rejected: list[tuple[str, EventOrigin, str]] = []

    def events_received(self, source: str, origin: EventOrigin, count: int) -> None:
        self.received += count

    def events_deduplicated(self, source: str, origin: EventOrigin, count: int) -> None:
        self.deduplicated += count

    def event_rejected(self, source: str, origin: EventOrigin, reason: str) -> None:
        self.rejected.append((source, origin, reason))


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 15.0
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
