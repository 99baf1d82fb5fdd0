"""Runs: the audit trail and the last-success time that seeds the staleness metric."""

from __future__ import annotations

import pytest

from daemon.store import RunCounts


def test_run_is_recorded_with_counts_and_status(store, clock):
    """A finished run keeps its start, end, counts, status and error."""
    start = clock.now
    run = store.start_run("dam")
    clock.advance(30)
    counts = RunCounts(seen=10, written=6, unchanged=2, failed=1, deleted=1, dead_lettered=1)
    assert True is store.finish_run(run, "partial", counts, "1 asset failed")
    [summary] = store.last_runs("dam", 5)
    assert (run, start, clock.now, "partial", counts, "1 asset failed") == (
        summary.id,
        summary.started_at,
        summary.finished_at,
        summary.status,
        summary.counts,
        summary.error,
    )


def test_last_runs_are_newest_first_and_bounded(store, clock):
    """last_runs lists the newest n runs of one source."""
    ids = []
    for _ in range(4):
        ids.append(store.start_run("dam"))
        clock.advance(1)
    store.start_run("other")
    assert ids[:1:-1] == [r.id for r in store.last_runs("dam", 2)]
    assert "running" == store.last_runs("dam", 1)[0].status


def test_last_success_ignores_failed_and_running_runs(store, clock):
    """last_success is the end of the latest success or partial run."""
    assert None is store.last_success("dam")
    good = store.start_run("dam")
    clock.advance(10)
    store.finish_run(good, "success", RunCounts(written=1))
    good_end = clock.now
    clock.advance(10)
    bad = store.start_run("dam")
    clock.advance(10)
    store.finish_run(bad, "failed", RunCounts(), "PIM down")
    store.start_run("dam")
    assert good_end == store.last_success("dam")


def test_finish_run_validates_status_and_existence(store):
    """A run cannot finish as running, and finishing an unknown run reports False."""
    run = store.start_run("dam")
    with pytest.raises(ValueError, match="not 'running'"):
        store.finish_run(run, "running", RunCounts())
    assert False is store.finish_run(run + 100, "success", RunCounts())
    with pytest.raises(ValueError, match="seen"):
        RunCounts(seen=-1)
