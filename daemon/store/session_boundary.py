"""
:class:`SessionBoundary`: what every part of the :class:`~daemon.store.state_store.Store` rests on.

It holds the engine, the clock and the backoff policy, and opens the short sessions the store's
methods run in: a Core :class:`~sqlalchemy.engine.Connection` each (the store maps no classes, so
it needs no ORM ``Session``, whose import would slow every command's start-up). Driver errors are
translated here, at the store's single boundary: connection trouble becomes
:class:`StoreUnavailableError` (transient), anything else a :class:`CheckpointError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from daemon.core.errors import CheckpointError
from daemon.core.lazy_log import LazyLogger
from daemon.store.rows import BackoffPolicy, StoreUnavailableError

log = LazyLogger(__name__)


def utcnow() -> datetime:
    """The default clock: aware UTC."""
    return datetime.now(UTC)


class SessionBoundary:
    """
    The engine, clock and backoff policy of a store, and its error-translating sessions.

    The store's concern mixins all derive from this class, so that each of them can open a
    session without knowing the others.

    Args:
        engine: A SQLAlchemy engine from :func:`daemon.store.database.make_engine`.
        backoff: When failed assets are retried and when they are dead-lettered.
        clock: Aware-UTC clock for bookkeeping times (lease expiry uses the database clock).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        backoff: BackoffPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        # BEGIN IMMEDIATE takes SQLite's write lock up front: a deferred transaction that turns
        # from reading to writing can fail as "locked" without waiting out the busy timeout.
        self._writer = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._dialect = engine.dialect.name
        self.backoff = backoff or BackoffPolicy()
        self._clock = clock

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for health checks and tests)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._dialect

    @contextmanager
    def _translated(self, operation: str) -> Iterator[None]:
        try:
            yield
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
            reason = _reason(exc)
            log.warning("store.unavailable", operation=operation, reason=reason)
            raise StoreUnavailableError(operation=operation, reason=reason) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise CheckpointError(f"state store {operation} failed: {_reason(exc)}") from exc

    @contextmanager
    def _read(self, operation: str) -> Iterator[Connection]:
        with self._translated(operation), self._engine.connect() as session:
            yield session

    @contextmanager
    def _write(self, operation: str) -> Iterator[Connection]:
        with self._translated(operation), self._writer.begin() as session:
            yield session


def _reason(exc: sa_exc.SQLAlchemyError) -> str:
    """The driver's first line, without the statement or its parameters."""
    orig = getattr(exc, "orig", None)
    source = orig if orig is not None else exc
    lines = str(source).strip().splitlines()
    return f"{type(source).__name__}: {lines[0] if lines else ''}".strip()


__all__ = ["SessionBoundary", "utcnow"]
