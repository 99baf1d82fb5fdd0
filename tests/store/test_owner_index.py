"""pim_owners is read by DAM id once per batch: that read must use an index, not scan the source."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from daemon.store.database import upgrade


def test_the_per_batch_read_of_keys_by_dam_id_uses_an_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            plan = conn.execute(
                sa.text(
                    "EXPLAIN QUERY PLAN SELECT dam_id, family, code FROM pim_owners "
                    "WHERE source = :s AND dam_id IN (:a, :b) AND action IS NULL"
                ),
                {"s": "demo", "a": "1", "b": "2"},
            ).all()
    finally:
        engine.dispose()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_pim_owners_source_dam_id" in details, details
