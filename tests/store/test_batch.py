"""The batch commit: atomicity, cursor monotonicity, precision, asset state and media reuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from daemon.core.errors import CheckpointError
from daemon.core.records import Cursor, Window
from daemon.store import AssetWrite, FailureRecord

T0 = datetime(2025, 1, 1, 8, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(name="lease")
def _lease(store):
    return store.acquire_lease("dam", "worker-1", 60)


@pytest.fixture(name="run")
def _run(store):
    return store.start_run("dam")


def test_cursor_round_trips_at_microsecond_precision(store, lease, run):
    """A cursor with microseconds and a non-UTC offset comes back identical, in UTC."""
    plus2 = T0.astimezone(timezone(timedelta(hours=2)))
    window = Window(T0 - timedelta(minutes=5), T0 + timedelta(microseconds=1))
    result = store.commit_batch(lease, run, cursor=Cursor(plus2, "id-1"), window=window)
    checkpoint = store.load_checkpoint("dam")
    assert Cursor(T0, "id-1") == checkpoint.cursor == result.cursor
    assert T0 == checkpoint.cursor.updated_at
    assert UTC == checkpoint.cursor.updated_at.tzinfo
    assert window == checkpoint.window


def test_cursor_never_moves_backwards(store, lease, run):
    """Committing an older cursor keeps the newer stored one; a tie is broken by id."""
    store.commit_batch(lease, run, cursor=Cursor(T0, "b"))
    kept = store.commit_batch(lease, run, cursor=Cursor(T0, "a"))
    assert Cursor(T0, "b") == kept.cursor
    store.commit_batch(lease, run, cursor=Cursor(T0 - timedelta(microseconds=1), "z"))
    assert Cursor(T0, "b") == store.load_checkpoint("dam").cursor
    store.commit_batch(lease, run, cursor=Cursor(T0 + timedelta(microseconds=1), "a"))
    assert Cursor(T0 + timedelta(microseconds=1), "a") == store.load_checkpoint("dam").cursor


def test_cursor_outside_the_window_is_refused(store, lease, run):
    """A cursor at or past the window's upper bound is an engine bug and writes nothing."""
    with pytest.raises(CheckpointError, match="upper bound"):
        store.commit_batch(lease, run, cursor=Cursor(T0, "a"), window=Window(None, T0))
    assert None is store.load_checkpoint("dam").cursor


def test_batch_is_atomic(store, lease, run):
    """A failure late in the transaction leaves the cursor, failures, media and states untouched."""
    store.commit_batch(
        lease, run, cursor=Cursor(T0, "a"), failures=[FailureRecord("old", "patch", "E", "x")]
    )
    with pytest.raises(CheckpointError):
        store.commit_batch(
            lease,
            run + 999,  # no such run: the asset upsert's foreign key fails last
            cursor=Cursor(T0 + timedelta(hours=1), "b"),
            written=[AssetWrite("new", "fam", "new", "h", binary_checksum="c", media_code="m")],
            media=[("c2", "m2")],
            failures=[FailureRecord("bad", "map", "MappingError", "field x")],
            resolved=["old"],
        )
    assert Cursor(T0, "a") == store.load_checkpoint("dam").cursor
    assert ["old"] == [f.dam_id for f in store.list_failures("dam")]
    assert 1 == store.list_failures("dam")[0].attempts
    assert {} == store.asset_states("dam", ["new"])
    assert (None, None) == (store.media_code("dam", "c"), store.media_code("dam", "c2"))


def test_written_assets_are_recorded_with_run_and_request(store, lease, run, clock):
    """Asset state keeps family, code, hashes, media code, run id and PIM request id."""
    write = AssetWrite("d1", "packshots", "d1_code", "hash1", "req-7", "sum1", "a/b/c/file.jpg", T0)
    store.commit_batch(lease, run, cursor=Cursor(T0, "d1"), written=[write])
    state = store.asset_states("dam", ["d1", "unknown"])
    assert ["d1"] == list(state)
    got = state["d1"]
    expected = ("packshots", "d1_code", "hash1", "sum1", "a/b/c/file.jpg", T0, False)
    assert expected == (
        got.family,
        got.code,
        got.content_hash,
        got.binary_checksum,
        got.media_code,
        got.dam_updated_at,
        got.deleted,
    )
    assert (run, "req-7", clock.now) == (got.run_id, got.request_id, got.last_synced_at)


def test_rewrite_updates_the_state_and_duplicates_keep_the_last(store, lease, run):
    """Writing an asset again (even twice in one batch) keeps the last version."""
    store.commit_batch(lease, run, cursor=None, written=[AssetWrite("d1", "f", "c", "h1")])
    store.commit_batch(
        lease,
        run,
        cursor=None,
        written=[AssetWrite("d1", "f", "c", "h2"), AssetWrite("d1", "f", "c", "h3")],
    )
    assert "h3" == store.asset_states("dam", ["d1"])["d1"].content_hash


def test_media_code_is_reused_by_checksum_across_assets(store, lease, run):
    """A checksum uploaded for one asset is found for any other asset of the same source."""
    store.commit_batch(
        lease,
        run,
        cursor=None,
        written=[AssetWrite("d1", "f", "c1", "h", binary_checksum="sha-1", media_code="m/1")],
        media=[("sha-2", "m/2")],
    )
    assert "m/1" == store.media_code("dam", "sha-1")
    assert "m/2" == store.media_code("dam", "sha-2")
    assert None is store.media_code("other-source", "sha-1")


def test_deleted_assets_leave_known_ids(store, lease, run):
    """Deleted assets are flagged, kept in state and no longer listed by known_ids."""
    written = [AssetWrite(f"d{i}", "f", f"c{i}", "h") for i in range(5)]
    store.commit_batch(lease, run, cursor=None, written=written)
    store.commit_batch(lease, run, cursor=None, deleted=["d1", "d3", "never-written"])
    assert ["d0", "d2", "d4"] == list(store.known_ids("dam", batch_size=2))
    assert True is store.asset_states("dam", ["d1"])["d1"].deleted
    store.commit_batch(lease, run, cursor=None, written=[AssetWrite("d1", "f", "c1", "h")])
    assert False is store.asset_states("dam", ["d1"])["d1"].deleted


def test_asset_states_reads_more_ids_than_one_chunk(store, lease, run):
    """A bulk read of more ids than one IN list returns every known one."""
    written = [AssetWrite(f"d{i:04}", "f", f"c{i}", "h") for i in range(1200)]
    store.commit_batch(lease, run, cursor=None, written=written)
    wanted = [f"d{i:04}" for i in range(0, 1300, 1)]
    assert 1200 == len(store.asset_states("dam", wanted))


def test_naive_datetimes_are_refused(store, lease, run):
    """A naive datetime never reaches the database."""
    with pytest.raises(ValueError, match="naive"):
        AssetWrite("d", "f", "c", "h", dam_updated_at=datetime(2025, 1, 1))


def test_intents_note_new_assets_without_touching_known_ones(store, lease, run):
    """An intent row is created for an unknown asset, revives a deleted one, and leaves a
    written one alone; its empty hash never matches a real one."""
    store.commit_batch(
        lease,
        run,
        cursor=None,
        written=[
            AssetWrite("known", "fam", "known", "h1"),
            AssetWrite("gone", "fam", "gone", "h2"),
        ],
        deleted=["gone"],
    )
    store.record_intents(
        "dam", [("new", "fam", "new_code"), ("known", "x", "y"), ("gone", "f", "g")]
    )
    states = store.asset_states("dam", ["new", "known", "gone"])
    assert ("fam", "new_code", "", False) == (
        states["new"].family,
        states["new"].code,
        states["new"].content_hash,
        states["new"].deleted,
    )
    assert ("fam", "known", "h1") == (
        states["known"].family,
        states["known"].code,
        states["known"].content_hash,
    )
    assert ("f", "g", "", False) == (
        states["gone"].family,
        states["gone"].code,
        states["gone"].content_hash,
        states["gone"].deleted,
    )
    assert {"new", "known", "gone"} == set(store.known_ids("dam"))
