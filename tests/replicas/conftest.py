"""
Replica fixtures: the store fixtures of ``tests/store`` (every store test on SQLite and on the
real PostgreSQL), and helpers that age a lease or a replica's heartbeat on the database clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from daemon.store import Store
from daemon.store.replica_tables import replicas
from tests.store.conftest import _clock, _pg_databases, _pg_migrated, _store, _url, expire_lease

__all__ = ["_clock", "_pg_databases", "_pg_migrated", "_store", "_url", "expire_lease"]

#: Long before any database clock: an expiry set to it has passed.
PAST = datetime(2000, 1, 1, tzinfo=UTC)


def expire_replica(store: Store, replica: str) -> None:
    """Make ``replica``'s heartbeat expired, as if it had died ``lease_ttl`` ago."""
    with store.engine.begin() as conn:
        conn.execute(update(replicas).where(replicas.c.replica == replica).values(expires_at=PAST))
