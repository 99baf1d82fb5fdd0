"""
Executemany statements of the batch path, compiled once and run on the driver's cursor.

Through SQLAlchemy, every row of an executemany costs a parameter dictionary built and checked
by the compiled statement and one bind processor call per value (tens of microseconds a row),
more than SQLite takes to write the row. The hot upserts of every batch (key claims, intents,
written assets) are compiled once per dialect here: the SQL text and its parameter order come
from SQLAlchemy's own compiler, each value goes through the same bind processor SQLAlchemy
would apply (an aware datetime checked and stored as UTC, a boolean as SQLite's integer), and
the rows go to ``Connection.exec_driver_sql``: the same transaction, events and error
translation, one ``cursor.executemany`` call.

A value that is the same for every row of a call (the batch's clock reading, the source) is
passed once and processed once (``shared``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy.exc import StatementError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Dialect, Executable
    from sqlalchemy.sql import ClauseElement
    from sqlalchemy.sql.compiler import SQLCompiler

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class DriverMany:
    """
    One executemany statement compiled for one dialect (:func:`compile_many`).

    Args:
        sql: The statement as the driver takes it.
        names: Each parameter of the statement, in the driver's order.
        columns: The names of a row's values (:meth:`run`'s tuples), in order.
        processors: The bind processor of each parameter, ``None`` for none.
        constants: The processed values the statement itself carries (``SET action = NULL``).
        positional: The driver takes a sequence per row (SQLite) or a mapping (psycopg).
    """

    sql: str
    names: tuple[str, ...]
    columns: tuple[str, ...]
    processors: Mapping[str, _Processor]
    constants: Mapping[str, Any]
    positional: bool

    def run(
        self,
        session: Connection,
        rows: Sequence[Sequence[Any]],
        shared: Mapping[str, Any] | None = None,
    ) -> None:
        """
        Execute for every row inside the caller's transaction.

        Args:
            session: The connection (its transaction is the caller's).
            rows: One tuple per row, its values in :attr:`columns` order; a column given in
                ``shared`` has no place in the tuples.
            shared: Values every row takes, by column name.
        """
        if not rows:
            return
        try:
            params = self._params(rows, shared or {})
        except Exception as exc:
            # As SQLAlchemy reports a value its bind processor refuses (a naive datetime).
            raise StatementError(str(exc), self.sql, None, exc) from exc
        session.exec_driver_sql(self.sql, params)

    def _params(self, rows: Sequence[Sequence[Any]], shared: Mapping[str, Any]) -> list[Any]:
        """The driver's parameters of every row, each value through its bind processor."""
        fixed = dict(self.constants)
        for name, value in shared.items():
            processor = self.processors[name]
            fixed[name] = value if processor is None else processor(value)
        varying = [n for n in self.columns if n not in fixed]
        slot = {name: i for i, name in enumerate(varying)}
        convert = [(i, p) for i, p in ((slot[n], self.processors[n]) for n in varying) if p]
        params: list[Any]
        if self.positional:
            # Each parameter picked from the row's values followed by the fixed ones.
            tail = [fixed[n] for n in self.names if n not in slot]
            at = {n: len(varying) + i for i, n in enumerate(n for n in self.names if n not in slot)}
            places = [slot[n] if n in slot else at[n] for n in self.names]
            pick = itemgetter(*places) if len(places) > 1 else lambda v: (v[places[0]],)
            params = []
            for row in rows:
                values = [*row, *tail]
                for i, processor in convert:
                    values[i] = processor(values[i])
                params.append(pick(values))
        else:
            params = []
            for row in rows:
                values = list(row)
                for i, processor in convert:
                    values[i] = processor(values[i])
                mapping = dict(zip(varying, values, strict=True))
                mapping.update(fixed)
                params.append(mapping)
        return params


_compiled: dict[tuple[str, ...], DriverMany] = {}


def driver_many(
    session: Connection, name: str, build: Callable[[str], Executable], columns: Sequence[str]
) -> DriverMany:
    """
    The statement ``build(dialect name)`` compiled for the session's driver, once per process.

    Args:
        session: The connection it runs on.
        name: The statement's name (the cache key, with the driver's).
        build: Builds the statement for a dialect name.
        columns: The columns of a row.
    """
    dialect = session.dialect
    key = (name, dialect.name, dialect.driver, str(dialect.paramstyle), *columns)
    found = _compiled.get(key)
    if found is None:
        # Two threads may compile it at once: both give the same object, either one is kept.
        found = _compiled[key] = compile_many(build(dialect.name), dialect, columns)
    return found


def compile_many(statement: Executable, dialect: Dialect, columns: Sequence[str]) -> DriverMany:
    """
    Compile ``statement`` (an INSERT of ``columns``, with or without ON CONFLICT) for ``dialect``.

    Raises:
        ValueError: The statement takes a parameter that is neither a column nor a constant.
    """
    compiled = cast(
        "SQLCompiler",
        cast("ClauseElement", statement).compile(dialect=dialect, column_keys=list(columns)),
    )
    positional = bool(dialect.positional)
    named = compiled.positiontup if positional else compiled.bind_names.values()
    names = tuple(dict.fromkeys(named or ()))
    binds = {compiled.bind_names[b]: b for b in compiled.bind_names}
    processors: dict[str, _Processor] = {}
    constants: dict[str, Any] = {}
    for name in names:
        bind = binds[name]
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        processors[name] = processor
        if name in columns:
            continue
        if bind.callable is not None or bind.required:
            raise ValueError(f"parameter {name!r} of the statement is not a column given")
        constants[name] = bind.value if processor is None else processor(bind.value)
    missing = [c for c in columns if c not in processors]
    if missing:
        raise ValueError(f"columns {missing} are not parameters of the statement")
    return DriverMany(
        sql=str(compiled),
        names=names,
        columns=tuple(columns),
        processors=processors,
        constants=constants,
        positional=positional,
    )


__all__ = ["DriverMany", "compile_many", "driver_many"]
