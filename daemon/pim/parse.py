"""
Turn Akeneo JSON documents into typed records, defensively.

Every reader takes the request and response it came from so that a document of the wrong shape
becomes a :class:`PimProtocolError` naming the endpoint and status, never a ``KeyError`` or
``TypeError``. Optional properties of the wrong type are treated as absent only where the
reference says the PIM itself is inconsistent (``max_characters`` as a string); everything the
sync relies on (codes, types, values) is checked strictly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx

from daemon.core.records import AssetAttribute, Channel, PimValue
from daemon.pim.models import (
    AssetFamilyInfo,
    AttributeOption,
    Product,
    ProductAttribute,
    ProductKind,
    ProductValue,
    RemoteAsset,
)
from daemon.pim.responses import expect, protocol_error
from daemon.upstream.policy import RequestSpec

_V = TypeVar("_V", PimValue, ProductValue)


class Reader:
    """Shape checks bound to one answer, so every error names its endpoint and status."""

    def __init__(self, spec: RequestSpec, response: httpx.Response) -> None:
        self.spec = spec
        self.response = response

    def fail(self, message: str) -> Exception:
        return protocol_error(self.spec, self.response, message)

    def obj(self, value: Any, what: str) -> dict[str, Any]:
        return expect(value, dict, self.spec, self.response, what)

    def array(self, value: Any, what: str) -> list[Any]:
        return expect(value, list, self.spec, self.response, what)

    def code(self, item: Mapping[str, Any], what: str) -> str:
        code = item.get("code")
        if not isinstance(code, str) or not code:
            raise self.fail(f"{what} without a code")
        return code

    def kind(self, item: Mapping[str, Any], what: str) -> str:
        kind = item.get("type")
        if not isinstance(kind, str) or not kind:
            raise self.fail(f"{what} without a type")
        return kind

    def labels(self, item: Mapping[str, Any], what: str) -> dict[str, str]:
        raw = item.get("labels")
        if raw is None or raw == []:  # PHP encodes an empty map as [] now and then
            return {}
        labels = self.obj(raw, f"{what}.labels")
        return {str(k): str(v) for k, v in labels.items() if v is not None}

    def items(self, document: Any, what: str) -> list[dict[str, Any]]:
        """Items of a HAL page: ``_embedded.items`` (server) or ``_embedded._items`` (docs)."""
        page = self.obj(document, what)
        embedded = self.obj(page.get("_embedded"), f"{what}._embedded")
        raw = embedded["items"] if "items" in embedded else embedded.get("_items")
        found = self.array(raw, f"{what}._embedded.items")
        return [self.obj(item, f"{what} item") for item in found]

    def next_href(self, document: Mapping[str, Any]) -> str | None:
        links = document.get("_links")
        if not isinstance(links, dict):
            return None
        nxt = links.get("next")
        if not isinstance(nxt, dict):
            return None
        href = nxt.get("href")
        return href if isinstance(href, str) and href else None


def _opt_str(value: Any) -> str | None:
    return None if value is None or isinstance(value, bool) else str(value)


def _opt_int(value: Any) -> int | None:
    # The reference's own example sends max_characters as the string "50".
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def asset_family_info(r: Reader, item: Mapping[str, Any]) -> AssetFamilyInfo:
    """A listed or fetched asset family."""
    nc = item.get("naming_convention")
    rules = item.get("product_link_rules")
    transformations = item.get("transformations")
    return AssetFamilyInfo(
        code=r.code(item, "asset family"),
        labels=r.labels(item, "asset family"),
        attribute_as_main_media=_opt_str(item.get("attribute_as_main_media")),
        naming_convention=nc if isinstance(nc, dict) else {},
        product_link_rules=tuple(x for x in rules if isinstance(x, dict))
        if isinstance(rules, list)
        else (),
        transformations=tuple(x for x in transformations if isinstance(x, dict))
        if isinstance(transformations, list)
        else (),
    )


def asset_attribute(r: Reader, item: Mapping[str, Any]) -> AssetAttribute:
    """One asset family attribute."""
    code = r.code(item, "attribute")
    kind = r.kind(item, f"attribute {code!r}")
    extensions = item.get("allowed_extensions")
    return AssetAttribute(
        code=code,
        type=kind,
        value_per_locale=item.get("value_per_locale") is True,
        value_per_channel=item.get("value_per_channel") is True,
        is_required_for_completeness=item.get("is_required_for_completeness") is True,
        labels=r.labels(item, f"attribute {code!r}"),
        max_characters=_opt_int(item.get("max_characters")),
        is_textarea=item.get("is_textarea") is True,
        validation_rule=_opt_str(item.get("validation_rule")),
        validation_regexp=_opt_str(item.get("validation_regexp")),
        decimals_allowed=item.get("decimals_allowed") is True,
        min_value=_opt_str(item.get("min_value")),
        max_value=_opt_str(item.get("max_value")),
        media_type=_opt_str(item.get("media_type")),
        prefix=_opt_str(item.get("prefix")),
        suffix=_opt_str(item.get("suffix")),
        allowed_extensions=tuple(str(x) for x in extensions)
        if isinstance(extensions, list)
        else (),
        max_file_size=_opt_str(item.get("max_file_size")),
        reference_entity=_opt_str(item.get("reference_entity")),
    )


def attribute_option(r: Reader, item: Mapping[str, Any]) -> AttributeOption:
    """One attribute option."""
    return AttributeOption(code=r.code(item, "option"), labels=r.labels(item, "option"))


def _datetime(r: Reader, value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise r.fail(f"{what}: expected an ISO-8601 string")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise r.fail(f"{what}: unreadable date {value[:40]!r}") from exc
    if when.tzinfo is None:
        raise r.fail(f"{what}: date without a time zone {value[:40]!r}")
    return when


def _values(
    r: Reader, raw: Any, what: str, make: Callable[[Mapping[str, Any]], _V]
) -> dict[str, tuple[_V, ...]]:
    """
    A document's ``values`` map, attribute by attribute; ``make`` reads one entry (it has ``data``).

    Raises:
        PimProtocolError: the map, a list of entries or an entry of the wrong shape, or an entry
            without ``data``; ``what`` names the asset or product.
    """
    if raw is None or raw == []:  # PHP encodes an empty map as [] now and then
        raw = {}
    values: dict[str, tuple[_V, ...]] = {}
    for attr, entries in r.obj(raw, f"{what} values").items():
        parsed = []
        for entry in r.array(entries, f"{what} value {attr!r}"):
            value = r.obj(entry, f"{what} value {attr!r}")
            if "data" not in value:
                raise r.fail(f"{what} value {attr!r} without data")
            parsed.append(make(value))
        values[str(attr)] = tuple(parsed)
    return values


def _asset_value(value: Mapping[str, Any]) -> PimValue:
    return PimValue(
        data=value["data"],
        locale=_opt_str(value.get("locale")),
        channel=_opt_str(value.get("channel")),
    )


def _product_value(value: Mapping[str, Any]) -> ProductValue:
    return ProductValue(
        data=value["data"],
        locale=_opt_str(value.get("locale")),
        scope=_opt_str(value.get("scope")),
    )


def remote_asset(r: Reader, family: str, item: Mapping[str, Any]) -> RemoteAsset:
    """One asset; values keep ``locale``, ``channel`` and ``data`` (links are dropped)."""
    code = r.code(item, "asset")
    return RemoteAsset(
        family=family,
        code=code,
        values=_values(r, item.get("values"), f"asset {code!r}", _asset_value),
        created=_datetime(r, item.get("created"), f"asset {code!r} created"),
        updated=_datetime(r, item.get("updated"), f"asset {code!r} updated"),
    )


def channel(r: Reader, item: Mapping[str, Any]) -> Channel:
    """One channel with its locales."""
    code = r.code(item, "channel")
    locales = r.array(item.get("locales", []), f"channel {code!r} locales")
    return Channel(code=code, locales=tuple(str(x) for x in locales))


def product_attribute(r: Reader, item: Mapping[str, Any]) -> ProductAttribute:
    """One product attribute."""
    code = r.code(item, "product attribute")
    kind = r.kind(item, f"product attribute {code!r}")
    return ProductAttribute(
        code=code,
        type=kind,
        localizable=item.get("localizable") is True,
        scopable=item.get("scopable") is True,
        reference_data_name=_opt_str(item.get("reference_data_name")),
        labels=r.labels(item, f"product attribute {code!r}"),
    )


def _product_date(r: Reader, value: Any, what: str) -> datetime | None:
    # Products answer ISO 8601 with an offset (``2016-06-14T13:12:50+02:00``).
    return _datetime(r, value, what)


def product(r: Reader, kind: ProductKind, item: Mapping[str, Any]) -> Product:
    """
    One product or product model of a list; values keep ``locale``, ``scope`` and ``data``.

    Raises:
        PimProtocolError: no identifier/uuid (product) or code (model), or values of the
            wrong shape.
    """
    identifier = uuid = None
    if kind == "product_model":
        key = r.code(item, "product model")
        what = f"product model {key!r}"
    else:
        identifier = _opt_str(item.get("identifier")) or None
        uuid = _opt_str(item.get("uuid")) or None
        if identifier is None and uuid is None:
            raise r.fail("product without an identifier or uuid")
        key = identifier or uuid or ""
        what = f"product {key!r}"
    return Product(
        kind=kind,
        key=key,
        updated=_product_date(r, item.get("updated"), f"{what} updated"),
        values=_values(r, item.get("values"), what, _product_value),
        uuid=uuid,
        identifier=identifier,
    )


def naming_source(convention: Mapping[str, Any]) -> tuple[str, str | None, str | None] | None:
    """The media value a naming convention reads (its ``source``), ``None`` for the code."""
    source = convention.get("source") if convention.get("pattern") else None
    if not isinstance(source, Mapping):
        return None
    prop, locale, channel = source.get("property"), source.get("locale"), source.get("channel")
    if not isinstance(prop, str) or prop in ("", "code"):
        return None
    return (
        prop,
        locale if isinstance(locale, str) else None,
        channel if isinstance(channel, str) else None,
    )


__all__ = [
    "Reader",
    "asset_attribute",
    "asset_family_info",
    "attribute_option",
    "channel",
    "naming_source",
    "product",
    "product_attribute",
    "remote_asset",
]
