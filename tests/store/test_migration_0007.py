"""Migration 0007 (structure snapshots, DAM clock readings) up from 0006 and back."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from daemon.store.database import downgrade, make_engine, upgrade

NEW = {"structure_snapshots", "dam_clock_readings"}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_0006_to_0007_and_back(empty_url):
    """0007 adds both tables, which take rows; its downgrade removes them and 0006 is intact."""
    assert ("0006",) == upgrade(empty_url, revision="0006")
    assert set() == NEW & _tables(empty_url)
    assert ("0007",) == upgrade(empty_url, revision="0007")
    assert NEW <= _tables(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO structure_snapshots (pim, kind, code, body, read_at) "
                    "VALUES ('https://pim', 'family', 'f', NULL, :t)"
                ),
                {"t": datetime(2026, 1, 1, tzinfo=UTC)},
            )
            conn.execute(
                text(
                    "INSERT INTO dam_clock_readings (source, dam_time, monotonic, boot_id, "
                    "read_at) VALUES ('demo', :t, 12.5, 'boot', :t)"
                ),
                {"t": datetime(2026, 1, 1, tzinfo=UTC)},
            )
    finally:
        engine.dispose()
    assert ("0006",) == downgrade(empty_url, revision="0006")
    assert set() == NEW & _tables(empty_url)
    assert "event_inbox" in _tables(empty_url)
    assert ("0007",) == upgrade(empty_url, revision="0007")
    assert NEW <= _tables(empty_url)
