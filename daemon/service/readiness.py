"""
Readiness: the checks behind ``/readyz`` (database, schema, freshness of every source).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from daemon.core.records import require_utc

#: How long ``/readyz`` waits for the probe before answering 503.
READINESS_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    """
    One readiness check.

    Args:
        name: Short stable name (``database``, ``schema``, ``source:<name>``).
        ok: Whether it passed.
        detail: Why it failed (or a short state when it passed); never a secret.
    """

    name: str
    ok: bool
    detail: str = ""


class ReadinessProbe(Protocol):
    """What ``/readyz`` asks; the runtime implements it."""

    async def checks(self) -> Sequence[Check]:
        """Run every readiness check now."""


def freshness_check(
    source: str,
    *,
    last_success: datetime | None,
    interval: timedelta,
    multiple: float,
    now: datetime,
) -> Check:
    """
    Whether ``source``'s last successful pass is younger than ``multiple`` intervals.

    Args:
        source: The source name; the check is named ``source:<name>``.
        last_success: When its last good pass finished (aware), or ``None`` if never.
        interval: Its polling interval.
        multiple: How many intervals may pass without a success.
        now: The current time (aware).

    Returns:
        The check.
    """
    name = f"source:{source}"
    limit = interval * multiple
    if last_success is None:
        return Check(name, False, "no successful pass recorded")
    age = require_utc(now, "now") - require_utc(last_success, "last_success")
    detail = f"last success {age.total_seconds():.0f}s ago, limit {limit.total_seconds():.0f}s"
    return Check(name, age <= limit, detail)


def _check_json(check: Check) -> dict[str, object]:
    return asdict(check)


class ReadinessStore(Protocol):
    """The store calls readiness makes (``daemon.store.Store`` implements them)."""

    def ping(self) -> None: ...

    def check_writable(self) -> None: ...

    def check_at_head(self) -> None: ...

    def last_success(self, source: str) -> datetime | None: ...


async def readiness_checks(
    store: ReadinessStore,
    sources: Sequence[tuple[str, float | None]],
    *,
    multiple: float,
) -> list[Check]:
    """
    Database reachable and writable, schema at head, every source fresh enough.

    Args:
        store: The state store.
        sources: Each source's name and polling interval (``None`` for a cron schedule).
        multiple: How many intervals a source may go without a successful pass.
    """
    results: list[Check] = []
    try:
        await asyncio.to_thread(store.ping)
        await asyncio.to_thread(store.check_writable)
        results.append(Check("database", True, "reachable"))
    except Exception as exc:  # any failure means not ready; the reason is shown
        results.append(Check("database", False, f"{type(exc).__name__}: {exc}"))
        return results
    try:
        await asyncio.to_thread(store.check_at_head)
        results.append(Check("schema", True, "at head"))
    except Exception as exc:  # a schema behind head is not ready
        results.append(Check("schema", False, str(exc)))
    now = datetime.now(UTC)
    for name, interval in sources:
        last = await asyncio.to_thread(store.last_success, name)
        results.append(
            freshness_check(
                name,
                last_success=last,
                interval=timedelta(seconds=interval or 3600.0),
                multiple=multiple,
                now=now,
            )
        )
    return results


__all__ = ["Check", "ReadinessProbe", "freshness_check", "readiness_checks"]
