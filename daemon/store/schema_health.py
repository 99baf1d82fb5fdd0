"""
:class:`SchemaHealth`: the store's lifecycle, its schema migrations and its health checks.

Mixed into :class:`~daemon.store.state_store.Store`; the CLI migrates through it and the runtime
asks it whether the database is reachable, writable and at the schema head.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import text

from daemon.store import database as engines
from daemon.store.rows import StoreUnavailableError
from daemon.store.session_boundary import SessionBoundary


class SchemaHealth(SessionBoundary):
    """Migrations, the schema revision, ping and writability checks, and disposal."""

    def upgrade(self, *, lock_timeout: float = 60.0) -> tuple[str, ...]:
        """
        Apply pending migrations (PostgreSQL: under an advisory lock, bounded wait).

        Returns:
            The revision(s) the database is at afterwards.
        """
        url = self._engine.url.render_as_string(hide_password=False)
        with self._translated("upgrade"):
            return engines.upgrade(url, lock_timeout=lock_timeout)

    def current_revision(self) -> str | None:
        """The database's schema revision, ``None`` for a database never migrated."""
        with self._translated("current_revision"):
            current = engines.current_revisions(self._engine)
        return ",".join(current) or None

    def check_at_head(self) -> None:
        """
        Refuse to run on a schema that is not at head.

        Raises:
            SchemaNotAtHeadError: Names the current and expected revisions and the fix.
        """
        with self._translated("check_at_head"):
            engines.check_at_head(self._engine)

    def ping(self) -> None:
        """Round-trip to the database; raises :class:`StoreUnavailableError` when down."""
        with self._translated("ping"), self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def check_writable(self, timeout: float = 1.0) -> None:
        """
        SQLite only: fail when another process holds the write lock longer than ``timeout``.

        ``SELECT 1`` still succeeds under another writer's lock (WAL readers are never
        blocked), so readiness would stay green while every batch commit fails.

        Raises:
            StoreUnavailableError: The database is locked for writing.
        """
        if self._dialect != "sqlite":
            return
        with self._translated("check_writable"):
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                try:
                    cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
                    try:
                        cursor.execute("BEGIN IMMEDIATE")
                        cursor.execute("ROLLBACK")
                    except sqlite3.OperationalError as exc:
                        raise StoreUnavailableError(
                            operation="check_writable", reason=f"database is locked ({exc})"
                        ) from exc
                    finally:
                        cursor.execute(f"PRAGMA busy_timeout = {engines.SQLITE_BUSY_TIMEOUT_MS}")
                finally:
                    cursor.close()
            finally:
                raw.close()

    def dispose(self) -> None:
        """Close every pooled connection (idempotent)."""
        self._engine.dispose()


__all__ = ["SchemaHealth"]
