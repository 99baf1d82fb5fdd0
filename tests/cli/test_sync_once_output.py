"""What `sync --once` prints: a dry run's summary, and a progress bar whose total is honest."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from click.testing import CliRunner
from rich.console import Console

from daemon.cli.main import main
from daemon.cli.sync_progress import PassProgress, reading
from daemon.core.records import DamAsset, SourcePage, Window
from daemon.engine.outcomes import BatchReport, PassResult

WHEN = datetime(2026, 11, 1, tzinfo=UTC)


def test_dry_run_summary_says_would_write_not_written(env):
    """A dry run's summary line counts what it would write and delete; nothing says 'written'."""
    result = CliRunner().invoke(
        main, ["sync", "--once", "--config", str(env.config), "--dry-run"], catch_exceptions=False
    )
    assert 0 == result.exit_code, result.output
    summary = result.output.splitlines()[-1]
    assert summary.startswith("demo: succeeded (dry run, nothing written) - read 120, ")
    assert "would write 120" in summary and "would delete 0" in summary
    assert "written 120" not in summary


def test_real_pass_summary_still_says_written(env):
    """A pass that writes says 'written N'."""
    result = CliRunner().invoke(main, ["sync", "--once", "--config", str(env.config)])
    assert 0 == result.exit_code, result.output
    assert "demo: succeeded - read 120, written 120," in result.output


class PagedSource:
    """A DAM of fixed pages (a fake ``JobSource``)."""

    name = "demo"
    sorted_by_cursor = True

    def __init__(self, sizes: Sequence[int]) -> None:
        self.sizes = sizes

    async def server_now(self) -> datetime:
        return WHEN

    async def changes(self, window: Window) -> AsyncIterator[SourcePage]:
        for size in self.sizes:
            yield SourcePage([DamAsset(f"a{i}", WHEN) for i in range(size)])

    async def fetch(self, ids: Sequence[str]) -> SourcePage:
        return SourcePage([])

    async def all_ids(self) -> AsyncIterator[Sequence[str]]:
        yield []


class Metrics:
    """Records what the bar forwards."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.passes: list[PassResult] = []

    def batch_done(self, source: str, report: BatchReport, duration: float) -> None:
        self.batches.append(report.size)

    def pass_done(self, result: PassResult) -> None:
        self.passes.append(result)


async def test_progress_total_is_what_was_read_and_says_so_until_the_listing_ends():
    """While pages arrive the total is the assets read so far and the bar says it is not final."""
    metrics = Metrics()
    bar = PassProgress(Console(file=io.StringIO(), force_terminal=True), metrics)
    source = bar.watch(PagedSource([100, 100, 30]))
    task = bar.progress.tasks[0]
    assert (None, reading("demo", 0)) == (task.total, task.description)
    pages = source.changes(Window(None, WHEN))
    await anext(pages)
    assert (100.0, reading("demo", 100)) == (task.total, task.description)
    bar.batch_done("demo", BatchReport(size=100), 0.1)
    await anext(pages)
    await anext(pages)
    assert 230.0 == task.total and "not known yet" in task.description
    assert [] == [page async for page in pages]
    assert (230.0, "demo: 230 read", 100.0) == (task.total, task.description, task.completed)
    bar.pass_done(PassResult("demo", None))
    assert ([100], 1) == (metrics.batches, len(metrics.passes))


async def test_sync_once_bar_on_a_terminal_shows_done_out_of_read(env):
    """On a terminal the bar's last frame shows the assets done out of the assets read."""
    from daemon.cli.sync_once import sync_once
    from daemon.settings.root import load_settings

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    results = await sync_once(load_settings(env.config, {}), console=console)
    assert ["succeeded"] == [r.status for r in results]
    assert "120/120" in out.getvalue()
