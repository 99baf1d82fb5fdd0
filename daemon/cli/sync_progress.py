"""
The progress bar of ``damsync sync --once``: assets committed out of the assets read so far.

A DAM listing announces no total (the change feed is paged until it ends), so the bar's total is
what is known: the assets read so far, counted by :class:`CountingSource` as each page arrives.
While the listing is still being read the description says that the total is still growing;
once the last page is in, the total is final. Batches committed advance the bar.

Imported by ``sync --once`` only when a terminal shows the bar (``rich`` is heavy).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from daemon.core.records import SourcePage, Window

if TYPE_CHECKING:
    from daemon.engine.outcomes import BatchReport, PassResult
    from daemon.engine.seams import JobSource, PassObserver


class CountingSource:
    """
    A DAM source that reports every page of changes it yields; everything else is passed on.

    Args:
        inner: The source.
        on_page: Called with the number of records (assets and bad records) of each page.
        on_end: Called when the listing has no more pages.
    """

    def __init__(
        self, inner: JobSource, on_page: Callable[[int], None], on_end: Callable[[], None]
    ) -> None:
        self.name = inner.name
        self.sorted_by_cursor = inner.sorted_by_cursor
        self._inner = inner
        self._on_page = on_page
        self._on_end = on_end

    async def server_now(self) -> datetime:
        return await self._inner.server_now()

    async def changes(self, window: Window) -> AsyncIterator[SourcePage]:
        pages = self._inner.changes(window)
        try:
            async for page in pages:
                self._on_page(len(page.assets) + len(page.errors))
                yield page
            self._on_end()
        finally:
            close = getattr(pages, "aclose", None)
            if close is not None:
                await close()

    async def fetch(self, ids: Sequence[str]) -> SourcePage:
        return await self._inner.fetch(ids)

    def all_ids(self) -> AsyncIterator[Sequence[str]]:
        return self._inner.all_ids()


def reading(source: str, read: int) -> str:
    """The bar's description while the listing is read: the total is not known yet."""
    return f"{source}: reading the DAM, total not known yet ({read} read so far)"


class PassProgress:
    """
    One bar per source (a :class:`~daemon.engine.seams.PassObserver`); metrics still fed.

    Args:
        console: Where the bar is drawn (standard error, a terminal).
        metrics: The observer the engine would have called otherwise.
    """

    def __init__(self, console: Console, metrics: PassObserver) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("assets"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._metrics = metrics
        self._tasks: dict[str, TaskID] = {}
        self._read: dict[str, int] = {}

    def watch(self, source: JobSource) -> CountingSource:
        """The source to run instead of ``source``: its pages set the bar's total."""
        name = source.name
        self._read[name] = 0
        self._tasks[name] = self.progress.add_task(reading(name, 0), total=None)

        def on_page(count: int) -> None:
            self._read[name] += count
            read = self._read[name]
            self.progress.update(self._tasks[name], total=read, description=reading(name, read))

        def on_end() -> None:
            read = self._read[name]
            self.progress.update(self._tasks[name], total=read, description=f"{name}: {read} read")

        return CountingSource(source, on_page, on_end)

    def batch_done(self, source: str, report: BatchReport, duration: float) -> None:
        self._metrics.batch_done(source, report, duration)
        task = self._tasks.get(source)
        if task is not None:
            self.progress.advance(task, report.size)

    def pass_done(self, result: PassResult) -> None:
        self._metrics.pass_done(result)


__all__ = ["CountingSource", "PassProgress", "reading"]
