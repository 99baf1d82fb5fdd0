"""
Statements of the batch path with one ``IN`` list, compiled once and run on the driver's cursor.

A statement with an expanding ``IN`` parameter is rendered again by SQLAlchemy at every
execution (its placeholders, one per id, and their names), which cost more CPU than SQLite takes
to run a batch's lookup. Here SQLAlchemy's compiler renders the statement once per driver; each
execution only joins a placeholder per id into the text (cached per list length), passes every
value through the bind processor SQLAlchemy would apply, and processes the result columns as
SQLAlchemy would (an SQLite timestamp text read back as an aware UTC datetime). It runs through
``Connection.exec_driver_sql``: the caller's transaction, the engine's events and error
translation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy.exc import StatementError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Dialect, Executable
    from sqlalchemy.sql import ClauseElement
    from sqlalchemy.sql.compiler import SQLCompiler

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class DriverIn:
    """
    One statement with one expanding ``IN`` parameter, compiled for one driver.

    Args:
        head: The SQL text before the list's placeholders.
        tail: The SQL text after them.
        names: The statement's parameters, in the driver's order (the list's among them).
        listed: The name of the list parameter.
        processors: The bind processor of each parameter (the list's: of one element).
        results: The result processor of each selected column (``()`` for no rows).
        positional: The driver takes a sequence (SQLite) or a mapping (psycopg).
    """

    head: str
    tail: str
    names: tuple[str, ...]
    listed: str
    processors: Mapping[str, _Processor]
    results: tuple[_Processor, ...]
    positional: bool
    _texts: dict[int, str] = field(default_factory=dict, compare=False)

    def run(self, session: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """
        Execute with ``params`` (the list under :attr:`listed`, at least one value); returns the
        rows, each value processed as SQLAlchemy would, or ``[]`` for a statement without rows.
        """
        values = list(params[self.listed])
        try:
            driver_params = self._params(params, values)
        except Exception as exc:
            raise StatementError(str(exc), self.head, None, exc) from exc
        result = session.exec_driver_sql(self._text(len(values)), driver_params)
        if not self.results:
            return []
        rows = result.fetchall()
        convert = [(i, p) for i, p in enumerate(self.results) if p is not None]
        if not convert:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            cells = list(row)
            for i, processor in convert:
                cells[i] = processor(cells[i])
            out.append(tuple(cells))
        return out

    def _text(self, n: int) -> str:
        text = self._texts.get(n)
        if text is None:
            if self.positional:
                marks = ", ".join(["?"] * n)
            else:
                marks = ", ".join(f"%({self.listed}__{i})s" for i in range(n))
            # Two threads may render it at once: the same text, either one is kept.
            text = self._texts[n] = f"{self.head}{marks}{self.tail}"
        return text

    def _params(self, params: Mapping[str, Any], values: list[Any]) -> Any:
        one = self.processors[self.listed]
        if one is not None:
            values = [one(v) for v in values]
        if self.positional:
            out: list[Any] = []
            for name in self.names:
                if name == self.listed:
                    out.extend(values)
                else:
                    processor = self.processors[name]
                    out.append(params[name] if processor is None else processor(params[name]))
            return tuple(out)
        mapping = {f"{self.listed}__{i}": v for i, v in enumerate(values)}
        for name in self.names:
            if name != self.listed:
                processor = self.processors[name]
                mapping[name] = params[name] if processor is None else processor(params[name])
        return mapping


_compiled: dict[tuple[str, ...], DriverIn] = {}


def driver_in(
    session: Connection, name: str, build: Callable[[], Executable], listed: str = "ids"
) -> DriverIn:
    """
    The statement ``build()`` (with the expanding parameter ``listed``) compiled for the
    session's driver, once per process; ``name`` keys the cache with the driver.
    """
    dialect = session.dialect
    key = (name, dialect.name, dialect.driver, str(dialect.paramstyle))
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = compile_in(build(), dialect, listed)
    return found


def compile_in(statement: Executable, dialect: Dialect, listed: str = "ids") -> DriverIn:
    """
    Compile ``statement`` for ``dialect``; its parameters are bound by name, ``listed`` expanding.

    Raises:
        ValueError: The statement has no ``listed`` list, or a parameter with a fixed value.
    """
    compiled = cast("SQLCompiler", cast("ClauseElement", statement).compile(dialect=dialect))
    text = str(compiled)
    marker = f"__[POSTCOMPILE_{listed}]"
    if text.count(marker) != 1:
        raise ValueError(f"the statement has no single expanding parameter {listed!r}")
    head, tail = text.split(marker)
    positional = bool(dialect.positional)
    named = compiled.positiontup if positional else compiled.bind_names.values()
    names = tuple(dict.fromkeys(named or ()))
    binds = {compiled.bind_names[b]: b for b in compiled.bind_names}
    processors: dict[str, _Processor] = {}
    for bound in names:
        bind = binds[bound]
        if bind.value is not None and not bind.expanding:
            raise ValueError(f"parameter {bound!r} has a fixed value: bind it by name")
        processors[bound] = _bind_processor(bind.type, dialect)
    if listed not in processors:
        raise ValueError(f"the statement has no parameter {listed!r}")
    columns = getattr(statement, "selected_columns", None)
    results = tuple(_result_processor(c.type, dialect) for c in columns or ())
    return DriverIn(head, tail, names, listed, processors, results, positional)


def _bind_processor(type_: Any, dialect: Dialect) -> _Processor:
    processor: _Processor = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _result_processor(type_: Any, dialect: Dialect) -> _Processor:
    processor: _Processor = type_.dialect_impl(dialect).result_processor(dialect, None)
    return processor


__all__ = ["DriverIn", "compile_in", "driver_in"]
