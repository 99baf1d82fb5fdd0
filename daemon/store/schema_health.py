"""
:class:`SchemaHealth`: the store's lifecycle, its schema migrations and its health checks.

Mixed into :class:`~daemon.store.state_store.Store`; the CLI migrates through it and the runtime
asks it whether the database is reachable, writable and at the schema head.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import text

from daemon.store import database as engines
from daemon.store.rows import StoreUnavailableError
from daemon.store.session_boundary import SessionBoundary

#: Readiness fails when the SQLite database's filesystem has less free space than this (64 MiB):
#: a batch commit needs room for its WAL frames, and SQLite fails mid-commit when it has none.
MIN_FREE_BYTES = 64 * 1024 * 1024


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

    def check_writable(self, timeout: float = 1.0, *, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        """
        Fail when a write would fail now, although ``SELECT 1`` still succeeds.

        SQLite: the database file, its ``-wal``/``-shm`` files or its directory is read-only
        (SQLite must create its journal files there), the filesystem has less than
        ``min_free_bytes`` free (a transaction rolled back proves nothing: SQLite only needs the
        space when it writes WAL frames at commit), or another process holds the write lock
        longer than ``timeout`` (WAL readers are never blocked by it). PostgreSQL: the server
        only accepts read-only transactions (a standby after a failover).

        Args:
            timeout: Seconds to wait for SQLite's write lock.
            min_free_bytes: SQLite: the free space the database's filesystem must have.

        Raises:
            StoreUnavailableError: Naming why the database cannot be written.
        """
        if self._dialect == "postgresql":
            self._check_postgresql_writable()
            return
        if self._dialect != "sqlite":
            return
        path = engines.sqlite_file(self._engine)
        if path is not None:
            _check_sqlite_files(Path(path), min_free_bytes)
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

    def _check_postgresql_writable(self) -> None:
        with self._translated("check_writable"), self._engine.connect() as conn:
            read_only = conn.scalar(text("SELECT current_setting('transaction_read_only')"))
            conn.rollback()
        if read_only == "on":
            raise StoreUnavailableError(
                operation="check_writable",
                reason="the server accepts only read-only transactions "
                "(a standby, or default_transaction_read_only is on)",
            )

    def dispose(self) -> None:
        """Close every pooled connection (idempotent)."""
        self._engine.dispose()


def _check_sqlite_files(path: Path, min_free_bytes: int) -> None:
    """Raise when SQLite could not write ``path``, its journal files or its directory now."""
    directory = path.absolute().parent
    # os.access honours read-only mounts and immutable files, for root too.
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists() and not os.access(candidate, os.W_OK):
            raise StoreUnavailableError(
                operation="check_writable", reason=f"read-only file {candidate.absolute()}"
            )
    if not os.access(directory, os.W_OK):
        raise StoreUnavailableError(
            operation="check_writable",
            reason=f"read-only directory {directory} (SQLite creates its journal files there)",
        )
    try:
        free = shutil.disk_usage(directory).free
    except OSError as exc:
        raise StoreUnavailableError(
            operation="check_writable", reason=f"cannot inspect {directory}: {exc.strerror}"
        ) from None
    if free < min_free_bytes:
        raise StoreUnavailableError(
            operation="check_writable",
            reason=f"only {free} bytes free on the database's filesystem ({directory}), "
            f"below the minimum of {min_free_bytes} (store.min_free_bytes)",
        )


__all__ = ["MIN_FREE_BYTES", "SchemaHealth"]
