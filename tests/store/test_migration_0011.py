"""
Migration 0011 (ownership per PIM) up from 0008-era data, and its guarded downgrade.

Rows written before several PIMs existed belong to ``default`` (``[pim]``); the key becomes
``(pim, family, code)``. The downgrade is refused, changing nothing, while one family and code
is held in two PIMs (the older key cannot hold both rows); otherwise it restores 0010's keys.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import column, delete, inspect, select, table
from sqlalchemy.exc import IntegrityError

from daemon.store.database import current_revisions, downgrade, make_engine, upgrade
from daemon.store.tables import UtcDateTime, asset_states, pending_deletions, pim_owners

NOW = datetime(2026, 1, 1, tzinfo=UTC)

#: ``pim_owners`` as 0008 has it (no ``pim``): how its rows were written then.
OWNERS_0008 = table(
    "pim_owners",
    *(column(name) for name in ("family", "code", "source", "dam_id", "action")),
    column("changed_at", UtcDateTime),
)


def _seed_0008(url: str) -> None:
    """An asset written, one withdrawn, one deletion held: a store as 0008 left it."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                asset_states.insert().values(
                    source="demo",
                    dam_id="d1",
                    family="fam",
                    code="c1",
                    content_hash="h",
                    deleted=False,
                    last_synced_at=NOW,
                )
            )
            for code, dam_id, action in (("c1", "d1", None), ("c2", "d2", "pending")):
                conn.execute(
                    OWNERS_0008.insert().values(
                        family="fam",
                        code=code,
                        source="demo",
                        dam_id=dam_id,
                        action=action,
                        changed_at=NOW,
                    )
                )
            conn.execute(
                pending_deletions.insert().values(
                    source="demo",
                    family="fam",
                    code="c2",
                    dam_id="d2",
                    reason="tombstone",
                    policy="delete",
                    requested_at=NOW,
                )
            )
    finally:
        engine.dispose()


def _owner_rows(url: str) -> list[tuple[str | None, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = select(pim_owners.c.pim, pim_owners.c.code, pim_owners.c.source).order_by(
                pim_owners.c.pim, pim_owners.c.code
            )
            return [tuple(r) for r in conn.execute(query)]
    finally:
        engine.dispose()


def _keys(url: str) -> tuple[list[str], list[list[str]], list[str]]:
    engine = make_engine(url)
    try:
        found = inspect(engine)
        pk = found.get_pk_constraint("pim_owners")["constrained_columns"]
        unique = [u["column_names"] for u in found.get_unique_constraints("pending_deletions")]
        indexes = sorted(i["name"] or "" for i in found.get_indexes("pim_owners"))
        return pk, unique, indexes
    finally:
        engine.dispose()


def test_0008_data_upgrades_to_the_default_pim(empty_url):
    """Every owner row and held deletion of 0008 belongs to ``default``; the indexes stay."""
    assert ("0008",) == upgrade(empty_url, revision="0008")
    _seed_0008(empty_url)
    assert ("0011",) == upgrade(empty_url, revision="0011")
    assert [("default", "c1", "demo"), ("default", "c2", "demo")] == _owner_rows(empty_url)
    pk, unique, indexes = _keys(empty_url)
    assert ["pim", "family", "code"] == pk
    assert [["pim", "family", "code"]] == unique
    assert ["ix_pim_owners_source_dam_id", "ix_pim_owners_source_family"] == indexes
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            held = conn.execute(select(pending_deletions.c.pim, pending_deletions.c.code)).all()
            assert [("default", "c2")] == [tuple(r) for r in held]
            # The same key in another PIM is another row; twice in one PIM is refused.
            conn.execute(
                pim_owners.insert().values(
                    pim="us", family="fam", code="c1", source="us", dam_id="d1", changed_at=NOW
                )
            )
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                pim_owners.insert().values(
                    pim="us", family="fam", code="c1", source="x", dam_id="d9", changed_at=NOW
                )
            )
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(  # no server default is left: the PIM is always named
                OWNERS_0008.insert().values(
                    family="fam", code="c9", source="x", dam_id="d9", changed_at=NOW
                )
            )
    finally:
        engine.dispose()


def test_the_downgrade_is_refused_while_a_key_is_in_two_pims(empty_url):
    """Refused with a clear line and nothing changed; once the key is in one PIM, it works."""
    upgrade(empty_url, revision="0008")
    _seed_0008(empty_url)
    upgrade(empty_url, revision="0011")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                pim_owners.insert().values(
                    pim="us", family="fam", code="c1", source="us", dam_id="d1", changed_at=NOW
                )
            )
        with pytest.raises(RuntimeError, match=r"held in several PIMs \(first: fam/c1 in 2"):
            downgrade(empty_url, revision="0010")
        assert ("0011",) == current_revisions(engine)
        assert 3 == len(_owner_rows(empty_url))
        with engine.begin() as conn:
            conn.execute(delete(pim_owners).where(pim_owners.c.pim == "us"))
    finally:
        engine.dispose()
    assert ("0010",) == downgrade(empty_url, revision="0010")
    pk, unique, indexes = _keys(empty_url)
    assert (["family", "code"], [["family", "code"]]) == (pk, unique)
    assert ["ix_pim_owners_source_dam_id", "ix_pim_owners_source_family"] == indexes
    assert ("0011",) == upgrade(empty_url, revision="0011")
    assert [("default", "c1", "demo"), ("default", "c2", "demo")] == _owner_rows(empty_url)
