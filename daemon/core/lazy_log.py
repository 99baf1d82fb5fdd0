"""
:class:`LazyLogger`: a module's structlog logger, imported at its first log line.

structlog (with rich, which its console renderer uses) costs tens of milliseconds to import; a
module that logs only now and then (the store logs a schema upgrade, an unavailable database)
would make every command that imports it pay that cost at start-up, even one that never logs.
``log = LazyLogger(__name__)`` in place of ``log = structlog.get_logger(__name__)`` defers the
import to the first ``log.info(...)``; from then on each call goes to the same logger that
``structlog.get_logger(__name__)`` returns, so configuration, bound context vars and
``structlog.testing.capture_logs`` behave exactly as before.
"""

from __future__ import annotations

from typing import Any


class LazyLogger:
    """
    A structlog logger for ``name``, created when it first logs.

    Args:
        name: The logger's name (the module's ``__name__``).
    """

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def _target(self) -> Any:
        if self._logger is None:
            import structlog

            self._logger = structlog.get_logger(self._name)
        return self._logger

    def debug(self, event: str, **fields: Any) -> None:
        """Log ``event`` at debug level with ``fields``."""
        self._target().debug(event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log ``event`` at info level with ``fields``."""
        self._target().info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log ``event`` at warning level with ``fields``."""
        self._target().warning(event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log ``event`` at error level with ``fields``."""
        self._target().error(event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        """Log ``event`` at error level with the exception being handled and ``fields``."""
        self._target().exception(event, **fields)

    def __repr__(self) -> str:
        return f"LazyLogger({self._name!r})"


__all__ = ["LazyLogger"]
