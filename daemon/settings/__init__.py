"""
The whole configuration: typed sections validated once at start, then passed down.

:func:`load_settings` reads the TOML file and the ``DAMSYNC_`` environment; the service turns the
result into each part's options (:mod:`daemon.service.wiring`).

The exports are lazy (PEP 562): ``from daemon.settings import Settings`` imports
:mod:`daemon.settings.root` (pydantic and every section's model) when the name is first asked
for, so that importing one light submodule (``daemon.settings.env_overrides``) does not build
the whole configuration's models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daemon.settings.root import Settings, SourceEntry, load_settings


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from daemon.settings import root

    value = getattr(root, name)
    globals()[name] = value
    return value


__all__ = ["Settings", "SourceEntry", "load_settings"]
