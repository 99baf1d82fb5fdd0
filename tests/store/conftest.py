"""
Store fixtures: every store test runs on SQLite (a temp file) and on the real PostgreSQL.

PostgreSQL comes from ``DAMSYNC_TEST_DATABASE_URL`` (any database on the server): the session
creates its own ``damsync_t_<random>`` databases there and drops them at the end, so runs never
clash. Without the variable the PostgreSQL variants are skipped locally and fail under CI=true.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import make_url

from daemon.store import Store
from daemon.store.database import head_revisions, upgrade
from daemon.store.tables import leases, metadata

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


class Clock:
    """A settable aware-UTC clock for the store's bookkeeping times."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _pg_server_url() -> str:
    url = os.environ.get("DAMSYNC_TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("DAMSYNC_TEST_DATABASE_URL is not set but CI=true: PostgreSQL is required")
        pytest.skip("DAMSYNC_TEST_DATABASE_URL is not set")
    return url


@pytest.fixture(name="pg_databases", scope="session")
def _pg_databases() -> Iterator[Callable[[], str]]:
    """Factory of fresh, empty PostgreSQL databases, all dropped at the end of the session."""
    created: list[str] = []
    admin = None

    def make() -> str:
        nonlocal admin
        server = make_url(_pg_server_url())
        if admin is None:
            admin = create_engine(server, isolation_level="AUTOCOMMIT")
        name = f"damsync_t_{secrets.token_hex(6)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(name="pg_migrated", scope="session")
def _pg_migrated(pg_databases: Callable[[], str]) -> str:
    """One PostgreSQL database at head for the whole session (tests truncate it)."""
    url = pg_databases()
    upgrade(url)
    return url


@pytest.fixture(name="empty_url", params=BACKENDS)
def _empty_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_databases: Callable[[], str]
) -> str:
    """A URL to an empty database of each backend (for migration tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return pg_databases()


@pytest.fixture(name="url", params=BACKENDS)
def _url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to a database at head, with no rows, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        upgrade(url)
        return url
    pg_url: str = request.getfixturevalue("pg_migrated")
    engine = create_engine(pg_url)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        # A test may have moved the revision; put the shared database back at head.
        conn.execute(
            text("UPDATE alembic_version SET version_num = :v"), {"v": head_revisions()[0]}
        )
    engine.dispose()
    return pg_url


@pytest.fixture(name="clock")
def _clock() -> Clock:
    return Clock()


@pytest.fixture(name="store")
def _store(url: str, clock: Clock) -> Iterator[Store]:
    """A store at head on each backend, with a settable clock."""
    store = Store.from_url(url, clock=clock)
    yield store
    store.dispose()


def expire_lease(store: Store, source: str) -> None:
    """Make the lease of ``source`` expired, as if its TTL had passed on the database clock."""
    past = datetime(2000, 1, 1, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(update(leases).where(leases.c.source == source).values(expires_at=past))
