"""DAM sources: the :class:`DamSource` Protocol, its factory and the configurable sources."""

from __future__ import annotations

from daemon.sources.base import DamSource, build_source
from daemon.sources.config import SourceSettings, load_source_settings

__all__ = ["DamSource", "SourceSettings", "build_source", "load_source_settings"]
