"""
Statement helpers of the store: dialect upserts, bounded ``IN`` lists, statements built once.

The batch path runs the same few statements for every batch. Building one (an upsert's
``excluded`` columns, an ``IN`` list of a hundred literals) costs more CPU than SQLite takes to
run it, so the hot ones are built once per dialect (:func:`functools.cache` on a builder taking
the dialect name) with bound parameters, and ``IN`` lists are a single expanding parameter
(:func:`ids_param`). SQLAlchemy statements are immutable: one object serves every thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import BindParameter, bindparam

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")

#: Bound on the ids of one ``IN (...)`` list (SQLite's variable limit, PG's plan size).
CHUNK = 500


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Yield ``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(dialect: str, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ``on_conflict_do_update`` on ``dialect`` (its name)."""
    # Imported here: a read-only command on SQLite never loads the PostgreSQL dialect (and a
    # PostgreSQL engine has loaded it already).
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def upsert(session: Connection, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ``on_conflict_do_update`` on the connection's dialect."""
    return dialect_insert(session.dialect.name, table)


def ids_param(name: str = "ids") -> BindParameter[Any]:
    """One parameter for a whole ``IN`` list: pass at most :data:`CHUNK` values to it."""
    return bindparam(name, expanding=True)


__all__ = ["CHUNK", "chunks", "dialect_insert", "ids_param", "upsert"]
