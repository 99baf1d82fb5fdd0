"""
Seeds of the PIM simulator: read a JSON or TOML file and load it into a fresh :class:`PimState`.

Seed data goes through the same validation as API writes, so a seed the API would refuse is
refused at start-up with a :class:`ConfigError` naming the seed entry.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daemon.core.errors import ConfigError
from daemon.sim.pim.attributes import attribute_rule_errors, check_attribute_format
from daemon.sim.pim.families import check_family_rules
from daemon.sim.pim.http_errors import ApiError
from daemon.sim.pim.products import MODELS, PRODUCTS, upsert_product
from daemon.sim.pim.state import (
    MEDIA_TYPES,
    OPTION_TYPES,
    Asset,
    Family,
    PimState,
    Token,
    User,
    new_attribute,
)
from daemon.sim.pim.validation import check_code, merge_values, validate_asset

DEMO_USER = User(client_id="demo_client", secret="demo_secret", username="demo", password="demo")
DEFAULT_LOCALES = ("en_US", "fr_FR")
DEFAULT_CHANNEL: dict[str, Any] = {
    "code": "ecommerce",
    "locales": ["en_US", "fr_FR"],
    "currencies": ["EUR"],
    "category_tree": "master",
}


def load_seed(path: Path) -> dict[str, Any]:
    """
    Read a seed file, JSON or TOML by extension.

    Args:
        path: the seed file (``.json`` or ``.toml``).

    Returns:
        The seed mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read seed file: {exc.strerror}", key="seed") from exc
    try:
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"seed file {path.name} is not valid: {exc}", key="seed") from exc
    if not isinstance(data, dict):
        raise ConfigError("a seed must be an object/table at the top level", key="seed")
    return data


def build_state(seed: Mapping[str, Any] | None, state: PimState) -> PimState:
    """
    Load a seed into an empty state; missing keys get the demo defaults.

    Args:
        seed: the seed mapping, or None for the defaults.
        state: an empty state (its clock stamps the seeded assets).

    Returns:
        The same state, filled.
    """
    seed = seed or {}
    users = seed.get("users")
    state.users = [DEMO_USER] if users is None else [_user(u, i) for i, u in enumerate(users)]
    for token in seed.get("app_tokens", []):
        state.access_tokens[str(token)] = Token(client_id="app", expires_at=None)
    channels = seed.get("channels")
    state.channels = (
        [dict(DEFAULT_CHANNEL)]
        if channels is None
        else [
            {
                "currencies": [],
                "category_tree": "master",
                "conversion_units": {},
                "labels": {},
                **dict(c),
            }
            for c in channels
        ]
    )
    state.locales = list(seed.get("locales", DEFAULT_LOCALES))
    state.locales += sorted(state.active_locales() - set(state.locales))
    for index, raw in enumerate(seed.get("asset_families", [])):
        _family(state, raw, f"asset_families[{index}]")
    for index, raw in enumerate(seed.get("product_attributes", [])):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("code"), str):
            raise ConfigError("needs a string code", key=f"product_attributes[{index}]")
        state.product_attributes[raw["code"]] = {
            "labels": {},
            "localizable": False,
            "scopable": False,
            **dict(raw),
        }
    for name, kind in (("products", PRODUCTS), ("product_models", MODELS)):
        for index, raw in enumerate(seed.get(name, [])):
            key = raw.get(kind.key) if isinstance(raw, Mapping) else None
            if not isinstance(key, str):
                raise ConfigError(f"needs a string {kind.key}", key=f"{name}[{index}]")
            _apply(f"{name}[{index}]", upsert_product, state, kind, key, dict(raw))
    return state


def _user(raw: Any, index: int) -> User:
    keys = ("client_id", "secret", "username", "password")
    if not isinstance(raw, Mapping) or not all(isinstance(raw.get(k), str) for k in keys):
        raise ConfigError(f"a user needs string {', '.join(keys)}", key=f"users[{index}]")
    return User(**{k: raw[k] for k in keys})


def _apply(where: str, action: Any, *args: Any) -> Any:
    try:
        return action(*args)
    except ApiError as exc:
        details = "; ".join(f"{e['property']}: {e['message']}" for e in exc.errors or [])
        raise ConfigError(f"{exc.message} {details}".strip(), key=where) from exc


def _family(state: PimState, raw: Any, where: str) -> None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("code"), str):
        raise ConfigError("an asset family needs a string code", key=where)
    code = raw["code"]
    _apply(where, check_code, code, "Asset family")
    family = Family(code=code, labels=dict(raw.get("labels", {})))
    for index, attribute in enumerate(raw.get("attributes", [])):
        _attribute(family, attribute, f"{where}.attributes[{index}]")
    structure = {
        k: raw[k]
        for k in (
            "attribute_as_main_media",
            "naming_convention",
            "product_link_rules",
            "transformations",
        )
        if k in raw
    }
    _apply(where, check_family_rules, family, structure)
    for key, value in structure.items():
        setattr(family, key, value)
    for attribute, options in dict(raw.get("options", {})).items():
        if attribute not in family.options:
            raise ConfigError(f'"{attribute}" is not an option attribute', key=f"{where}.options")
        for option in options:
            _apply(f"{where}.options.{attribute}", check_code, option["code"], "Option")
            family.options[attribute][option["code"]] = {
                "code": option["code"],
                "labels": dict(option.get("labels", {})),
            }
    state.families[code] = family
    now = state.clock()
    for index, asset in enumerate(raw.get("assets", [])):
        at = f"{where}.assets[{index}]"
        if not isinstance(asset, Mapping) or not isinstance(asset.get("code"), str):
            raise ConfigError("an asset needs a string code", key=at)
        _apply(at, check_code, asset["code"], "Asset")
        patch = _apply(at, validate_asset, state, family, dict(asset))
        values, _ = merge_values({}, patch)
        family.assets[asset["code"]] = Asset(asset["code"], values, now, now)


def _attribute(family: Family, raw: Any, where: str) -> None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("code"), str):
        raise ConfigError("an attribute needs a string code", key=where)
    body = dict(raw)
    _apply(where, check_code, body["code"], "Attribute")
    _apply(where, check_attribute_format, body, body.get("type"))
    errors = attribute_rule_errors(family, body["code"], body, None)
    if errors:
        raise ConfigError("; ".join(f"{e['property']}: {e['message']}" for e in errors), key=where)
    family.attributes[body["code"]] = new_attribute(body["code"], body)
    if body["type"] in OPTION_TYPES:
        family.options[body["code"]] = {}
    if body["type"] in MEDIA_TYPES and family.attribute_as_main_media is None:
        family.attribute_as_main_media = body["code"]
