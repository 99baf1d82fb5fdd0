"""
The records of the product-link pass (:mod:`daemon.engine.pam_links`): its counts, and the
report sink that remembers which assets the migration left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from daemon.engine.pam_report import ReportLine


@dataclass(slots=True)
class LinkCounts:
    """What the link pass did."""

    attributes: int = 0
    attributes_created: int = 0
    attributes_refused: int = 0
    products: int = 0
    models: int = 0
    written: int = 0
    unchanged: int = 0
    unknown: int = 0
    refused: int = 0
    rows_skipped: int = 0
    codes_left_out: int = 0
    patches: int = 0
    verified_values: int = 0
    verify_failures: int = 0


def collect_skipped(
    sink: Callable[[ReportLine], None],
) -> tuple[Callable[[ReportLine], None], dict[str, str]]:
    """A sink that also remembers each asset the migration left out (code -> reason)."""
    skipped: dict[str, str] = {}

    def line(item: ReportLine) -> None:
        if item.kind == "skipped_asset" and item.code:
            skipped.setdefault(item.code, item.reason)
        sink(item)

    return line, skipped


__all__ = ["LinkCounts", "collect_skipped"]
