"""The event inbox: dedupe on add, claims (SKIP LOCKED on PostgreSQL), settling, pruning, depth."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Row, inspect, select, text

from daemon.core import secret_values
from daemon.core.events import (
    MAX_DAM_ID,
    MAX_EVENT_ID,
    DamEvent,
    InboxAdded,
    InboxDepth,
    InboxEntry,
)
from daemon.store import Store, StoreUnavailableError
from daemon.store.database import downgrade, make_engine, upgrade
from daemon.store.inbox import MAX_ERROR_CHARS
from daemon.store.tables import event_inbox

from .conftest import Clock


def _event(
    event_id: str,
    *dam_ids: str,
    source: str = "dam",
    at: datetime | None = None,
    kind: str = "changed",
    origin: str = "webhook",
) -> DamEvent:
    received = at or datetime(2025, 3, 1, 11, 0, tzinfo=UTC)
    return DamEvent(source, event_id, dam_ids or ("a1",), kind, received, origin)  # type: ignore[arg-type]


def _claim(
    store: Store, holder: str = "c1", limit: int = 100, seconds: float = 30
) -> list[InboxEntry]:
    return store.claim_events("dam", holder, limit=limit, claim_seconds=seconds)


def _rows(store: Store) -> list[Row[Any]]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(event_inbox).order_by(event_inbox.c.id)))


# --- add ------------------------------------------------------------------------------------


def test_an_event_becomes_one_row_per_asset(store: Store):
    """Two events, one naming two assets: three rows, pending and due at once."""
    added = store.add_events(
        [_event("e1", "a1"), _event("e2", "b1", "b2", kind="deleted", origin="nats")]
    )
    assert InboxAdded(added=2, duplicates=0) == added
    rows = _rows(store)
    assert [("e1", "a1"), ("e2", "b1"), ("e2", "b2")] == [(r.event_id, r.dam_id) for r in rows]
    assert {"pending"} == {r.status for r in rows}
    assert {0} == {r.attempts for r in rows}
    entries = _claim(store)
    assert [("e1", "a1", "changed", "webhook"), ("e2", "b1", "deleted", "nats")] == [
        (e.event_id, e.dam_id, e.kind, e.origin) for e in entries[:2]
    ]
    assert datetime(2025, 3, 1, 11, 0, tzinfo=UTC) == entries[0].received_at


def test_the_same_event_twice_is_a_duplicate_even_with_other_assets(store: Store):
    """A known (source, event id) adds nothing, whatever assets it names; another source may."""
    assert InboxAdded(1, 0) == store.add_events([_event("e1", "a1")])
    assert InboxAdded(0, 1) == store.add_events([_event("e1", "a1")])
    assert InboxAdded(0, 1) == store.add_events([_event("e1", "a1", "a2")])
    assert InboxAdded(1, 1) == store.add_events([_event("e1", "a1", source="other"), _event("e1")])
    assert 2 == len(_rows(store))


def test_an_event_repeated_in_one_call_is_added_once(store: Store):
    """The second copy in the same call is a duplicate; a repeated asset id is one row."""
    added = store.add_events([_event("e1", "a1", "a1"), _event("e1", "a1"), _event("e2", "b")])
    assert InboxAdded(added=2, duplicates=1) == added
    assert [("e1", "a1"), ("e2", "b")] == [(r.event_id, r.dam_id) for r in _rows(store)]


def test_a_finished_event_stays_known_until_pruned(store: Store, clock: Clock):
    """Done rows still dedupe a redelivery; once pruned the same id is new again."""
    store.add_events([_event("e1")])
    ids = [e.id for e in _claim(store)]
    assert 1 == store.finish_events(ids, "c1")
    assert InboxAdded(0, 1) == store.add_events([_event("e1")])
    clock.advance(10)
    assert 1 == store.prune_events(clock.now)
    assert InboxAdded(1, 0) == store.add_events([_event("e1")])


def test_an_empty_add_does_nothing(store: Store):
    """No events: nothing added, nothing counted."""
    assert InboxAdded(0, 0) == store.add_events([])


@pytest.mark.parametrize(
    "bad",
    [
        _event("e" * (MAX_EVENT_ID + 1)),
        _event("e1", "d" * (MAX_DAM_ID + 1)),
        DamEvent("dam", "e1", (), "changed", datetime(2025, 1, 1, tzinfo=UTC), "webhook"),
        DamEvent("dam", "e1", ("a",), "changed", datetime(2025, 1, 1), "webhook"),
        DamEvent("dam", "e1", ("a",), "moved", datetime(2025, 1, 1, tzinfo=UTC), "webhook"),  # type: ignore[arg-type]
    ],
    ids=["long-event-id", "long-dam-id", "no-asset", "naive-time", "unknown-kind"],
)
def test_an_invalid_event_is_refused_and_nothing_is_written(store: Store, bad: DamEvent):
    """The whole call is refused before any row is written."""
    with pytest.raises(ValueError):
        store.add_events([_event("ok"), bad])
    assert [] == _rows(store)


def test_limits_at_the_maximum_lengths_are_stored(store: Store):
    """An event id of MAX_EVENT_ID and an asset id of MAX_DAM_ID characters fit."""
    long_id, long_dam = "e" * MAX_EVENT_ID, "d" * MAX_DAM_ID
    assert InboxAdded(1, 0) == store.add_events([_event(long_id, long_dam)])
    assert [(long_id, long_dam)] == [(e.event_id, e.dam_id) for e in _claim(store)]


# --- claim ----------------------------------------------------------------------------------


def test_claims_take_the_oldest_first_up_to_the_limit(store: Store, clock: Clock):
    """Oldest received first, at most `limit`, only the source asked for; attempts count claims."""
    t = datetime(2025, 3, 1, 11, 0, tzinfo=UTC)
    store.add_events(
        [
            _event("late", at=t + timedelta(seconds=3)),
            _event("first", at=t),
            _event("mid", at=t + timedelta(seconds=1)),
            _event("foreign", source="other", at=t - timedelta(seconds=60)),
        ]
    )
    first = _claim(store, limit=2)
    assert ["first", "mid"] == [e.event_id for e in first]
    assert [1, 1] == [e.attempts for e in first]
    assert ["late"] == [e.event_id for e in _claim(store, "c2")]
    assert [] == _claim(store, "c3")
    rows = {r.event_id: r for r in _rows(store)}
    assert ("claimed", "c1", clock.now + timedelta(seconds=30)) == (
        rows["first"].status,
        rows["first"].claimed_by,
        rows["first"].claimed_until.replace(tzinfo=UTC),
    )
    assert "pending" == rows["foreign"].status


def test_an_expired_claim_is_taken_by_another_consumer_and_the_old_one_cannot_finish(
    store: Store, clock: Clock
):
    """A crashed consumer's rows come back after claim_seconds; its late finish is refused."""
    store.add_events([_event("e1", "a1", "a2")])
    old = _claim(store, "old", seconds=30)
    clock.advance(29)
    assert [] == _claim(store, "new")
    clock.advance(2)
    new = _claim(store, "new", seconds=30)
    assert sorted(e.id for e in old) == sorted(e.id for e in new)
    assert [2, 2] == [e.attempts for e in new]
    ids = [e.id for e in new]
    assert 0 == store.finish_events(ids, "old")
    assert 0 == store.release_events(
        ids, "old", error="x", retry_at=clock.now, max_attempts=5
    ) + store.unclaim_events(ids, "old")
    assert 2 == store.finish_events(ids, "new")
    assert {("done", None)} == {(r.status, r.claimed_by) for r in _rows(store)}


def test_finished_rows_are_done_with_their_time_and_never_claimed_again(store: Store, clock: Clock):
    """finish marks done with done_at; unclaimed or unknown ids are not counted."""
    store.add_events([_event("e1"), _event("e2")])
    entries = _claim(store, limit=1)
    pending_id = next(r.id for r in _rows(store) if r.status == "pending")
    assert 1 == store.finish_events([entries[0].id, pending_id, 9999], "c1")
    done = next(r for r in _rows(store) if r.id == entries[0].id)
    assert ("done", clock.now) == (done.status, done.done_at.replace(tzinfo=UTC))
    clock.advance(3600)
    assert [pending_id] == [e.id for e in _claim(store)]
    assert 0 == store.finish_events([], "c1")


def test_a_release_reschedules_then_dead_letters_at_max_attempts(store: Store, clock: Clock):
    """Released rows wait for retry_at with their error; the attempt reaching the max is dead."""
    store.add_events([_event("e1")])
    retry_at = clock.now + timedelta(seconds=60)
    ids = [e.id for e in _claim(store)]
    assert 1 == store.release_events(
        ids, "c1", error="503 upstream", retry_at=retry_at, max_attempts=2
    )
    row = _rows(store)[0]
    assert ("pending", 1, "503 upstream", None) == (
        row.status,
        row.attempts,
        row.last_error,
        row.claimed_by,
    )
    assert retry_at == row.next_attempt_at.replace(tzinfo=UTC)
    clock.advance(59)
    assert [] == _claim(store)
    clock.advance(1)
    second = _claim(store)
    assert [2] == [e.attempts for e in second]
    assert 1 == store.release_events(
        [e.id for e in second], "c1", error="503 again", retry_at=retry_at, max_attempts=2
    )
    row = _rows(store)[0]
    assert ("dead", "503 again", clock.now) == (
        row.status,
        row.last_error,
        row.done_at.replace(tzinfo=UTC),
    )
    clock.advance(3600)
    assert [] == _claim(store)
    assert [("e1", 2)] == [(e.event_id, e.attempts) for e in store.dead_events()]


def test_an_unclaim_gives_the_rows_back_without_counting_an_attempt(store: Store, clock: Clock):
    """Unclaimed rows are pending and due now, attempts as before the claim."""
    store.add_events([_event("e1", "a1", "a2")])
    ids = [e.id for e in _claim(store)]
    assert 0 == store.unclaim_events(ids, "someone-else")
    assert 2 == store.unclaim_events(ids, "c1")
    assert {("pending", 0, None)} == {(r.status, r.attempts, r.claimed_until) for r in _rows(store)}
    assert [1, 1] == [e.attempts for e in _claim(store, "c2")]


def test_claim_arguments_are_checked(store: Store):
    """A limit below one or a non-positive claim time is a programming error."""
    with pytest.raises(ValueError, match="limit"):
        store.claim_events("dam", "c", limit=0, claim_seconds=1)
    with pytest.raises(ValueError, match="claim_seconds"):
        store.claim_events("dam", "c", limit=1, claim_seconds=0)


def test_an_explicit_now_overrides_the_store_clock(store: Store, clock: Clock):
    """claim_events(now=...) judges due rows and expiry by that time."""
    store.add_events([_event("e1")])
    ids = [e.id for e in _claim(store)]
    store.release_events(
        ids, "c1", error="e", retry_at=clock.now + timedelta(hours=1), max_attempts=5
    )
    later = clock.now + timedelta(hours=2)
    got = store.claim_events("dam", "c1", limit=5, claim_seconds=10, now=later)
    assert ids == [e.id for e in got]
    assert later + timedelta(seconds=10) == _rows(store)[0].claimed_until.replace(tzinfo=UTC)


# --- prune, depth, dead -----------------------------------------------------------------------


def test_prune_deletes_old_done_and_dead_rows_only(store: Store, clock: Clock):
    """Old pending and claimed rows stay whatever their age; recent done rows stay too."""
    old = datetime(2020, 1, 1, tzinfo=UTC)
    store.add_events([_event(f"e{i}", at=old) for i in range(5)])
    entries = _claim(store, limit=3, seconds=3600)
    store.finish_events([entries[0].id], "c1")
    store.release_events([entries[1].id], "c1", error="x", retry_at=clock.now, max_attempts=1)
    clock.advance(600)
    recent = _claim(store, "c2", limit=1)  # e3, claimed by c2
    store.finish_events([e.id for e in recent], "c2")  # done 600 s later
    assert 2 == store.prune_events(clock.now - timedelta(seconds=1))
    left = {r.event_id: r.status for r in _rows(store)}
    assert {"e2": "claimed", "e3": "done", "e4": "pending"} == left
    assert 1 == store.prune_events(clock.now + timedelta(seconds=1))
    assert 0 == store.prune_events(clock.now + timedelta(days=365))


def test_prune_deletes_more_rows_than_one_chunk(store: Store, clock: Clock):
    """A large backlog of done rows goes in several chunks, all counted."""
    store.add_events([_event(f"e{i}", "a", "b") for i in range(700)])
    ids = [e.id for e in _claim(store, limit=2000)]
    assert 1400 == store.finish_events(ids, "c1")
    clock.advance(1)
    assert 1400 == store.prune_events(clock.now)
    assert [] == _rows(store)


def test_depth_counts_pending_and_claimed_per_source_with_the_oldest(store: Store, clock: Clock):
    """Depth: pending + claimed, the oldest received among them, and dead rows; done excluded."""
    assert {} == store.inbox_depth()
    t = datetime(2025, 3, 1, 11, 0, tzinfo=UTC)
    store.add_events(
        [
            _event("e1", at=t),
            _event("e2", "x", "y", at=t + timedelta(seconds=5)),
            _event("e3", at=t + timedelta(seconds=9)),
            _event("o1", source="other", at=t + timedelta(seconds=7)),
        ]
    )
    first = _claim(store, limit=1)
    store.finish_events([e.id for e in first], "c1")
    claimed = _claim(store, limit=1)
    store.release_events([e.id for e in claimed], "c1", error="x", retry_at=t, max_attempts=1)
    _claim(store, limit=1)  # e2/y stays claimed
    assert {
        "dam": InboxDepth(pending=2, oldest=t + timedelta(seconds=5), dead=1),
        "other": InboxDepth(pending=1, oldest=t + timedelta(seconds=7), dead=0),
    } == store.inbox_depth()


def test_dead_events_are_listed_newest_first_by_source_and_limit(store: Store, clock: Clock):
    """The operator listing: dead rows only, newest first, optionally of one source."""
    store.add_events([_event("e1"), _event("e2"), _event("o1", source="other"), _event("e3")])
    for name in ("dam", "other"):
        for entry in store.claim_events(name, "c", limit=10, claim_seconds=30):
            if entry.event_id != "e3":
                clock.advance(1)
                store.release_events([entry.id], "c", error="x", retry_at=clock.now, max_attempts=1)
    assert ["o1", "e2", "e1"] == [e.event_id for e in store.dead_events()]
    assert ["e2", "e1"] == [e.event_id for e in store.dead_events("dam")]
    assert ["o1"] == [e.event_id for e in store.dead_events(limit=1)]


# --- redaction --------------------------------------------------------------------------------


@pytest.fixture(name="remembered")
def _remembered() -> Iterator[str]:
    secret = "tok-9f8e7d6c5b4a"
    secret_values.remember([secret])
    yield secret
    secret_values.forget_all()


def test_last_error_is_redacted_and_truncated(store: Store, clock: Clock, remembered: str):
    """A configured secret and a password in a URL never reach the table; long text is cut."""
    store.add_events([_event("e1"), _event("e2")])
    first, second = _claim(store)
    error = f"GET https://u:pw-in-url@dam/x failed, token {remembered} refused"
    store.release_events([first.id], "c1", error=error, retry_at=clock.now, max_attempts=5)
    long_error = f"{remembered} " + "y" * (MAX_ERROR_CHARS * 2)
    store.release_events([second.id], "c1", error=long_error, retry_at=clock.now, max_attempts=5)
    stored = [r.last_error for r in _rows(store)]
    assert all(remembered not in s and "pw-in-url" not in s for s in stored)
    assert "***" in stored[0]
    assert len(stored[1]) <= MAX_ERROR_CHARS
    assert stored[1].startswith("*** yyy")


# --- errors -----------------------------------------------------------------------------------


def test_a_database_that_cannot_be_reached_raises_store_unavailable(tmp_path):
    """Every inbox call on an unreachable database is a transient StoreUnavailableError."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    try:
        with pytest.raises(StoreUnavailableError, match="add_events"):
            store.add_events([_event("e1")])
        with pytest.raises(StoreUnavailableError, match="claim_events"):
            store.claim_events("dam", "c", limit=1, claim_seconds=1)
        with pytest.raises(StoreUnavailableError, match="inbox_depth"):
            store.inbox_depth()
    finally:
        store.dispose()


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_claimers_never_share_a_row(store: Store):
    """Four consumers claiming small groups until empty: every row once, no row twice."""
    store.add_events([_event(f"e{i}", "a", "b") for i in range(150)])
    barrier = threading.Barrier(4)

    def consume(holder: str) -> list[int]:
        got: list[int] = []
        barrier.wait()
        while batch := store.claim_events("dam", holder, limit=7, claim_seconds=300):
            got.extend(e.id for e in batch)
            store.finish_events([e.id for e in batch], holder)
        return got

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(consume, [f"c{i}" for i in range(4)]))
    every = [i for got in results for i in got]
    assert len(every) == len(set(every))
    assert {r.id for r in _rows(store)} == set(every)
    assert 300 == len(every)


@pytest.mark.postgres
@pytest.mark.parametrize("url", ["postgresql"], indirect=True)
def test_concurrent_adds_of_the_same_event_give_one_added_one_duplicate(store: Store):
    """Two receivers adding the same event at once: one adds it, the other sees a duplicate."""
    for round_ in range(10):
        barrier = threading.Barrier(2)
        event = _event(f"race-{round_}", "a1", "a2")

        def add(event: DamEvent = event, barrier: threading.Barrier = barrier) -> InboxAdded:
            barrier.wait()
            return store.add_events([event])

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda _: add(), range(2)))
        assert [(0, 1), (1, 0)] == sorted((r.added, r.duplicates) for r in results)
    assert 20 == len(_rows(store))


def _wait_for_lock_wait(store: Store, deadline: float = 10.0) -> None:
    """Poll pg_stat_activity until some backend waits on a lock (bounded)."""
    end = time.monotonic() + deadline
    with store.engine.connect() as conn:
        while time.monotonic() < end:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("no backend ever waited on the uncommitted insert")


@pytest.mark.postgres
@pytest.mark.parametrize("url", ["postgresql"], indirect=True)
def test_an_add_racing_an_uncommitted_insert_of_the_same_event_is_a_duplicate(
    store: Store, url: str
):
    """The second receiver waits on the first's unique key, then counts a duplicate, no error."""
    other = make_engine(url)
    try:
        with other.connect() as conn:
            conn.execute(
                event_inbox.insert().values(
                    source="dam",
                    event_id="e1",
                    dam_id="a1",
                    kind="changed",
                    origin="webhook",
                    received_at=datetime(2025, 1, 1, tzinfo=UTC),
                    status="pending",
                    attempts=0,
                    next_attempt_at=datetime(2025, 1, 1, tzinfo=UTC),
                )
            )
            with ThreadPoolExecutor(max_workers=1) as pool:
                second = pool.submit(store.add_events, [_event("e1", "a1")])
                _wait_for_lock_wait(store)
                assert not second.done()
                conn.commit()
                assert InboxAdded(0, 1) == second.result(timeout=10)
    finally:
        other.dispose()
    assert 1 == len(_rows(store))


@pytest.mark.postgres
@pytest.mark.parametrize("url", ["postgresql"], indirect=True)
def test_a_claim_skips_rows_another_consumer_has_locked(store: Store, url: str):
    """Rows locked by another transaction are skipped at once, not waited for."""
    store.add_events([_event(f"e{i}", at=datetime(2025, 1, 1, 0, i, tzinfo=UTC)) for i in range(5)])
    other = make_engine(url)
    try:
        with other.connect() as conn:
            locked = (
                conn.execute(
                    select(event_inbox.c.id)
                    .order_by(event_inbox.c.received_at)
                    .limit(2)
                    .with_for_update()
                )
                .scalars()
                .all()
            )
            with ThreadPoolExecutor(max_workers=1) as pool:
                claim = pool.submit(_claim, store, "c1", 10)
                try:
                    got = claim.result(timeout=10)  # a claim waiting on the locks never returns
                finally:
                    conn.rollback()
    finally:
        other.dispose()
    assert ["e2", "e3", "e4"] == [e.event_id for e in got]
    assert not set(locked) & {e.id for e in got}


# --- migration --------------------------------------------------------------------------------


def test_migration_0006_adds_and_drops_the_inbox_table(empty_url):
    """Upgrading from 0005 creates event_inbox with its key and index; downgrading drops it."""
    upgrade(empty_url, revision="0005")
    engine = make_engine(empty_url)
    try:
        assert "event_inbox" not in inspect(engine).get_table_names()
        assert ("0006",) == upgrade(empty_url, revision="0006")
        inspector = inspect(engine)
        assert "event_inbox" in inspector.get_table_names()
        uniques = [u["column_names"] for u in inspector.get_unique_constraints("event_inbox")]
        assert [["source", "event_id", "dam_id"]] == uniques
        assert inspector.get_indexes("event_inbox")
        assert ("0005",) == downgrade(empty_url, revision="0005")
        assert "event_inbox" not in inspect(engine).get_table_names()
        assert ("0006",) == upgrade(empty_url, revision="0006")
    finally:
        engine.dispose()
