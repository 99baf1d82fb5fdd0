"""The failure trail: one row per failed attempt, bounded per asset, gone with its failure."""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select

from daemon.store import AssetWrite, BackoffPolicy, FailureRecord, Lease, Store
from daemon.store.database import downgrade, make_engine, upgrade
from daemon.store.rows import ATTEMPTS_KEPT
from daemon.store.tables import failure_attempts

from .conftest import Clock


@pytest.fixture(name="lease")
def _lease(store):
    store.backoff = BackoffPolicy(base_seconds=10, factor=2, max_seconds=25, max_attempts=4)
    return store.acquire_lease("dam", "w", 60)


def _fail(store: Store, lease: Lease, run_id: int | None, *records: FailureRecord) -> None:
    store.commit_batch(lease, run_id, cursor=None, failures=list(records))


def _trail_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(failure_attempts)).scalar_one())


def test_three_failures_give_three_attempts_in_order(store, lease, clock: Clock):
    """Each failed attempt is kept with its stage, reason, time and run, oldest first."""
    run_id = store.start_run("dam")
    times = [clock.now]
    long_reason = "field 'width': not a number " + "x" * 3000
    _fail(store, lease, run_id, FailureRecord("d1", "mapping", "MappingError", long_reason, True))
    failure = store.list_failures("dam")[0]
    assert 1 == store.retry_failure(failure.id)
    clock.advance(60)
    times.append(clock.now)
    _fail(store, lease, None, FailureRecord("d1", "pim", "PimRejected", "422: bad locale"))
    clock.advance(60)
    times.append(clock.now)
    _fail(store, lease, None, FailureRecord("d1", "pim", "PimUnavailable", "503"))
    trail = store.failure_trail("dam", "d1")
    assert [1, 2, 3] == [a.attempt for a in trail]
    assert ["mapping", "pim", "pim"] == [a.stage for a in trail]
    assert ["MappingError", "PimRejected", "PimUnavailable"] == [a.error_type for a in trail]
    assert [long_reason, "422: bad locale", "503"] == [a.detail for a in trail]
    assert times == [a.failed_at for a in trail]
    assert [run_id, None, None] == [a.run_id for a in trail]


def test_trail_is_gone_once_the_asset_is_written(store, lease):
    """A write resolves the failure and deletes its trail, leaving other assets' trails."""
    for _ in range(3):
        _fail(
            store,
            lease,
            None,
            FailureRecord("d1", "pim", "PimRejected", "422"),
            FailureRecord("d2", "pim", "PimRejected", "422"),
        )
    assert 3 == len(store.failure_trail("dam", "d1"))
    store.commit_batch(lease, None, cursor=None, written=[AssetWrite("d1", "f", "d1", "h")])
    assert [] == store.failure_trail("dam", "d1")
    assert 3 == len(store.failure_trail("dam", "d2"))
    store.commit_batch(lease, None, cursor=None, resolved=["d2"])
    assert 0 == _trail_rows(store)


def test_forget_deletes_the_trail(store, lease):
    """Forgetting a failure (one or all) deletes its trail with it."""
    _fail(
        store, lease, None, FailureRecord("a", "pim", "E", "x"), FailureRecord("b", "pim", "E", "y")
    )
    first = store.list_failures("dam")[0]
    assert 1 == store.forget_failure(first.id)
    assert [] == store.failure_trail("dam", first.dam_id)
    assert 1 == _trail_rows(store)
    assert 1 == store.forget_failure("all", source="dam")
    assert 0 == _trail_rows(store)


def test_trail_keeps_only_the_last_attempts(store, lease, clock: Clock):
    """Past the bound, the oldest attempts are deleted in the same commit."""
    total = ATTEMPTS_KEPT + 5
    for n in range(1, total + 1):
        _fail(store, lease, None, FailureRecord("d1", "pim", "PimUnavailable", f"503 #{n}"))
        clock.advance(1)
        if n % 4 == 0:
            store.retry_failure("all")
    trail = store.failure_trail("dam", "d1")
    assert list(range(total - ATTEMPTS_KEPT + 1, total + 1)) == [a.attempt for a in trail]
    assert f"503 #{total}" == trail[-1].detail
    assert ATTEMPTS_KEPT == _trail_rows(store)


def test_migration_0005_adds_and_drops_the_trail_table(empty_url):
    """Upgrading from 0004 creates failure_attempts; downgrading to 0004 drops it again."""
    upgrade(empty_url, revision="0004")
    engine = make_engine(empty_url)
    try:
        assert "failure_attempts" not in inspect(engine).get_table_names()
        upgrade(empty_url)
        assert "failure_attempts" in inspect(engine).get_table_names()
        assert ("0004",) == downgrade(empty_url, revision="0004")
        assert "failure_attempts" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
