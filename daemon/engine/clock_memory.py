"""
The DAM's clock carried from one process to the next, so that a cron pass makes no clock probe.

A pass plans its window on the DAM's clock (:func:`daemon.engine.checkpoint.plan_window`:
``until = DAM now - settle_delay``). Inside one process the REST source reuses the clock of its
latest answer plus the monotonic time elapsed since (``rest.clock_anchor_max_age``), so an idle
pass costs one request, the listing. A new process had no such anchor and probed the DAM before
listing: two requests per ``sync --once``. :class:`RememberedClock` keeps the reading across
processes in the state database (:class:`~daemon.engine.seams.DamClockStore`):

- at the end of each listing it stores the DAM's time as the source now knows it (the listing's
  own latest answer, plus the monotonic time since it arrived), with this host's monotonic
  clock and boot id;
- until its first listing, a process on the same host and boot takes that reading plus the
  monotonic time elapsed since it was stored, when that is at least 0 and under ``max_age``
  (the source's ``clock_anchor_max_age``); otherwise the source is asked as before (a probe).

Why no asset can be skipped: the reading is the DAM's time *in* an answer, so it is never later
than the DAM's true time when the answer arrived; what elapsed since is measured on the same
monotonic clock (Linux ``CLOCK_MONOTONIC``: it never steps and stops during a suspend, so it can
only undercount). The estimate is thus never later than the DAM's true time, exactly as with
the in-process anchor, and the window's ``until`` is never later than a probe made at that
moment would give: the settle delay and the lookback stay measured on the DAM's clock, whatever
the offset between the DAM's clock and ours (our wall clock is never used). A reading from
another host or boot, one older than ``max_age``, or one whose monotonic time is in the future
is not used. An estimate that undercounts only makes the window end earlier; REST listings are
read without an upper bound and what lies at or after ``until`` is left for the next window,
whose cursor never passed it (:func:`daemon.engine.checkpoint.advance`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from daemon.core.errors import CheckpointError
from daemon.core.records import SourcePage, Window
from daemon.engine.seams import DamClockStore, JobSource
from daemon.store import DamClockReading, StoreUnavailableError

log = structlog.get_logger(__name__)

#: Where Linux names the current boot; monotonic clocks compare within one boot only.
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def boot_id(path: Path = BOOT_ID_PATH) -> str | None:
    """This host's boot id, or ``None`` where the system does not tell it (no reuse then)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text[:64] or None


class RememberedClock:
    """
    A DAM source whose clock, until its first listing, may come from the state database.

    Everything but the clock is the source's own.

    Args:
        inner: The source.
        store: Where the reading is kept.
        max_age: Seconds a reading may be reused (the source's ``clock_anchor_max_age``; > 0).
        boot: This host's boot id.
        monotonic: The source's elapsed-time clock (the one its own anchor uses).
    """

    def __init__(
        self,
        inner: JobSource,
        store: DamClockStore,
        *,
        max_age: float,
        boot: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = inner.name
        self.sorted_by_cursor = inner.sorted_by_cursor
        self._inner = inner
        self._store = store
        self._max_age = max_age
        self._boot = boot
        self._monotonic = monotonic
        self._listed = False

    async def server_now(self) -> datetime:
        """The DAM's time: the stored reading before this process's first listing, if fresh."""
        if not self._listed:
            remembered = await self._remembered()
            if remembered is not None:
                return remembered
        return await self._inner.server_now()

    async def changes(self, window: Window) -> AsyncGenerator[SourcePage, None]:
        """The source's pages; a listing read to its end stores the DAM's clock."""
        pages = self._inner.changes(window)
        try:
            async for page in pages:
                yield page
        finally:
            close = getattr(pages, "aclose", None)
            if close is not None:
                await close()
        await self._remember()

    async def fetch(self, ids: Sequence[str]) -> SourcePage:
        return await self._inner.fetch(ids)

    def all_ids(self) -> AsyncIterator[Sequence[str]]:
        return self._inner.all_ids()

    async def _remembered(self) -> datetime | None:
        try:
            reading = await asyncio.to_thread(self._store.dam_clock, self.name)
        except (StoreUnavailableError, CheckpointError) as exc:
            log.warning("sync.clock_reading_unreadable", source=self.name, error=str(exc))
            return None
        if reading is None or reading.boot_id != self._boot:
            return None
        elapsed = self._monotonic() - reading.monotonic
        if not 0 <= elapsed < self._max_age:
            return None
        log.debug("sync.clock_remembered", source=self.name, age_s=round(elapsed, 3))
        return reading.dam_time + timedelta(seconds=elapsed)

    async def _remember(self) -> None:
        # The listing just read anchored the source's clock: no request while it is fresh.
        now = await self._inner.server_now()
        reading = DamClockReading(now, self._monotonic(), self._boot)
        self._listed = True
        try:
            await asyncio.to_thread(self._store.save_dam_clock, self.name, reading)
        except (StoreUnavailableError, CheckpointError) as exc:
            log.warning("sync.clock_reading_not_written", source=self.name, error=str(exc))


__all__ = ["BOOT_ID_PATH", "RememberedClock", "boot_id"]
