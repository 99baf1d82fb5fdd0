"""
What ``damsync migrate-pam`` prints and writes: the plan (families, attributes, option
decisions, relink commands), the product links a dry run would write, the counts per family,
the report CSV streamed line by line, and the progress of the write: rich bars (assets read,
files fetched, files uploaded) when stdout is a terminal, ``pam.progress`` log lines (every
:data:`LOG_EVERY` assets) otherwise.
"""

from __future__ import annotations

import csv
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

import click

from daemon.cli.output import text_table
from daemon.core.lazy_log import LazyLogger

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from daemon.engine.pam_link_plan import LinkPlan
    from daemon.engine.pam_migrate import PamPlan, PamSource
    from daemon.engine.pam_report import PamReport, ReportLine
    from daemon.engine.pam_values import SkippedAsset, TargetAsset
    from daemon.engine.pam_write import PamFetcher
    from daemon.pam import PamFile, PamRead
    from daemon.pam.pam_records import LocalFile

log = LazyLogger(__name__)

#: Assets between two ``pam.progress`` log lines when stdout is not a terminal.
LOG_EVERY = 1000
REPORT_HEADER = ("kind", "asset", "family", "field", "reason", "where")
CATEGORY_LABELS = "bin/console pimee:assets:migrate:migrate-asset-category-labels"


class ReportWriter:
    """The report CSV, one row per asset or file left out, written as they come."""

    def __init__(self, path: Path, show: int = 20) -> None:
        self.path = path
        self.show = show
        self.handle: TextIO | None = None
        self.shown: list[tuple[str, ...]] = []
        self.rows = 0

    def __enter__(self) -> ReportWriter:
        try:
            self.handle = self.path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            from daemon.core.errors import ConfigError

            raise ConfigError(f"cannot write it: {exc.strerror}", key="--report") from None
        self._csv = csv.writer(self.handle, delimiter=";")
        self._csv.writerow(REPORT_HEADER)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.handle is not None:
            self.handle.close()

    def write(self, item: TargetAsset | SkippedAsset) -> None:
        """Every report line of one outcome of the mapping pass."""
        from daemon.engine.pam_report import report_lines

        for line in report_lines(item):
            self.write_line(line)

    def write_line(self, line: ReportLine) -> None:
        """One report line."""
        row = (line.kind, line.code or "", line.family or "", line.field, line.reason, line.where)
        self._csv.writerow(row)
        self.rows += 1
        if len(self.shown) < self.show:
            self.shown.append(row)


def print_plan(plan: PamPlan) -> None:
    """Families, attributes, option decisions, remarks and the in-place relink commands."""
    rows = []
    for family in plan.families:
        main = family.structure.attribute_as_main_media or "-"
        rows.append(
            (
                family.code,
                "create" if family.created else "modelled",
                str(family.assets),
                family.reference_type,
                main,
            )
        )
    click.echo(f"strategy {plan.options.strategy}: {len(plan.families)} family(ies)")
    if rows:
        click.echo(text_table(("family", "action", "assets", "references", "main media"), rows))
    for family in plan.families:
        click.echo(f"\nfamily {family.code}")
        attributes = [
            (
                attribute.code,
                attribute.type,
                "yes" if attribute.value_per_locale else "no",
                "yes" if attribute.value_per_channel else "no",
                str(len(attribute.options)) if attribute.options is not None else "-",
            )
            for attribute in family.structure.attributes
        ]
        if attributes:
            headers = ("attribute", "type", "per locale", "per channel", "options")
            click.echo(text_table(headers, attributes))
        for decision in family.decisions:
            click.echo(f"  {decision.reason}")
        for line in family.lines:
            click.echo(f"  {line}")
    for line in plan.lines:
        click.echo(f"\nnote: {line}")
    commands = plan.relink_commands()
    if commands:
        click.echo("\nin place (same upgraded 4.0 database), relink the collection attributes:")
        for command in commands:
            click.echo(f"  {command}")
    for family in plan.families:  # in place: CsvToAsset's category-label step
        categories = family.decision("categories")
        if categories is not None and categories.kind == "multiple_options" and family.created:
            option = f"--categories-attribute-code={categories.attribute}"
            click.echo(f"  {CATEGORY_LABELS} {family.code} {option}")


def print_link_plan(links: LinkPlan | None) -> None:
    """The collection attributes and the product / product-model links a write would make."""
    if links is None:
        return
    click.echo("\nproduct links (nothing written):")
    for binding in links.bindings:
        target = binding.family or "-"
        what = {"exists": "exists as wanted", "unchecked": "target not read (no --config)"}
        click.echo(
            f"  attribute {binding.attribute} -> {target}: "
            f"{what.get(binding.action, binding.reason)}"
        )
    rows = [
        (
            "product" if kind == "product" else "product model",
            attribute,
            str(count),
            str(links.codes[(kind, attribute)]),
        )
        for (kind, attribute), count in sorted(links.filled.items())
    ]
    if rows:
        click.echo(text_table(("kind", "attribute", "would get it", "asset codes"), rows))
    click.echo(
        f"  {links.read['product']} product(s), {links.read['product_model']} product model(s) "
        f"read, {links.rows_skipped} unreadable row(s); {len(links.to_create)} attribute(s) "
        "would be created"
    )
    for note in links.notes:
        click.echo(f"  note: {note}")


def print_report(report: PamReport, path: Path, shown: list[tuple[str, ...]]) -> None:
    """Counts per family, the first lines of the report and where the rest is."""
    rows = [
        (
            family or "(none)",
            str(counts.assets),
            str(counts.skipped),
            str(counts.media_values),
            str(counts.files_left_out),
            str(counts.notes),
        )
        for family, counts in sorted(report.families.items())
    ]
    click.echo(
        f"\n{report.assets} asset(s) to migrate, {report.skipped} skipped "
        f"({report.input_rows_skipped} unreadable input row(s))"
    )
    if rows:
        headers = ("family", "assets", "skipped", "files", "files left out", "notes")
        click.echo(text_table(headers, rows))
    if report.note_kinds:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(report.note_kinds.items()))
        click.echo(f"notes: {kinds}")
    print_lines(shown)
    click.echo(f"report: {path} (every asset or file left out, with its reason)")


def print_lines(shown: list[tuple[str, ...]]) -> None:
    """The first report lines."""
    if shown:
        click.echo(f"\nfirst {len(shown)} report line(s):")
        for kind, code, family, field, reason, where in shown:
            place = f" [{where}]" if where else ""
            click.echo(f"  {kind} {code or '-'} ({family or '-'}) {field}: {reason}{place}")


def write_structure(plan: PamPlan, path: Path) -> None:
    """The families as a structure file, for ``damsync structure plan|apply``."""
    from daemon.service.structure_options import structure_file_of, toml_text

    model, skipped = structure_file_of([family.structure for family in plan.families])
    text = toml_text(model, header="# Written by damsync migrate-pam --dry-run.\n")
    path.write_text(text, encoding="utf-8")
    click.echo(f"structure file: {path} ({len(model.families)} family(ies))")
    for line in skipped:
        click.echo(f"  {line}")


class Counted:
    """A source that counts its reads (the survey pass: the total of the write pass)."""

    def __init__(self, source: PamSource) -> None:
        self.inner = source
        self.count = 0

    async def reads(self) -> AsyncIterator[PamRead]:
        async for read in self.inner.reads():
            self.count += 1
            yield read


class ProgressView:
    """
    Assets read, files fetched and files uploaded during the write: rich bars on a terminal,
    log lines otherwise. A fetched file whose content the target already has is not uploaded,
    so the two file counts differ on a re-run or with duplicated binaries.

    Args:
        total: The assets of the source (counted by the survey pass), ``None`` when unknown.
        console: Where the bars go; on a console that is no terminal, log lines instead.
        every: Assets between two log lines.
    """

    def __init__(self, total: int | None, console: Console, every: int = LOG_EVERY) -> None:
        self.total = total
        self.every = every
        self.assets = 0
        self.files = 0
        self.uploads = 0
        self.started = time.monotonic()
        self.bars: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        if console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bars = Progress(
                TextColumn("{task.description:>14}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            self._tasks["assets"] = self.bars.add_task("assets", total=total)
            self._tasks["files"] = self.bars.add_task("files fetched", total=None)
            self._tasks["uploads"] = self.bars.add_task("files uploaded", total=None)

    def __enter__(self) -> ProgressView:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.stop()
        else:
            self._log()

    def asset(self) -> None:
        """One asset read."""
        self.assets += 1
        if self.bars is not None:
            self.bars.advance(self._tasks["assets"])
        elif self.assets % self.every == 0:
            self._log()

    def file(self) -> None:
        """One binary fetched (downloaded, or read from the binaries directory)."""
        self.files += 1
        if self.bars is not None:
            self.bars.advance(self._tasks["files"])

    def uploaded(self) -> None:
        """One binary uploaded to the target."""
        self.uploads += 1
        if self.bars is not None:
            self.bars.advance(self._tasks["uploads"])

    def _log(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        log.info(
            "pam.progress",
            assets=self.assets,
            total=self.total,
            files_fetched=self.files,
            files_uploaded=self.uploads,
            assets_per_second=round(self.assets / elapsed, 1),
        )

    def source(self, source: PamSource) -> _ViewedSource:
        """``source``, each read counted."""
        return _ViewedSource(source, self)

    def fetcher(self, fetcher: PamFetcher) -> _ViewedFetcher:
        """``fetcher``, each fetch counted."""
        return _ViewedFetcher(fetcher, self)


class _ViewedSource:
    def __init__(self, inner: PamSource, view: ProgressView) -> None:
        self.inner, self.view = inner, view

    async def reads(self) -> AsyncIterator[PamRead]:
        async for read in self.inner.reads():
            self.view.asset()
            yield read


class _ViewedFetcher:
    def __init__(self, inner: PamFetcher, view: ProgressView) -> None:
        self.inner, self.view = inner, view

    async def fetch(self, asset: str, file: PamFile) -> LocalFile:
        local = await self.inner.fetch(asset, file)
        self.view.file()
        return local


@contextmanager
def progress_view(total: int | None, console: Any = None) -> Iterator[ProgressView]:
    """A :class:`ProgressView` on stdout (``console``: tests give their own)."""
    if console is None:
        from rich.console import Console

        console = Console()
    with ProgressView(total, console) as view:
        yield view


__all__ = [
    "LOG_EVERY",
    "Counted",
    "ProgressView",
    "ReportWriter",
    "print_lines",
    "print_link_plan",
    "print_plan",
    "print_report",
    "progress_view",
    "write_structure",
]
