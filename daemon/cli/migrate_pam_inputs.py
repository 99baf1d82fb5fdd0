"""
The small inputs of ``damsync migrate-pam``: the strategy options, the code -> family and
collection attribute -> family maps (CSV, ``;`` or ``,``, a header row optional), the
attribute-code map (JSON), and where the migration's progress is kept (the state database of
``--config``, or ``--progress``).
Every problem is a :class:`~daemon.core.errors.ConfigError` naming the option and the line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.core.errors import ConfigError

if TYPE_CHECKING:
    from daemon.engine.pam_migrate import CollectionLink
    from daemon.engine.pam_strategy import PamOptions
    from daemon.pam.pam_progress import ProgressFile
    from daemon.pim.structure_records import StructureFamily
    from daemon.store import PamProgressStore


def _rows(path: Path, what: str) -> Iterable[tuple[int, list[str]]]:
    """Rows of a small ``;`` or ``,`` separated mapping file, a header row optional."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror}", key=what) from None
    with handle:
        head = handle.readline()
        handle.seek(0)
        delimiter = ";" if head.count(";") >= head.count(",") else ","
        for number, row in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
            if row and any(cell.strip() for cell in row):
                yield number, [cell.strip() for cell in row]


def pairs(path: Path, what: str, header: tuple[str, str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for number, row in _rows(path, what):
        if number == 1 and tuple(cell.lower() for cell in row[:2]) == header:
            continue
        if len(row) < 2 or not row[0] or not row[1]:
            raise ConfigError(f"line {number}: expected {header[0]} and {header[1]}", key=what)
        if pairs.setdefault(row[0], row[1]) != row[1]:
            raise ConfigError(f"line {number}: {row[0]} is given two values", key=what)
    return pairs


def attribute_map(path: Path | None) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``{"role": "code"}`` for every family, or ``{"family": {"role": "code"}}`` per family."""
    from daemon.engine.pam_strategy import ROLES

    if path is None:
        return {}, {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"not a readable JSON file ({exc})", key="--attribute-map") from None
    common: dict[str, str] = {}
    per_family: dict[str, dict[str, str]] = {}
    if not isinstance(document, dict):
        raise ConfigError("expected a JSON object", key="--attribute-map")
    for key, value in document.items():
        if isinstance(value, dict):
            per_family[key] = _roles(value, f"--attribute-map {key}", ROLES)
        elif key in ROLES and isinstance(value, str) and value:
            common[key] = value
        else:
            raise ConfigError(f"{key!r}: not one of {', '.join(ROLES)}", key="--attribute-map")
    return common, per_family


def _roles(value: Mapping[str, Any], key: str, roles: Iterable[str]) -> dict[str, str]:
    known = set(roles)
    bad = [role for role, code in value.items() if role not in known or not isinstance(code, str)]
    if bad:
        raise ConfigError(f"{', '.join(bad)}: not one of {', '.join(sorted(known))}", key=key)
    return {role: str(code) for role, code in value.items()}


def open_progress(params: Mapping[str, Any]) -> ProgressFile | PamProgressStore:
    """
    Where this migration's progress is kept; the caller closes it.

    ``--progress FILE``: that local SQLite file (a migration without a state database). Else
    the state database of ``--config`` (``[store] url``), its rows scoped by the target PIM's
    configured name (``--pim``), so two migrations into two PIMs never mix.

    Raises:
        ConfigError: neither is given, or no such PIM is configured.
        SchemaNotAtHeadError: the state database needs ``damsync db upgrade``.
    """
    if params.get("progress_path") is not None:
        from daemon.pam.pam_progress import ProgressFile

        return ProgressFile(params["progress_path"])
    if params.get("config_path") is None:
        raise ConfigError("the progress needs --config (its state database)", key="--progress")
    import os

    from daemon.settings.connections import pick_pim
    from daemon.settings.root import load_settings
    from daemon.store import PamProgressStore

    settings = load_settings(params["config_path"], dict(os.environ))
    pim, _ = pick_pim(settings.pim_connections(), params.get("pim_name"))
    store = PamProgressStore.from_url(settings.store.url, pim)
    try:
        store.check_at_head()
    except BaseException:
        store.close()
        raise
    return store


def progress_label(params: Mapping[str, Any]) -> str:
    """Where the progress is, for the summary (no URL: it may hold a password)."""
    if params.get("progress_path") is not None:
        return str(params["progress_path"])
    return "the state database of --config"


def pam_options(params: Mapping[str, Any]) -> PamOptions:
    """The strategy options of the command line."""
    from daemon.engine.pam_strategy import PamOptions

    common, per_family = attribute_map(params["attribute_map"])
    return PamOptions(
        strategy=params["strategy"],
        reference_type=params["reference_type"],
        with_variations=params["variations"],
        with_categories=params["categories"],
        with_end_of_use=params["end_of_use"],
        tag_options=params["tag_options"],
        category_options=params["category_options"],
        media_type=params["media_type"],
        attribute_codes=common,
        family_attribute_codes=per_family,
        skip_without_media=params["skip_without_media"],
    )


def modelled(path: Path | None) -> tuple[StructureFamily, ...]:
    from daemon.service.structure_options import desired_families
    from daemon.settings.structure_file import load_structure

    if path is None:
        raise ConfigError(
            "manual needs the modelled families (a structure file)", key="--structure"
        )
    return desired_families(load_structure(path))


def collection_links(path: Path | None) -> list[CollectionLink]:
    from daemon.engine.pam_migrate import CollectionLink

    if path is None:
        return []
    found = pairs(path, "--collection-map", ("attribute", "family"))
    return [CollectionLink(attribute, family) for attribute, family in found.items()]


__all__ = [
    "attribute_map",
    "collection_links",
    "modelled",
    "open_progress",
    "pairs",
    "progress_label",
    "pam_options",
]
