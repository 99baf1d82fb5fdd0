"""
The whole configuration: typed sections validated once at start, then passed down.

:func:`load_settings` reads the TOML file and the ``DAMSYNC_`` environment; the service turns the
result into each part's options (:mod:`daemon.service.wiring`).
"""

from daemon.settings.root import Settings, SourceEntry, load_settings

__all__ = ["Settings", "SourceEntry", "load_settings"]
