"""DAM sources: the :class:`DamSource` Protocol, its factory and the configurable sources."""

from __future__ import annotations

from daemon.settings.dam_sources import SourceSettings, load_source_settings
from daemon.sources.base import DamSource, build_source

__all__ = ["DamSource", "SourceSettings", "build_source", "load_source_settings"]
