"""
The batch path's statements run on the driver's cursor (``driver_many``, ``driver_in``) write and
read exactly what SQLAlchemy's own execution does, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Executable, bindparam, delete, insert, select
from sqlalchemy.exc import StatementError

from daemon.core.errors import CheckpointError
from daemon.store import AssetWrite, Store
from daemon.store.driver_in import compile_in, driver_in
from daemon.store.driver_many import compile_many, driver_many
from daemon.store.rows import AssetState
from daemon.store.statements import dialect_insert, ids_param
from daemon.store.tables import asset_states, pim_owners

WHEN = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


#: The columns the upsert tests bind: the varying ones first, then those shared by a batch.
UPSERT_COLUMNS = ("dam_id", "code", "content_hash", "source", "family", "deleted", "last_synced_at")


def _states_of(conn: Connection) -> list[tuple[object, ...]]:
    query = select(asset_states).order_by(asset_states.c.dam_id)
    return [tuple(row) for row in conn.execute(query)]


def _upsert(dialect: str) -> Executable:
    stmt = dialect_insert(dialect, asset_states)
    return stmt.on_conflict_do_update(
        index_elements=[asset_states.c.source, asset_states.c.dam_id],
        set_={"content_hash": stmt.excluded.content_hash, "deleted": False},
        where=asset_states.c.deleted.is_(True),
    )


_COLUMNS = ("dam_id", "code", "dam_updated_at", "source", "family", "content_hash", "deleted")


def test_driver_many_writes_what_sqlalchemy_writes(store: Store) -> None:
    """The same rows through SQLAlchemy and through the driver read back equal, typed alike."""
    rows = [
        ("a", "code-a", WHEN, "s1", "fam", "h1", True),
        ("b", "code-b", None, "s1", "fam", "h2", False),
        ("c", "code-ç", WHEN + timedelta(hours=1), "s1", "fam", "h3", False),
    ]
    with store.engine.begin() as conn:
        for row in rows:
            values = {**dict(zip(_COLUMNS, row, strict=True)), "last_synced_at": WHEN}
            conn.execute(insert(asset_states), [values])
        expected = _states_of(conn)
        conn.execute(delete(asset_states))
        columns = ("dam_id", "code", "dam_updated_at", "content_hash", "deleted", "source")
        many = compile_many(
            _upsert(conn.dialect.name), conn.dialect, (*columns, "family", "last_synced_at")
        )
        many.run(
            conn,
            [(r[0], r[1], r[2], r[5], r[6], r[3]) for r in rows],
            {"family": "fam", "last_synced_at": WHEN},
        )
        assert expected == _states_of(conn)
        stored = select(asset_states.c.dam_updated_at).where(asset_states.c.dam_id == "a")
        assert WHEN == conn.execute(stored).scalar_one()


def test_driver_many_keeps_the_statements_own_values_and_conflict_rule(store: Store) -> None:
    """``SET deleted = false ... WHERE deleted``: only the deleted row is revived."""
    with store.engine.begin() as conn:
        base = {"source": "s", "family": "f", "last_synced_at": WHEN, "content_hash": "old"}
        conn.execute(
            insert(asset_states),
            [
                {**base, "dam_id": "live", "code": "l", "deleted": False},
                {**base, "dam_id": "gone", "code": "g", "deleted": True},
            ],
        )
        columns = UPSERT_COLUMNS
        many = compile_many(_upsert(conn.dialect.name), conn.dialect, columns)
        shared = {"source": "s", "family": "f", "deleted": False, "last_synced_at": WHEN}
        many.run(conn, [("live", "l", "new"), ("gone", "g", "new")], shared)
        query = select(asset_states.c.dam_id, asset_states.c.content_hash)
        found = {dam_id: content for dam_id, content in conn.execute(query)}
    assert {"live": "old", "gone": "new"} == found


def test_driver_many_refuses_a_naive_datetime_as_sqlalchemy_does(store: Store) -> None:
    """A value its bind processor refuses is a StatementError (the store's CheckpointError)."""
    with store.engine.begin() as conn:
        columns = ("dam_id", "code", "dam_updated_at", "source", "family", "content_hash")
        many = compile_many(
            _upsert(conn.dialect.name), conn.dialect, (*columns, "deleted", "last_synced_at")
        )
        with pytest.raises(StatementError, match="naive"):
            many.run(
                conn,
                [("a", "c", datetime(2025, 1, 1), "s", "f", "h")],
                {"deleted": False, "last_synced_at": WHEN},
            )


def test_compile_many_refuses_a_parameter_it_is_not_given(store: Store) -> None:
    with store.engine.connect() as conn:
        stmt = insert(pim_owners).values(source=bindparam("who"))
        with pytest.raises(ValueError, match="not a column"):
            compile_many(stmt, conn.dialect, ("pim", "family", "code", "dam_id", "changed_at"))
        with pytest.raises(ValueError, match="not parameters"):
            keys = ("pim", "family", "code", "source", "dam_id", "changed_at")
            compile_many(insert(pim_owners), conn.dialect, (*keys, "nope"))


def test_driver_in_reads_what_sqlalchemy_reads_for_any_list_length(store: Store) -> None:
    """Rows, typed alike (aware datetimes, booleans), for lists of 1, 2 and 3 ids."""
    query = select(asset_states).where(
        asset_states.c.source == bindparam("source"), asset_states.c.dam_id.in_(ids_param())
    )
    with store.engine.begin() as conn:
        base = {"source": "s", "family": "f", "content_hash": "h", "deleted": False}
        conn.execute(
            insert(asset_states),
            [
                {
                    **base,
                    "dam_id": f"d{i}",
                    "code": f"c{i}",
                    "last_synced_at": WHEN,
                    "dam_updated_at": WHEN + timedelta(seconds=i),
                    "deleted": i == 2,
                }
                for i in range(3)
            ],
        )
        compiled = compile_in(query, conn.dialect)
        for ids in (["d0"], ["d2", "d1"], ["d0", "d1", "d2", "missing"]):
            params = {"source": "s", "ids": ids}
            expected = sorted(tuple(r) for r in conn.execute(query, params))
            got = sorted(compiled.run(conn, params))
            assert expected == got
            assert all(type(row[8]) is bool and row[7].tzinfo is not None for row in got)


def test_driver_in_runs_a_delete_and_refuses_a_statement_without_the_list(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            insert(asset_states),
            [
                {
                    "source": "s",
                    "dam_id": d,
                    "family": "f",
                    "code": d,
                    "content_hash": "h",
                    "deleted": False,
                    "last_synced_at": WHEN,
                }
                for d in ("a", "b", "c")
            ],
        )
        gone = delete(asset_states).where(
            asset_states.c.source == bindparam("source"), asset_states.c.dam_id.in_(ids_param())
        )
        assert [] == driver_in(conn, "test-delete", lambda: gone).run(
            conn, {"source": "s", "ids": ["a", "c"]}
        )
        assert ["b"] == list(conn.execute(select(asset_states.c.dam_id)).scalars())
        with pytest.raises(ValueError, match="expanding"):
            compile_in(select(asset_states), conn.dialect)


def test_the_store_reports_a_refused_value_as_before(store: Store) -> None:
    """A naive clock reading in the batch commit is the store's error, as it was through Core."""
    lease = store.acquire_lease("dam", "w", 60)
    assert lease is not None
    run = store.start_run("dam")
    url = store.engine.url.render_as_string(hide_password=False)
    naive = Store.from_url(url, clock=lambda: datetime(2025, 1, 1))
    try:
        with pytest.raises((CheckpointError, ValueError)):
            naive.commit_batch(lease, run, cursor=None, written=[AssetWrite("d", "f", "c", "h")])
    finally:
        naive.dispose()
    assert {} == store.asset_states("dam", ["d"])


def test_driver_many_is_compiled_once_per_driver(store: Store) -> None:
    with store.engine.connect() as conn:
        columns = UPSERT_COLUMNS
        first = driver_many(conn, "test-once", _upsert, columns)
        assert first is driver_many(conn, "test-once", _upsert, columns)


def test_asset_state_fields_follow_the_table_columns() -> None:
    """Asset states are read by position: AssetState's fields are the table's columns, in order."""
    assert [c.name for c in asset_states.c] == [f.name for f in dataclasses.fields(AssetState)]
