"""
:class:`FailureAccess` and :class:`RunAccess`: the failure queue and the runs audit trail.

Mixed into :class:`~daemon.store.state_store.Store`; each method opens one session and hands it to
the queries of :mod:`daemon.store.failures`. The engine's retry job and the CLI's ``failures``
and ``status`` commands read and settle failures and runs through them.
"""

from __future__ import annotations

from datetime import datetime

from daemon.store import failures as queries
from daemon.store.rows import (
    Failure,
    FailureAttempt,
    FailureCounts,
    RunCounts,
    RunStatus,
    RunSummary,
)
from daemon.store.session_boundary import SessionBoundary


class FailureAccess(SessionBoundary):
    """Failed assets: which are due, listing, their trails, retrying now, forgetting, counts."""

    def due_failures(self, source: str, now: datetime, limit: int) -> list[Failure]:
        """Failures due for a retry at ``now``, earliest first (never dead or permanent)."""
        with self._read("due_failures") as session:
            return queries.due_failures(session, source, now, limit)

    def list_failures(self, source: str | None = None, dead: bool | None = None) -> list[Failure]:
        """Every failure, optionally filtered by source and dead-letter state."""
        with self._read("list_failures") as session:
            return queries.list_failures(session, source, dead)

    def get_failure(self, failure_id: int) -> Failure | None:
        """One failure by id."""
        with self._read("get_failure") as session:
            return queries.get_failure(session, failure_id)

    def failure_trail(self, source: str, dam_id: str) -> list[FailureAttempt]:
        """The kept failed attempts of one asset, oldest first (empty once resolved)."""
        with self._read("failure_trail") as session:
            return queries.failure_trail(session, source, dam_id)

    def retry_failure(self, target: queries.Target, *, source: str | None = None) -> int:
        """Make one failure (or ``"all"``, optionally of one source) due now; returns how many."""
        with self._write("retry_failure") as session:
            return queries.retry_failures(session, target, source, self._clock())

    def forget_failure(self, target: queries.Target, *, source: str | None = None) -> int:
        """Delete one failure (or ``"all"``, optionally of one source) and its trail; how many."""
        with self._write("forget_failure") as session:
            return queries.forget_failures(session, target, source)

    def failure_counts(self) -> dict[str, FailureCounts]:
        """Pending and dead-lettered failures per source (sources without any are absent)."""
        with self._read("failure_counts") as session:
            return queries.failure_counts(session)


class RunAccess(SessionBoundary):
    """The runs audit trail: opening and closing runs, and the latest ones."""

    def start_run(self, source: str) -> int:
        """Open a run in the audit trail; returns its id."""
        with self._write("start_run") as session:
            return queries.start_run(session, source, self._clock())

    def finish_run(
        self, run_id: int, status: RunStatus, counts: RunCounts, error: str | None = None
    ) -> bool:
        """Close a run with its outcome counts; ``False`` when no such run exists."""
        with self._write("finish_run") as session:
            return queries.finish_run(session, run_id, status, counts, error, self._clock())

    def last_runs(self, source: str, n: int = 10) -> list[RunSummary]:
        """The ``n`` latest runs of ``source``, newest first."""
        with self._read("last_runs") as session:
            return queries.last_runs(session, source, n)

    def last_success(self, source: str) -> datetime | None:
        """When the latest ``success``/``partial`` run of ``source`` finished."""
        with self._read("last_success") as session:
            return queries.last_success(session, source)


__all__ = ["FailureAccess", "RunAccess"]
