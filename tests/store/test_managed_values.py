"""Managed values in the asset state: recorded with the batch, canonical, NULL before 0003."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, inspect, select

from daemon.core.records import Cursor
from daemon.store import AssetWrite, Store
from daemon.store.database import downgrade, head_revisions, make_engine, upgrade
from daemon.store.tables import asset_states
from daemon.store.value_keys import decode_value_keys, encode_value_keys

T0 = datetime(2025, 1, 1, 8, 30, 15, 123456, tzinfo=UTC)
KEYS = frozenset({("tags", None, None), ("description", "fr_FR", None), ("size", None, "print")})


@pytest.fixture(name="lease")
def _lease(store):
    return store.acquire_lease("dam", "worker-1", 60)


def _columns(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("asset_states")}
    finally:
        engine.dispose()


def _raw(store: Store, dam_id: str) -> str | None:
    with store.engine.connect() as conn:
        raw = conn.execute(
            select(asset_states.c.managed_values).where(asset_states.c.dam_id == dam_id)
        ).scalar_one()
    assert raw is None or isinstance(raw, str)
    return raw


def test_managed_values_are_recorded_with_the_batch_as_canonical_json(store, lease):
    """The keys written come back as a set and are stored as one sorted, compact JSON list."""
    write = AssetWrite("d1", "packshots", "d1", "h1", managed_values=KEYS)
    store.commit_batch(lease, None, cursor=Cursor(T0, "d1"), written=[write])
    assert KEYS == store.asset_states("dam", ["d1"])["d1"].managed_values
    assert '["description|fr_FR|","size||print","tags||"]' == _raw(store, "d1")


def test_a_write_with_no_value_records_an_empty_list_not_unknown(store, lease):
    """An asset written with no managed value records [] (erase nothing later), not NULL."""
    write = AssetWrite("d1", "packshots", "d1", "h1", managed_values=frozenset())
    store.commit_batch(lease, None, cursor=Cursor(T0, "d1"), written=[write])
    assert (frozenset(), "[]") == (
        store.asset_states("dam", ["d1"])["d1"].managed_values,
        _raw(store, "d1"),
    )


def test_a_revived_intent_forgets_the_keys_of_the_deleted_asset(store, lease):
    """A deleted asset written again starts as unknown: its old keys belong to the old asset."""
    write = AssetWrite("d1", "packshots", "d1", "h1", managed_values=KEYS)
    store.commit_batch(lease, None, cursor=Cursor(T0, "d1"), written=[write])
    store.commit_batch(lease, None, cursor=Cursor(T0, "d1"), deleted=["d1"])
    store.record_intents("dam", [("d1", "packshots", "d1")])
    state = store.asset_states("dam", ["d1"])["d1"]
    assert (False, None) == (state.deleted, state.managed_values)


def test_rows_from_before_0003_read_as_unknown_and_the_migration_round_trips(empty_url):
    """A row written at 0002 has NULL managed values at head; 0003 downgrades and upgrades."""
    assert ("0002",) == upgrade(empty_url, revision="0002")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            # Only the columns 0002 has: the statement names no managed_values.
            conn.execute(
                insert(asset_states).values(
                    source="dam",
                    dam_id="old",
                    family="packshots",
                    code="old",
                    content_hash="h0",
                    deleted=False,
                    last_synced_at=T0,
                )
            )
    finally:
        engine.dispose()
    assert head_revisions() == upgrade(empty_url)
    store = Store.from_url(empty_url)
    try:
        state = store.asset_states("dam", ["old"])["old"]
    finally:
        store.dispose()
    assert ("h0", None) == (state.content_hash, state.managed_values)
    assert ("0002",) == downgrade(empty_url, revision="0002")
    assert "managed_values" not in _columns(empty_url)
    assert head_revisions() == upgrade(empty_url)
    assert "managed_values" in _columns(empty_url)


@pytest.mark.parametrize("text", ["not json", '{"a": 1}', '["tags|"]', '["|en_US|"]', "[1]"])
def test_text_that_is_not_ours_reads_as_unknown(text):
    """Stored text the codec did not write reads as unknown (erase nothing), never an error."""
    assert None is decode_value_keys(text)


def test_the_codec_round_trips():
    """Decoding what was encoded gives the same keys back."""
    assert KEYS == decode_value_keys(encode_value_keys(KEYS))
