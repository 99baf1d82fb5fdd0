"""
Pure DAM -> PIM mapping: rules, family matching, codes, value conversion. No I/O.

The sync engine builds one :class:`Mapper` per source from its :class:`SourceMapping` and the
cached family structure, calls :meth:`Mapper.map_asset` per asset, uploads the
:class:`MediaRequest` binaries and calls :func:`fill_media`. ``damsync validate-config`` calls
:func:`validate_rules`. The rules are documented key by key in ``docs/mapping.md``.
"""

from __future__ import annotations

from daemon.mapping.codes import option_code, sanitise_code
from daemon.mapping.mapper import (
    AssetKey,
    ManagedScope,
    MappedAsset,
    Mapper,
    MappingFailed,
    MappingResult,
    MediaRequest,
    MissingOption,
    Unmatched,
    content_hash,
    fill_media,
)
from daemon.mapping.plan import ConfigProblem
from daemon.mapping.results import ValueKey
from daemon.mapping.rules import SourceMapping, load_mapping
from daemon.mapping.validate import validate_rules

__all__ = [
    "AssetKey",
    "ConfigProblem",
    "ManagedScope",
    "MappedAsset",
    "Mapper",
    "MappingFailed",
    "MappingResult",
    "MediaRequest",
    "MissingOption",
    "SourceMapping",
    "Unmatched",
    "ValueKey",
    "content_hash",
    "fill_media",
    "load_mapping",
    "option_code",
    "sanitise_code",
    "validate_rules",
]
