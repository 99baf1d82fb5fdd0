"""
Product link rules of an asset family, run by the PIM simulator after an asset is created.

From the reference: each rule selects products and product models (``product_selections``:
``family``, ``categories``, ``enabled``, ``parent``, the identifier attribute, text and
select attributes; operators ``=``/``EQUALS``, ``IN``, ``NOT IN``; ``{{placeholder}}`` values
taken from the asset's naming-convention groups or attributes) and puts the asset into their
asset-collection attributes (``assign_assets_to``: ``attribute``, ``mode`` ``add`` or
``replace``, ``locale``/``channel``). Updating an asset does not re-link it.

Simulator choices: rules run synchronously right after the creating request's write (the PIM
runs them asynchronously); the identifier field matches a product's identifier and a product
model's code; ``add`` appends a code not already there, ``replace`` makes the collection just
this asset. Every run is recorded in ``PimState.link_runs`` (``GET /_sim/link-runs``), like the
PIM's job report: what matched, what changed, and why a rule did nothing.
"""

from __future__ import annotations

import re
from typing import Any

from daemon.sim.pim.products import merge_values, write_product
from daemon.sim.pim.state import Asset, Family, PimState, Product

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class RuleSkipped(Exception):
    """A rule cannot run for this asset (the text says why)."""


def run_link_rules(state: PimState, family: Family, asset: Asset) -> None:
    """
    Run the family's product link rules for a newly created asset.

    Args:
        state: the PIM (products, product models, product attributes).
        family: the asset's family.
        asset: the asset just created.
    """
    for index, rule in enumerate(family.product_link_rules):
        report: dict[str, Any] = {"family": family.code, "asset": asset.code, "rule": index}
        try:
            for assignment in rule["assign_assets_to"]:
                _check_target(state, family, assignment)
            selections = [_resolve(s, asset) for s in rule["product_selections"]]
            matched = [
                (kind, p)
                for kind, store in (
                    ("products", state.products),
                    ("product_models", state.product_models),
                )
                for p in store.values()
                if all(_selects(state, kind, p, s) for s in selections)
            ]
            report["matched"] = {
                "products": sorted(p.key for kind, p in matched if kind == "products"),
                "product_models": sorted(p.key for kind, p in matched if kind == "product_models"),
            }
            report["updated"] = sorted(
                {
                    p.key
                    for assignment in rule["assign_assets_to"]
                    for p in _assign(state, family, asset, assignment, [p for _, p in matched])
                }
            )
            report["status"] = "done"
        except RuleSkipped as exc:
            report.update(status="skipped", reason=str(exc))
        state.link_runs.append(report)


def _resolve(selection: dict[str, Any], asset: Asset) -> dict[str, Any]:
    value = selection.get("value")
    if isinstance(value, list):
        resolved: Any = [_fill(str(v), asset) for v in value]
        flat: list[str] = []
        for item in resolved:
            flat.extend(item if isinstance(item, list) else [item])
        return {**selection, "value": flat}
    if isinstance(value, str):
        return {**selection, "value": _fill(value, asset)}
    return selection


def _fill(text: str, asset: Asset) -> Any:
    whole = PLACEHOLDER.fullmatch(text)
    if whole is not None:
        return _asset_value(asset, whole.group(1))
    return PLACEHOLDER.sub(lambda m: str(_asset_value(asset, m.group(1))), text)


def _asset_value(asset: Asset, name: str) -> Any:
    if name == "code":
        return asset.code
    for item in asset.values.get(name, []):
        if item["locale"] is None and item["channel"] is None:
            data = item["data"]
            return data if isinstance(data, list) else str(data)
    raise RuleSkipped(f'the placeholder "{{{{{name}}}}}" has no value on the asset.')


def _selects(state: PimState, kind: str, product: Product, selection: dict[str, Any]) -> bool:
    field, operator, value = selection["field"], selection["operator"], selection["value"]
    current = _current(state, kind, product, selection)
    if current is None:
        return False
    wanted = {_text(v) for v in (value if isinstance(value, list) else [value])}
    hit = bool(current & wanted)
    if operator in ("=", "EQUALS", "IN"):
        return hit
    if operator == "NOT IN":
        return not hit
    raise RuleSkipped(f'the operator "{operator}" is not supported for "{field}".')


def _current(
    state: PimState, kind: str, product: Product, selection: dict[str, Any]
) -> set[str] | None:
    field = selection["field"]
    body = product.body
    if field in ("family", "parent"):
        return set() if body.get(field) is None else {str(body[field])}
    if field == "categories":
        return set(body.get("categories", []))
    if field == "enabled":
        return None if kind == "product_models" else {_text(body.get("enabled", True))}
    definition = state.product_attributes.get(field)
    if definition is None:
        raise RuleSkipped(f'the field "{field}" is not a product property or attribute.')
    if definition.get("type") == "pim_catalog_identifier":
        return {product.key}
    locale, scope = selection.get("locale"), selection.get("channel")
    for item in body.get("values", {}).get(field, []):
        if item["locale"] == locale and item["scope"] == scope:
            data = item["data"]
            return {_text(d) for d in data} if isinstance(data, list) else {_text(data)}
    return set()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_target(state: PimState, family: Family, assignment: dict[str, Any]) -> None:
    attribute = assignment["attribute"]
    definition = state.product_attributes.get(attribute, {})
    if (
        definition.get("type") != "pim_catalog_asset_collection"
        or definition.get("reference_data_name") != family.code
    ):
        raise RuleSkipped(
            f'"{attribute}" is not an asset collection attribute of the "{family.code}" '
            "asset family."
        )


def _assign(
    state: PimState,
    family: Family,
    asset: Asset,
    assignment: dict[str, Any],
    products: list[Product],
) -> list[Product]:
    attribute = assignment["attribute"]
    locale, scope = assignment.get("locale"), assignment.get("channel")
    changed: list[Product] = []
    for product in products:
        values = product.body.get("values", {})
        current = next(
            (
                list(v["data"])
                for v in values.get(attribute, [])
                if v["locale"] == locale and v["scope"] == scope
            ),
            [],
        )
        if assignment["mode"] == "replace":
            codes = [asset.code]
        else:
            codes = current if asset.code in current else [*current, asset.code]
        patch = {attribute: [{"locale": locale, "scope": scope, "data": codes}]}
        body = {**product.body, "values": merge_values(values, patch)}
        if write_product(state, product, body):
            changed.append(product)
    return changed
