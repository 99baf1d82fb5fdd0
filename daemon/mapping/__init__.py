"""
Pure DAM -> PIM mapping: rules, family matching, codes, value conversion. No I/O.

The sync engine builds one :class:`Mapper` per source from its :class:`SourceMapping` and the
cached family structure, calls :meth:`Mapper.map_asset` per asset, uploads the
:class:`MediaRequest` binaries and calls :func:`fill_media`. ``damsync validate-config`` calls
:func:`validate_rules`, and :func:`mapping_warnings` (which never fail it). The rules are
documented key by key in ``docs/mapping.md``.

The facade is partly lazy (PEP 562): ``from daemon.mapping import Mapper`` imports the mapper
when the name is first asked for, so that the settings, which need only the rules
(:mod:`daemon.mapping.rules`), do not load the mapper and its converters at every start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daemon.mapping.codes import option_code, sanitise_code
from daemon.mapping.results import ValueKey
from daemon.mapping.rules import SourceMapping, load_mapping

if TYPE_CHECKING:
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
    from daemon.mapping.validate import mapping_warnings, validate_rules


def __getattr__(name: str) -> Any:
    """Import a name of the mapper, the plan or the validation on first use, then keep it."""
    value: Any
    if name == "ConfigProblem":
        from daemon.mapping.plan import ConfigProblem

        value = ConfigProblem
    elif name in ("validate_rules", "mapping_warnings"):
        from daemon.mapping import validate

        value = getattr(validate, name)
    elif name in __all__:
        # Every other lazy name is the mapper's (the eager ones are globals and never get here):
        # its own ``__all__`` lists them, not a copy here.
        from daemon.mapping import mapper

        value = getattr(mapper, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
    "mapping_warnings",
    "option_code",
    "sanitise_code",
    "validate_rules",
]
