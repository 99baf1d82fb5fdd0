"""Failures: backoff, dead-lettering, the permanent flag, resolution, retry and forget."""

from __future__ import annotations

from datetime import timedelta

import pytest

from daemon.core.records import Cursor
from daemon.store import (
    AssetWrite,
    BackoffPolicy,
    BatchResult,
    FailureCounts,
    FailureRecord,
    Lease,
    Store,
)

from .conftest import Clock


@pytest.fixture(name="lease")
def _lease(store):
    store.backoff = BackoffPolicy(base_seconds=10, factor=2, max_seconds=25, max_attempts=4)
    return store.acquire_lease("dam", "w", 60)


def _fail(store: Store, lease: Lease, *records: FailureRecord) -> BatchResult:
    return store.commit_batch(lease, None, cursor=None, failures=list(records))


def test_backoff_grows_exponentially_up_to_the_cap(store, lease, clock: Clock):
    """Each failed attempt schedules the next after base * factor**(n-1), capped."""
    waits = []
    for _ in range(3):
        _fail(store, lease, FailureRecord("d1", "patch", "PimUnavailable", "503"))
        failure = store.list_failures("dam")[0]
        waits.append(failure.next_attempt_at - clock.now)
        clock.advance(1)
    assert [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=25)] == waits
    assert 3 == store.list_failures("dam")[0].attempts


def test_failure_is_dead_lettered_after_max_attempts(store, lease):
    """The max_attempts-th failure dead-letters the asset and stops scheduling it."""
    results = [_fail(store, lease, FailureRecord("d1", "patch", "E", "x")) for _ in range(4)]
    assert [("d1",), ("d1",), ("d1",), ()] == [r.scheduled for r in results]
    assert ("d1",) == results[-1].dead_lettered
    failure = store.list_failures("dam", dead=True)[0]
    assert (True, None, 4) == (failure.dead_lettered, failure.next_attempt_at, failure.attempts)


def test_permanent_failure_is_never_scheduled_for_blind_retry(store, lease, clock):
    """A permanent failure is dead-lettered at once and never due."""
    record = FailureRecord("d1", "map", "MappingError", "field 'title': too long", permanent=True)
    result = _fail(store, lease, record)
    assert ("d1",) == result.dead_lettered
    failure = store.list_failures("dam")[0]
    assert (True, True, None) == (failure.permanent, failure.dead_lettered, failure.next_attempt_at)
    assert "field 'title': too long" == failure.detail
    assert [] == store.due_failures("dam", clock.now + timedelta(days=365), 10)


def test_due_failures_follow_the_clock(store, lease, clock):
    """A failure becomes due at its next attempt time, earliest first, bounded by limit."""
    _fail(store, lease, FailureRecord("a", "patch", "E", "x"))
    clock.advance(5)
    _fail(store, lease, FailureRecord("b", "patch", "E", "x"))
    assert [] == store.due_failures("dam", clock.now, 10)
    later = clock.now + timedelta(seconds=10)
    assert ["a", "b"] == [f.dam_id for f in store.due_failures("dam", later, 10)]
    assert ["a"] == [f.dam_id for f in store.due_failures("dam", later, 1)]


def test_written_and_resolved_ids_clear_their_failures(store, lease):
    """A later write or an explicit resolution deletes the open failure."""
    _fail(store, lease, FailureRecord("a", "patch", "E", "x"), FailureRecord("b", "map", "E", "y"))
    store.commit_batch(
        lease, None, cursor=None, written=[AssetWrite("a", "f", "a", "h")], resolved=["b"]
    )
    assert [] == store.list_failures("dam")


def test_retry_makes_dead_letters_due_again(store, lease, clock):
    """retry_failure un-dead-letters, resets attempts and makes the failure due now."""
    _fail(store, lease, FailureRecord("a", "map", "E", "x", permanent=True))
    _fail(store, lease, FailureRecord("b", "map", "E", "x", permanent=True))
    first = store.list_failures("dam")[0]
    assert 1 == store.retry_failure(first.id)
    retried = store.get_failure(first.id)
    assert (False, False, 0, clock.now) == (
        retried.dead_lettered,
        retried.permanent,
        retried.attempts,
        retried.next_attempt_at,
    )
    assert ["a"] == [f.dam_id for f in store.due_failures("dam", clock.now, 10)]
    assert 2 == store.retry_failure("all", source="dam")


def test_forget_deletes_one_or_all(store, lease):
    """forget_failure removes one failure by id, or all of a source."""
    _fail(store, lease, *(FailureRecord(i, "patch", "E", "x") for i in "abc"))
    first = store.list_failures("dam")[0]
    assert 1 == store.forget_failure(first.id)
    assert None is store.get_failure(first.id)
    assert 0 == store.forget_failure("all", source="other")
    assert 2 == store.forget_failure("all")
    assert [] == store.list_failures()


def test_counts_per_source(store, lease):
    """failure_counts reports pending and dead letters per source."""
    _fail(store, lease, FailureRecord("a", "patch", "E", "x"))
    _fail(store, lease, FailureRecord("b", "map", "E", "x", permanent=True))
    other = store.acquire_lease("other", "w", 60)
    _fail(store, other, FailureRecord("c", "patch", "E", "x"))
    expected = {"dam": FailureCounts(pending=1, dead=1), "other": FailureCounts(pending=1, dead=0)}
    assert expected == store.failure_counts()


def test_failure_keeps_first_failed_at_and_latest_detail(store, lease, clock):
    """A repeated failure keeps when it first failed and records the newest stage and detail."""
    start = clock.now
    _fail(store, lease, FailureRecord("a", "upload", "E", "first"))
    clock.advance(60)
    store.commit_batch(
        lease, None, cursor=Cursor(clock.now, "a"), failures=[FailureRecord("a", "patch", "F", "2")]
    )
    failure = store.list_failures("dam")[0]
    assert (start, clock.now, "patch", "F", "2") == (
        failure.first_failed_at,
        failure.last_failed_at,
        failure.stage,
        failure.error_type,
        failure.detail,
    )


def test_backoff_policy_rejects_nonsense():
    """A backoff policy with a cap below its base is refused."""
    with pytest.raises(ValueError, match="invalid backoff"):
        BackoffPolicy(base_seconds=10, max_seconds=1)
    assert timedelta(seconds=5) == BackoffPolicy(1, 2, 5, 3).delay(1000)
