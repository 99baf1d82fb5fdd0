"""damsync: keeps the Akeneo PIM Asset Manager in sync with a DAM."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    __version__: str


def __getattr__(name: str) -> str:
    """
    ``__version__``, read from the installed distribution on first use.

    Lazy (PEP 562) because :mod:`importlib.metadata` costs tens of milliseconds at start-up
    and only ``damsync --version`` and the metrics' build info need it.
    """
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("damsync")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found


__all__ = ["__version__"]
