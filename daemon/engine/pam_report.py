"""
The end-of-migration report: counts per family and one line per asset or file left out.

:class:`PamReport` only counts (memory stays flat); the lines themselves are handed to a sink as
they are found (:func:`report_lines`), so the CLI streams them to its CSV file. Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from daemon.engine.pam_values import SkippedAsset, TargetAsset
from daemon.pam.pam_records import PamFile

LineKind = Literal["skipped_asset", "skipped_file", "note"]
#: Note kinds about a file that will not be migrated.
FILE_KINDS = frozenset({"missing_file", "unreachable_reference", "no_reference"})


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One row of the report CSV: what, which asset, which family and field, why."""

    kind: LineKind
    code: str | None
    family: str | None
    field: str
    reason: str
    where: str = ""


@dataclass(slots=True)
class FamilyCounts:
    """What one family gets."""

    assets: int = 0
    skipped: int = 0
    media_values: int = 0
    files_left_out: int = 0
    notes: int = 0


@dataclass(slots=True)
class PamReport:
    """Counts per family (``""`` for assets with no family) and per note kind."""

    families: dict[str, FamilyCounts] = field(default_factory=dict)
    note_kinds: Counter[str] = field(default_factory=Counter)
    input_rows_skipped: int = 0

    def counts(self, family: str | None) -> FamilyCounts:
        key = family or ""
        found = self.families.get(key)
        if found is None:
            found = self.families[key] = FamilyCounts()
        return found

    def add(self, item: TargetAsset | SkippedAsset) -> None:
        """Count one outcome of the values pass."""
        if isinstance(item, SkippedAsset):
            self.counts(item.family).skipped += 1
            return
        counts = self.counts(item.family)
        counts.assets += 1
        counts.media_values += sum(isinstance(v.data, PamFile) for v in item.values)
        for note in item.notes:
            counts.notes += 1
            self.note_kinds[note.kind] += 1
            counts.files_left_out += note.kind in FILE_KINDS

    @property
    def assets(self) -> int:
        return sum(c.assets for c in self.families.values())

    @property
    def skipped(self) -> int:
        return sum(c.skipped for c in self.families.values())


def report_lines(item: TargetAsset | SkippedAsset) -> Iterator[ReportLine]:
    """The report rows of one outcome: the skip, or each note of a migrated asset."""
    if isinstance(item, SkippedAsset):
        yield ReportLine("skipped_asset", item.code, item.family, "", item.reason, item.where)
        return
    for note in item.notes:
        kind: LineKind = "skipped_file" if note.kind in FILE_KINDS else "note"
        yield ReportLine(kind, item.code, item.family, note.field, note.message)


__all__ = ["FamilyCounts", "LineKind", "PamReport", "ReportLine", "report_lines"]
