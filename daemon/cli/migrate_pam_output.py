"""
What ``damsync migrate-pam`` prints and writes: the plan (families, attributes, option
decisions, relink commands), the counts per family, and the report CSV streamed line by line.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

import click

from daemon.cli.output import text_table

if TYPE_CHECKING:
    from daemon.engine.pam_migrate import PamPlan
    from daemon.engine.pam_report import PamReport, ReportLine
    from daemon.engine.pam_values import SkippedAsset, TargetAsset

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


__all__ = ["ReportWriter", "print_lines", "print_plan", "print_report", "write_structure"]
