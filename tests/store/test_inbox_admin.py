"""The event inbox for operators: dead rows with their last error, and requeuing them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daemon.core.events import DamEvent, InboxDepth
from daemon.store import DeadEvent, Store

from .conftest import Clock

RECEIVED = datetime(2025, 3, 1, 11, 0, tzinfo=UTC)


def _add(store: Store, source: str, *event_ids: str) -> None:
    store.add_events(
        [DamEvent(source, e, (f"{e}-a",), "changed", RECEIVED, "webhook") for e in event_ids]
    )


def _kill(store: Store, clock: Clock, source: str, error: str = "PIM said 422") -> list[int]:
    """Claim every due row of ``source`` and let each die (one attempt allowed)."""
    claimed = store.claim_events(source, "c1", limit=100, claim_seconds=30)
    ids = [e.id for e in claimed]
    store.release_events(ids, "c1", error=error, retry_at=clock.now, max_attempts=1)
    return ids


def test_dead_rows_come_with_their_error_newest_first(store: Store, clock: Clock):
    """Each dead row: its event, asset, attempts, redacted error and death time; filters."""
    _add(store, "dam", "e1")
    (first,) = _kill(store, clock, "dam", "token=s3cr3t-value refused")
    clock.advance(60)
    _add(store, "dam", "e2")
    _add(store, "other", "e3")
    (second,) = _kill(store, clock, "dam")
    _kill(store, clock, "other")
    _add(store, "dam", "e4")  # pending: never listed

    rows = store.dead_event_rows("dam")
    assert [second, first] == [r.id for r in rows]
    assert (
        DeadEvent(
            id=second,
            source="dam",
            event_id="e2",
            dam_id="e2-a",
            kind="changed",
            origin="webhook",
            received_at=RECEIVED,
            attempts=1,
            last_error="PIM said 422",
            died_at=clock.now,
        )
        == rows[0]
    )
    assert "s3cr3t-value" not in (rows[1].last_error or "")
    assert {"dam", "other"} == {r.source for r in store.dead_event_rows()}
    assert 1 == len(store.dead_event_rows(limit=1))
    assert [] == store.dead_event_rows("nosuch")
    with pytest.raises(ValueError, match="limit"):
        store.dead_event_rows(limit=0)


def test_retry_by_id_makes_dead_rows_due_now_with_fresh_attempts(store: Store, clock: Clock):
    """Named dead rows go back to pending, due now; a consumer claims them at once."""
    _add(store, "dam", "e1", "e2")
    dead = _kill(store, clock, "dam")
    clock.advance(300)
    assert 1 == store.retry_dead_events([dead[0], 999_999])
    assert [dead[1]] == [r.id for r in store.dead_event_rows()]
    assert InboxDepth(pending=1, oldest=RECEIVED, dead=1) == store.inbox_depth()["dam"]
    claimed = store.claim_events("dam", "c2", limit=10, claim_seconds=30)
    assert [(dead[0], 1)] == [(e.id, e.attempts) for e in claimed]
    # A row that is not dead is never touched, whatever its id.
    assert 0 == store.retry_dead_events([dead[0]])
    store.finish_events([dead[0]], "c2")
    assert 0 == store.retry_dead_events([dead[0]])


def test_retry_all_optionally_of_one_source(store: Store, clock: Clock):
    """'all' takes every dead row, or those of one source; ids of another source are refused."""
    _add(store, "dam", "e1", "e2")
    _add(store, "other", "e3")
    _kill(store, clock, "dam")
    (other,) = _kill(store, clock, "other")
    assert 0 == store.retry_dead_events([other], source="dam")
    assert 2 == store.retry_dead_events("all", source="dam")
    assert {"other"} == {r.source for r in store.dead_event_rows()}
    assert 1 == store.retry_dead_events("all")
    assert [] == store.dead_event_rows()
    assert 0 == store.retry_dead_events("all")
    assert 0 == store.retry_dead_events([])
    assert {"dam": InboxDepth(2, RECEIVED, 0), "other": InboxDepth(1, RECEIVED, 0)} == (
        store.inbox_depth()
    )


def test_a_retried_row_that_dies_again_has_its_new_error(store: Store, clock: Clock):
    """Requeued, claimed and failed once more: dead again, with one attempt and the new error."""
    _add(store, "dam", "e1")
    _kill(store, clock, "dam", "first")
    store.retry_dead_events("all")
    _kill(store, clock, "dam", "second")
    (row,) = store.dead_event_rows()
    assert (1, "second") == (row.attempts, row.last_error)
