"""
The environment over the file: ``DAMSYNC_<SECTION>__<KEY>`` variables as a tree merged over TOML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.core.config_model import ENV_PREFIX


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``DAMSYNC_PIM__HTTP__MAX_IN_FLIGHT=8`` becomes ``{"pim": {"http": {...: "8"}}}``."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return tree


def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


__all__ = ["env_overrides", "merge"]
