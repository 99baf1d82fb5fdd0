"""
What became of a batch: per-batch counts, the acknowledged write awaiting its commit, and
failure rows with their retry class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from daemon.core.errors import (
    PermanentError,
    PimAuthError,
    PimUnavailable,
)
from daemon.core.records import Cursor, DamAsset, Window
from daemon.store import (
    AssetWrite,
    FailureRecord,
    RunCounts,
    RunStatus,
    StoreUnavailableError,
    WithdrawnAsset,
)
from daemon.telemetry.logs import redact_text

#: What a withdrawn PIM asset gets (see :mod:`daemon.engine.withdrawals`); ``unlink`` takes it
#: out of the product collections damsync filled (:mod:`daemon.engine.product_links`), then marks.
DeletePolicy = Literal["delete", "unlink", "mark", "ignore"]


#: Failures of a whole upstream, not of one asset: they end the pass before its commit, so
#: the batch is simply read again next time instead of parking every asset in the failures
#: table (where they would count towards dead-lettering).
UPSTREAM_WIDE = (PimUnavailable, PimAuthError, StoreUnavailableError)


@dataclass(slots=True)
class BatchReport:
    """Counts of one batch, plus the payloads a dry run would have sent."""

    size: int = 0
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    deleted: int = 0
    uploaded: int = 0
    dry_run_items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class BatchWrite:
    """A batch the PIM has acknowledged, waiting for its commit."""

    report: BatchReport
    written: list[AssetWrite]
    media: list[tuple[str, str]]
    failures: list[FailureRecord]
    resolved: list[str]
    deleted: list[str]
    withdrawn: list[WithdrawnAsset] = field(default_factory=list)


#: Characters of an error's text kept in the runs and failures tables.
ERROR_TEXT_LIMIT = 4000


def error_text(error: BaseException, *, with_type: bool = False) -> str:
    """
    The text of ``error`` as it may be stored (runs, failures) or printed (the CLI summary).

    Redacted first, then cut (a cut must not leave half a secret unmasked): upstream messages
    may echo credentials (a token endpoint quoting the password it refused).
    """
    text = f"{type(error).__name__}: {error}" if with_type else str(error)
    return redact_text(text)[:ERROR_TEXT_LIMIT]


def failure_of(
    dam_id: str,
    stage: str,
    error: Exception,
    asset: DamAsset | None,
    *,
    retryable: bool = False,
) -> FailureRecord:
    """
    A failures-table row for ``error``; permanent errors are not retried blindly.

    ``retryable`` overrides the error's own marker where a later attempt can succeed although
    the error class is permanent (a structure rejection after a cache refresh, a binary that
    came back truncated).
    """
    return FailureRecord(
        dam_id=dam_id,
        stage=stage,
        error_type=type(error).__name__,
        detail=error_text(error),
        permanent=isinstance(error, PermanentError) and not retryable,
        dam_updated_at=asset.updated_at if asset is not None else None,
    )


__all__ = ["BatchReport", "DeletePolicy", "error_text"]


PassStatus = Literal["succeeded", "partial", "failed", "skipped", "stopped"]


@dataclass(slots=True)
class PassResult:
    """What one pass did: the canonical summary line and the run's audit record."""

    source: str
    run_id: int | None
    status: PassStatus = "succeeded"
    read: int = 0
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    deleted: int = 0
    batches: int = 0
    duration: float = 0.0
    cursor: Cursor | None = None
    window: Window | None = None
    error: str | None = None
    dry_run: bool = False
    dry_run_items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, report: BatchReport) -> None:
        self.written += report.written
        self.unchanged += report.unchanged
        self.failed += report.failed
        self.skipped += report.skipped
        self.deleted += report.deleted
        self.batches += 1

    def run_counts(self) -> RunCounts:
        return RunCounts(
            seen=self.read,
            written=self.written,
            unchanged=self.unchanged + self.skipped,
            failed=self.failed,
            deleted=self.deleted,
        )

    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "written": self.written,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "skipped": self.skipped,
            "deleted": self.deleted,
        }


#: How a pass's status is kept in the runs audit trail.
RUN_STATUS: dict[PassStatus, RunStatus] = {
    "succeeded": "success",
    "partial": "partial",
    "failed": "failed",
    "skipped": "aborted",
    "stopped": "aborted",
}
