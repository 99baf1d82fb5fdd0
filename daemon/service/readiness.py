"""
Readiness: the checks behind ``/readyz`` (database, schema, freshness of every source).

When replicas share the sources (PostgreSQL), a replica answers for the sources it owns: an
``ownership`` check (always passing) says how many it owns, and a source another replica owns
passes, naming its owner (its freshness is that replica's readiness). A source nobody owns is
judged by its freshness everywhere. A replica owning nothing while the others own every source
is ready.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from daemon.core.records import require_utc
from daemon.engine.leasing import lease_keeper
from daemon.service.runtime import Schedule
from daemon.store import HeldLease

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


def schedule_period(schedule: Schedule, now: datetime) -> float | None:
    """
    Seconds expected between two runs: the interval, or for a cron the gap between its next two
    fire times after ``now`` (a daily cron is judged on a day, a ``*/5`` one on five minutes).

    Args:
        schedule: The source's schedule.
        now: Aware time to look ahead from.

    Returns:
        The period, or ``None`` for a cron that never fires twice more. Slow (about 0.1 s, a
        search up to year 9999) only for such a cron: callers on the event loop use a thread.
    """
    if not schedule.cron:
        return schedule.interval
    # Without jitter: the period is the schedule's, not one random draw of it.
    trigger = dataclasses.replace(schedule, jitter=0.0).trigger()
    first: datetime | None = trigger.get_next_fire_time(None, now)
    second: datetime | None = None
    if first is not None:
        second = trigger.get_next_fire_time(first, first)
    if first is None or second is None:
        return None
    return (second - first).total_seconds()


def _check_json(check: Check) -> dict[str, object]:
    return asdict(check)


class ReadinessStore(Protocol):
    """The store calls readiness makes (``daemon.store.Store`` implements them)."""

    def ping(self) -> None: ...

    def check_writable(self, timeout: float = ..., *, min_free_bytes: int = ...) -> None: ...

    def check_at_head(self) -> None: ...

    def last_success(self, source: str) -> datetime | None: ...

    def lease_held(self, source: str) -> HeldLease | None: ...


async def readiness_checks(
    store: ReadinessStore,
    sources: Sequence[tuple[str, float | None]],
    *,
    multiple: float,
    min_free_bytes: int,
) -> list[Check]:
    """
    Database reachable and writable, schema at head, every source fresh enough.

    Args:
        store: The state store.
        sources: Each source's name and the seconds expected between its runs (its interval,
            or its cron's period); ``None`` when its schedule never fires again.
        multiple: How many periods a source may go without a successful pass.
        min_free_bytes: SQLite: the free space the database's filesystem must keep.
    """
    results: list[Check] = []
    try:
        await asyncio.to_thread(store.ping)
        await asyncio.to_thread(
            functools.partial(store.check_writable, min_free_bytes=min_free_bytes)
        )
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
    keeper = lease_keeper()
    owned = {source for source, _holder in keeper.kept}
    if keeper.spread:
        mine = sorted(owned & {name for name, _ in sources})
        listed = f": {', '.join(mine)}" if mine else ""
        detail = f"owns {len(mine)} of {len(sources)} sources{listed}"
        results.append(Check("ownership", True, detail))
    for name, period in sources:
        if keeper.spread and name not in owned:
            held = await asyncio.to_thread(store.lease_held, name)
            if held is not None and held.expires_at > now:
                results.append(Check(f"source:{name}", True, f"owned by {held.holder}"))
                continue  # else nobody syncs it: judged here, as this replica may take it
        if period is None:
            results.append(Check(f"source:{name}", True, "its schedule fires no more"))
            continue
        last = await asyncio.to_thread(store.last_success, name)
        results.append(
            freshness_check(
                name,
                last_success=last,
                interval=timedelta(seconds=period),
                multiple=multiple,
                now=now,
            )
        )
    return results


__all__ = ["Check", "ReadinessProbe", "freshness_check", "readiness_checks", "schedule_period"]
