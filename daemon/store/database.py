"""
Engines and migrations: how the store connects to SQLite or PostgreSQL and moves its schema.

SQLite gets WAL, a busy timeout and ``foreign_keys=ON`` in a ``connect`` event, and SQLAlchemy
(not the ``sqlite3`` driver's legacy mode) emits ``BEGIN``, following the SQLAlchemy 2 SQLite
transactions recipe, so that reads are repeatable and DDL is transactional. Write transactions
ask for ``BEGIN IMMEDIATE`` (execution option ``sqlite_begin``) so that two writers queue on the
busy timeout instead of failing on a lock upgrade.

A SQLite file that is read-only when a connection opens it (a read-only volume, an immutable
file) gives a connection that stays read-only for its whole life, even once the file is writable
again. The pool therefore never reuses such a connection after the file became writable, and
discards every pooled connection on an error of the read-only, I/O or cannot-open class, so
that the store recovers on its next operation instead of at the next restart.

Migrations run through Alembic with ``script_location`` set programmatically from this package's
location, never from the working directory. On PostgreSQL, ``upgrade`` holds a session advisory
lock on a dedicated connection, with a bounded wait, so that two replicas never migrate at once.
Checking the schema head does not import Alembic (:mod:`daemon.store.schema_revisions` reads the
same revision ids): every command that opens the store checks it, and importing Alembic would be
most of a read-only command's start-up.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Engine, create_engine, event, func, literal, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.types import String

from daemon.core.errors import CheckpointError
from daemon.core.lazy_log import LazyLogger
from daemon.store.rows import SchemaNotAtHeadError
from daemon.store.schema_revisions import ShippedRevisions, database_revisions, shipped_revisions

if TYPE_CHECKING:
    from alembic.config import Config

log = LazyLogger(__name__)


def _migrations_dir() -> Path:
    """``migrations/`` in a wheel (packaged into ``daemon/store/``) or next to ``daemon/``."""
    here = Path(__file__).resolve().parent
    packaged = here / "migrations"
    return packaged if (packaged / "env.py").is_file() else here.parent.parent / "migrations"


MIGRATIONS_DIR = _migrations_dir()

#: Key of the PostgreSQL advisory lock that serialises ``damsync db upgrade`` ("damsync" in hex).
MIGRATION_LOCK_KEY = 0x64616D73796E63

DEFAULT_DATABASE_URL = "sqlite:///damsync.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: WAL pages written before a commit copies them into the database file (SQLite's default is
#: 1,000, ~4 MB). Each copy ends with an fsync, and a batch's random keys dirty a page per key
#: in each index once the tables are large, so at 1,000 pages a large store checkpointed every
#: few batches and its write transactions cost about a fifth more CPU (docs/benchmarks.md).
#: 10,000 pages: the WAL file grows to ~40 MB before each copy; readers are unaffected.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000


def make_engine(url: str, *, foreign_keys: bool = True, echo: bool = False) -> Engine:
    """
    Build the engine for ``url`` with our SQLite discipline when it is SQLite.

    Args:
        url: A SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql+psycopg://...``.
        foreign_keys: SQLite only; migrations turn it off because batch mode recreates tables.
        echo: Log every statement (debugging only).

    Returns:
        The engine; the caller disposes of it.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, echo=echo)
        _install_sqlite_hooks(engine, foreign_keys=foreign_keys)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise CheckpointError(
            f"unsupported database backend {parsed.get_backend_name()!r}: "
            "use sqlite:///path.db or postgresql+psycopg://..."
        )
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _install_sqlite_hooks(engine: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver; our "begin" hook below emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    path = sqlite_file(engine)
    if path is None:
        return

    @event.listens_for(engine, "connect")
    def _remember_read_only(_dbapi_connection: Any, record: Any) -> None:
        # SQLite silently opens a file it may not write read-only, for good: remember it. The
        # check runs after the driver opened the file; the error hook below covers the race.
        record.info[_OPENED_READ_ONLY] = not _writable(path)

    @event.listens_for(engine, "checkout")
    def _refuse_stale_read_only(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get(_OPENED_READ_ONLY) and _writable(path):
            log.info("store.read_only_connection_discarded", reason="the file is writable again")
            # The pool closes this connection and opens a fresh one, which can write.
            raise sa_exc.DisconnectionError("opened while the database file was read-only")

    @event.listens_for(engine, "handle_error")
    def _discard_on_file_errors(context: ExceptionContext) -> None:
        error = context.original_exception
        if isinstance(error, sqlite3.Error) and _is_file_error(error):
            # "Disconnect" makes SQLAlchemy drop this connection and every pooled one opened
            # before it; reopening a SQLite file is cheap, a stuck read-only handle is not.
            context.is_disconnect = True


#: ``ConnectionRecord.info`` key: the file was not writable when this connection opened it.
_OPENED_READ_ONLY = "damsync_opened_read_only"

#: Primary SQLite result codes after which a connection's view of its file may be stale.
_FILE_ERROR_CODES = frozenset(
    {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
)


def _is_file_error(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in _FILE_ERROR_CODES


def _writable(path: str) -> bool:
    """Whether this process may write ``path`` now (a file not created yet counts as writable)."""
    return os.access(path, os.W_OK) or not os.path.exists(path)


def sqlite_file(engine: Engine) -> str | None:
    """
    The file behind a SQLite engine, ``None`` for an in-memory or URI-style database.

    Args:
        engine: An engine from :func:`make_engine`.

    Returns:
        The path as SQLite resolves it (relative to the working directory), or ``None``.
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if str(url.query.get("uri", "")).lower() in ("true", "1") or url.database.startswith("file:"):
        return None
    return url.database


def db_now(dialect: str, plus_seconds: float = 0.0) -> ColumnElement[Any]:
    """
    The database clock as a SQL expression, optionally shifted, comparable to stored times.

    Args:
        dialect: ``sqlite`` or ``postgresql``.
        plus_seconds: Offset in seconds.

    Returns:
        On PostgreSQL ``now() + interval``; on SQLite a UTC text in the exact format
        :class:`~daemon.store.tables.UtcDateTime` stores (``YYYY-MM-DD HH:MM:SS.ffffff``).
    """
    if dialect == "sqlite":
        shifted = func.strftime("%Y-%m-%d %H:%M:%f", "now", f"{plus_seconds:+.6f} seconds")
        # %f yields milliseconds; pad to the six digits SQLAlchemy writes and reads.
        return shifted.concat(literal("000", String))
    return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, literal(plus_seconds))


# --- migrations -----------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    """
    An Alembic config for our migrations, independent of the working directory.

    Args:
        connection: The connection env.py must use (programmatic runs always pass one).

    Returns:
        The config, with ``script_location`` set from this package's location.
    """
    from alembic.config import Config

    _require_migrations()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    cfg.attributes["configure_logger"] = False
    return cfg


def _require_migrations() -> None:
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise CheckpointError(f"migrations not found at {MIGRATIONS_DIR}: broken installation")


def _shipped() -> ShippedRevisions:
    _require_migrations()
    return shipped_revisions(MIGRATIONS_DIR / "versions")


def head_revisions() -> tuple[str, ...]:
    """
    The head revision(s) of the shipped migrations (read from their text, without Alembic).

    Returns:
        Usually one revision id.
    """
    return _shipped().heads


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """
    The revision(s) the database is at.

    Args:
        engine: The store's engine.

    Returns:
        Empty for a database never migrated.
    """
    with engine.connect() as conn:
        return database_revisions(conn)


def check_at_head(engine: Engine) -> None:
    """
    Refuse a database whose schema is not at the shipped head.

    Args:
        engine: The store's engine.

    Raises:
        SchemaNotAtHeadError: Naming the current and expected revisions and the fix.
    """
    current = current_revisions(engine)
    shipped = _shipped()
    if set(current) == set(shipped.heads):
        return
    unknown = any(rev not in shipped.known for rev in current)
    raise SchemaNotAtHeadError(current=current, head=shipped.heads, unknown=unknown)


def upgrade(url: str, *, revision: str = "head", lock_timeout: float = 60.0) -> tuple[str, ...]:
    """
    Apply migrations up to ``revision``; on PostgreSQL under an advisory lock.

    Args:
        url: The database URL.
        revision: Target revision (``head`` normally).
        lock_timeout: Seconds to wait for another replica's upgrade to finish.

    Returns:
        The revision(s) the database is at afterwards.

    Raises:
        CheckpointError: The lock could not be taken within ``lock_timeout``.
    """
    from alembic import command

    engine = make_engine(url, foreign_keys=False)
    try:
        with engine.connect() as conn, _migration_lock(conn, lock_timeout):
            command.upgrade(alembic_config(conn), revision)
            conn.commit()
            if conn.dialect.name == "sqlite":
                _check_foreign_keys(conn)
        return current_revisions(engine)
    finally:
        engine.dispose()


def downgrade(url: str, *, revision: str, lock_timeout: float = 60.0) -> tuple[str, ...]:
    """
    Revert migrations down to ``revision`` (``base`` empties the schema): for operators and tests.

    Args:
        url: The database URL.
        revision: Target revision.
        lock_timeout: Seconds to wait for the migration lock.

    Returns:
        The revision(s) the database is at afterwards.
    """
    from alembic import command

    engine = make_engine(url, foreign_keys=False)
    try:
        with engine.connect() as conn, _migration_lock(conn, lock_timeout):
            command.downgrade(alembic_config(conn), revision)
            conn.commit()
        return current_revisions(engine)
    finally:
        engine.dispose()


@contextmanager
def _migration_lock(conn: Connection, timeout: float) -> Iterator[None]:
    """Hold the PostgreSQL session advisory lock (no-op on SQLite, which is single-process)."""
    if conn.dialect.name != "postgresql":
        yield
        return
    deadline = time.monotonic() + timeout
    while True:
        taken = conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        conn.commit()
        if taken:
            break
        if time.monotonic() >= deadline:
            raise CheckpointError(
                f"another `damsync db upgrade` holds the migration lock; gave up after {timeout}s"
            )
        log.info("store.migration_lock_wait", timeout=timeout)
        time.sleep(min(1.0, max(deadline - time.monotonic(), 0.0)))
    try:
        yield
    finally:
        conn.rollback()
        conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
        conn.commit()


def _check_foreign_keys(conn: Connection) -> None:
    """Batch migrations ran with foreign keys off on SQLite: prove they left none broken."""
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    conn.commit()
    if broken:
        raise CheckpointError(f"migration left {len(broken)} broken foreign key reference(s)")


__all__ = [
    "DEFAULT_DATABASE_URL",
    "MIGRATIONS_DIR",
    "MIGRATION_LOCK_KEY",
    "alembic_config",
    "check_at_head",
    "current_revisions",
    "db_now",
    "downgrade",
    "head_revisions",
    "make_engine",
    "sqlite_file",
    "upgrade",
]
