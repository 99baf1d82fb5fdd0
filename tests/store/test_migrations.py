"""Migrations: drift, round trip, refusal to run off head, and the ``damsync db`` commands."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, text

from daemon.cli.db import db
from daemon.core.errors import CheckpointError, TransientError
from daemon.store import SchemaNotAtHeadError, Store, StoreUnavailableError
from daemon.store.database import (
    MIGRATION_LOCK_KEY,
    downgrade,
    head_revisions,
    make_engine,
    upgrade,
)
from daemon.store.tables import metadata


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(url):
    """Autogenerate finds no difference between the tables and the migrated schema."""
    assert [] == _diff(url)


def test_upgrade_downgrade_upgrade_round_trip(empty_url):
    """Upgrade to head, downgrade to base and upgrade again leaves the same schema."""
    head = head_revisions()
    assert head == upgrade(empty_url)
    assert {t.name for t in metadata.sorted_tables} == _tables(empty_url)
    assert () == downgrade(empty_url, revision="base")
    assert set() == _tables(empty_url)
    assert head == upgrade(empty_url)
    assert [] == _diff(empty_url)


def test_upgrade_twice_is_a_no_op(empty_url):
    """A second upgrade at head changes nothing."""
    first = upgrade(empty_url)
    assert first == upgrade(empty_url)


def test_store_refuses_an_empty_database(empty_url):
    """check_at_head on a never-migrated database names `damsync db upgrade`."""
    store = Store.from_url(empty_url)
    try:
        with pytest.raises(SchemaNotAtHeadError) as caught:
            store.check_at_head()
    finally:
        store.dispose()
    assert "run `damsync db upgrade`" in str(caught.value)
    assert () == caught.value.current
    assert head_revisions() == caught.value.head


def test_store_refuses_an_unknown_revision(store):
    """A database at a revision this version does not know is refused without advising upgrade."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff_future'")
    with pytest.raises(SchemaNotAtHeadError) as caught:
        store.check_at_head()
    assert True is caught.value.unknown
    assert "does not know" in str(caught.value)


def test_store_at_head_passes_the_check(store):
    """check_at_head returns quietly at head and current_revision names the head."""
    store.check_at_head()
    assert ",".join(head_revisions()) == store.current_revision()


def test_store_ping_and_repr_hide_the_password():
    """The store's repr never shows the database password."""
    store = Store.from_url("postgresql+psycopg://u:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in repr(store)
    store.dispose()


def test_cli_upgrade_current_check(empty_url):
    """`damsync db check` fails before `upgrade` and passes after it; `current` names the head."""
    runner = CliRunner()
    env = {"DAMSYNC_DATABASE_URL": empty_url}
    before = runner.invoke(db, ["check"], env=env)
    assert 1 == before.exit_code
    assert "damsync db upgrade" in before.output
    assert "none\n" == runner.invoke(db, ["current"], env=env).output
    up = runner.invoke(db, ["upgrade"], env=env)
    assert 0 == up.exit_code, up.output
    assert "upgraded from none to" in up.output
    assert 0 == runner.invoke(db, ["check"], env=env).exit_code
    current = runner.invoke(db, ["current", "--database-url", empty_url])
    assert f"{','.join(head_revisions())}\n" == current.output


def test_cli_reports_an_unsupported_url():
    """An unsupported backend is a clear one-line error, exit code 1."""
    result = CliRunner().invoke(db, ["current", "--database-url", "mysql://x@h/db"])
    assert 1 == result.exit_code
    assert "unsupported database backend 'mysql'" in result.output


@pytest.mark.postgres
def test_upgrade_waits_a_bounded_time_for_the_migration_lock(pg_databases):
    """A concurrent upgrade holding the advisory lock makes another give up after its timeout."""
    url = pg_databases()
    holder = make_engine(url)
    try:
        with holder.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
            with pytest.raises(CheckpointError, match="holds the migration lock"):
                upgrade(url, lock_timeout=0.3)
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
        assert head_revisions() == upgrade(url, lock_timeout=0.3)
    finally:
        holder.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path):
    """Every SQLite connection gets WAL (checkpointed every 10,000 pages, not SQLite's 1,000),
    foreign keys and a busy timeout."""
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with engine.connect() as conn:
            pragmas = [
                conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "wal_autocheckpoint", "foreign_keys", "busy_timeout")
            ]
    finally:
        engine.dispose()
    assert ["wal", 10_000, 1, 10_000] == pragmas


def test_unreachable_database_is_a_transient_error_without_the_password(tmp_path):
    """A database that cannot be reached raises StoreUnavailableError naming no secret."""
    for url in (
        "postgresql+psycopg://u:s3cret@127.0.0.1:1/db?connect_timeout=2",
        f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}",
    ):
        store = Store.from_url(url)
        try:
            with pytest.raises(StoreUnavailableError) as caught:
                store.ping()
        finally:
            store.dispose()
        assert isinstance(caught.value, TransientError)
        assert "ping" == caught.value.operation
        assert "s3cret" not in str(caught.value)


def test_cli_takes_the_url_from_the_config_or_the_store_variable(tmp_path, monkeypatch):
    """`db upgrade --config` uses store.url; DAMSYNC_STORE__URL wins over the file."""
    config = tmp_path / "c.toml"
    from_file = f"sqlite:///{tmp_path / 'file.db'}"
    config.write_text(f'[pim]\nbase_url = "http://x"\ntoken = "t"\n[store]\nurl = "{from_file}"\n')
    result = CliRunner().invoke(db, ["upgrade", "--config", str(config)])
    assert 0 == result.exit_code, result.output
    assert (tmp_path / "file.db").exists()
    monkeypatch.setenv("DAMSYNC_STORE__URL", f"sqlite:///{tmp_path / 'env.db'}")
    result = CliRunner().invoke(db, ["upgrade", "--config", str(config)])
    assert 0 == result.exit_code, result.output
    assert (tmp_path / "env.db").exists()


def test_check_writable_fails_while_another_process_holds_the_write_lock(tmp_path):
    """SQLite readiness sees a write lock that SELECT 1 cannot see."""
    import sqlite3

    from daemon.store import Store, StoreUnavailableError

    store = Store.from_url(f"sqlite:///{tmp_path / 'w.db'}")
    store.upgrade()
    store.check_writable(timeout=0.1)
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        store.ping()
        with pytest.raises(StoreUnavailableError, match="locked"):
            store.check_writable(timeout=0.1)
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.check_writable(timeout=0.1)
    store.dispose()
