"""
Would a family's product link rules find a product for each sampled asset?

The PIM runs a family's ``product_link_rules`` when an asset is created (``akeneo-api.md``
§2): each rule's ``product_selections`` (``family``, ``categories``, ``enabled``, ``parent``,
the identifier attribute, text and select attributes; ``=``/``EQUALS``, ``IN``, ``NOT IN``)
are filled from ``{{placeholder}}`` values (the naming convention's groups, the asset's
attributes, ``code``) and select the products and product models the asset goes into.

Here the placeholders are filled for each asset, the selections grouped into as few searches
as possible and the PIM searched: ``family``/``categories``/``enabled``/``parent`` are sent as
Akeneo ``search`` filters, identifier values of many assets go together in ``identifier IN``
reads of at most 100 values, and attribute selections are checked on the values read (the
search API has no ``IN`` for text attributes). A selection without an identifier is read by one
search per distinct filter, at most :data:`SCAN_LIMIT` records. Never one request per asset.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from daemon.pim.models import Product, ProductAttribute, ProductKind

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
#: Selection fields that are product properties, searched by the PIM.
PROPERTY_FIELDS = ("family", "categories", "enabled", "parent")
#: Operators meaning "one of these values" (the docs use both ``=`` and ``EQUALS``).
MATCH_OPERATORS = ("=", "EQUALS", "IN")
OPERATORS = (*MATCH_OPERATORS, "NOT IN")
#: Values per ``identifier IN`` read (Akeneo's page size).
MAX_IN = 100
#: Records a search without identifiers may read before its assets are reported unchecked.
SCAN_LIMIT = 1000
KINDS: tuple[ProductKind, ...] = ("product", "product_model")

Search = Mapping[str, Sequence[Mapping[str, object]]]


class ProductFinder(Protocol):
    """The PIM reads the check needs (``daemon.pim.PimClient`` has them)."""

    def iter_products(
        self,
        search: Search,
        *,
        kind: ProductKind = "product",
        attributes: Sequence[str] | None = None,
    ) -> AsyncIterator[Product]: ...


class RuleSkipped(Exception):
    """A rule cannot run for an asset, or cannot be checked (the text says why)."""


@dataclass(frozen=True, slots=True)
class ProductFields:
    """
    The product attributes the rules' selections name.

    Args:
        identifier: The code of the identifier attribute (``sku``), if a selection names it.
        attributes: The other product attributes selections name.
    """

    identifier: str | None = None
    attributes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, found: Sequence[ProductAttribute]) -> ProductFields:
        identifier = next((a.code for a in found if a.type == "pim_catalog_identifier"), None)
        return cls(identifier, frozenset(a.code for a in found if a.code != identifier))


@dataclass(frozen=True, slots=True)
class Selection:
    """One product selection with its placeholders filled."""

    field: str
    operator: str
    values: tuple[str, ...]
    locale: str | None = None
    channel: str | None = None

    def show(self) -> str:
        shown = self.values[0] if len(self.values) == 1 else list(self.values)
        return f"{self.field} {self.operator} {json.dumps(shown, ensure_ascii=False)}"


def selection_fields(rules: Sequence[Mapping[str, Any]]) -> set[str]:
    """Every attribute field (not a product property) the rules select on."""
    return {
        str(s.get("field"))
        for rule in rules
        for s in _list(rule.get("product_selections"))
        if isinstance(s, Mapping) and s.get("field") not in PROPERTY_FIELDS
    }


def assignment_targets(rule: Mapping[str, Any]) -> list[str]:
    """The product attributes a rule's ``assign_assets_to`` puts the asset into."""
    return [
        str(a.get("attribute"))
        for a in _list(rule.get("assign_assets_to"))
        if isinstance(a, Mapping) and a.get("attribute")
    ]


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def fill(text: str, code: str, readable: Mapping[str, Any]) -> str | list[str]:
    """
    Fill the ``{{placeholder}}`` of one selection value.

    A value that is one placeholder takes the asset value as it is (a list stays a list);
    placeholders inside a longer text are replaced by their text.

    Raises:
        RuleSkipped: a placeholder has no value on the asset.
    """

    def value(name: str) -> str | list[str]:
        if name == "code":
            return code
        found = readable.get(name)
        if found is None or found == "" or found == []:
            raise RuleSkipped(f"the placeholder {{{{{name}}}}} has no value on the asset")
        return [str(v) for v in found] if isinstance(found, list) else str(found)

    whole = PLACEHOLDER.fullmatch(text)
    if whole is not None:
        return value(whole.group(1))
    return PLACEHOLDER.sub(lambda m: str(value(m.group(1))), text)


def resolve_rule(
    rule: Mapping[str, Any], code: str, readable: Mapping[str, Any]
) -> tuple[Selection, ...]:
    """
    A rule's selections for one asset, placeholders filled.

    Args:
        rule: One item of the family's ``product_link_rules``.
        code: The asset code.
        readable: What the rules read on the asset (see ``readable_values``).

    Returns:
        The selections.

    Raises:
        RuleSkipped: no selection, an unknown operator or a placeholder without value.
    """
    raw = [s for s in _list(rule.get("product_selections")) if isinstance(s, Mapping)]
    if not raw:
        raise RuleSkipped("the rule has no product_selections")
    selections = []
    for item in raw:
        operator = str(item.get("operator"))
        if operator not in OPERATORS:
            raise RuleSkipped(f"the operator {operator!r} is not supported")
        value = item.get("value")
        values: list[str] = []
        for one in value if isinstance(value, list) else [value]:
            filled = fill(one, code, readable) if isinstance(one, str) else _text(one)
            values.extend(filled if isinstance(filled, list) else [filled])
        selections.append(
            Selection(
                str(item.get("field")),
                operator,
                tuple(values),
                _opt(item.get("locale")),
                _opt(item.get("channel")),
            )
        )
    return tuple(selections)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class Query:
    """
    How one asset's rule is checked against one kind of record.

    Args:
        kind: Products or product models.
        search: The property filters, sent to the PIM.
        keys: Identifier values the record's identifier (a model's code) must be among, or
            ``None`` when the rule names no identifier with ``=``/``EQUALS``/``IN``.
        excluded: Identifier values it must not be (``NOT IN``).
        local: Attribute selections, checked on the values read.
    """

    kind: ProductKind
    search: Search
    keys: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()
    local: tuple[Selection, ...] = ()

    @property
    def group(self) -> tuple[ProductKind, str, bool]:
        """Queries that share one read (their identifier values then go together)."""
        return self.kind, json.dumps(self.search, sort_keys=True), self.keys is not None


def plan_queries(selections: Sequence[Selection], fields: ProductFields) -> list[Query]:
    """
    Turn one asset's selections into a query per kind of record that can match.

    Raises:
        RuleSkipped: a field that is neither a property nor a product attribute, or a
            selection the search API cannot express.
    """
    queries = []
    for kind in KINDS:
        search: dict[str, list[dict[str, object]]] = {}
        keys: frozenset[str] | None = None
        excluded: frozenset[str] = frozenset()
        local: list[Selection] = []
        possible = True
        for s in selections:
            if s.field in PROPERTY_FIELDS:
                if s.field == "enabled" and kind == "product_model":
                    possible = False  # a product model has no "enabled": never selected
                    continue
                search.setdefault(s.field, []).append(_property_filter(s))
            elif s.field == fields.identifier:
                if s.operator == "NOT IN":
                    excluded |= frozenset(s.values)
                else:
                    keys = frozenset(s.values) if keys is None else keys & frozenset(s.values)
            elif s.field in fields.attributes:
                local.append(s)
            else:
                raise RuleSkipped(f"the field {s.field!r} is not a product property or attribute")
        if possible:
            queries.append(Query(kind, search, keys, excluded, tuple(local)))
    return queries


def _property_filter(s: Selection) -> dict[str, object]:
    inside = s.operator in MATCH_OPERATORS
    if s.field == "enabled":
        if len(s.values) != 1 or s.values[0] not in ("true", "false", "1", "0"):
            raise RuleSkipped(f"{s.show()} cannot be searched: enabled takes true or false")
        wanted = s.values[0] in ("true", "1")
        return {"operator": "=" if inside else "!=", "value": wanted}
    if s.field == "parent" and not inside:
        raise RuleSkipped(f"{s.show()} cannot be searched: the PIM has no parent NOT IN filter")
    return {"operator": "IN" if inside else "NOT IN", "value": list(s.values)}


def selects(record: Product, query: Query) -> bool:
    """Whether a record read for ``query`` passes its identifier and attribute selections."""
    key = record.identifier if record.kind == "product" else record.key
    if query.keys is not None and key not in query.keys:
        return False
    if key in query.excluded:
        return False
    for s in query.local:
        hit = bool(_current(record, s) & set(s.values))
        if hit is (s.operator == "NOT IN"):
            return False
    return True


def _current(record: Product, s: Selection) -> set[str]:
    for value in record.values.get(s.field, ()):
        if value.locale == s.locale and value.scope == s.channel:
            data = value.data
            return {_text(d) for d in data} if isinstance(data, list) else {_text(data)}
    return set()


async def _scan(found: AsyncIterator[Product], records: list[Product]) -> bool:
    """Read at most :data:`SCAN_LIMIT` records; whether there were more."""
    try:
        async for record in found:
            if len(records) >= SCAN_LIMIT:
                return True
            records.append(record)
        return False
    finally:
        close = getattr(found, "aclose", None)
        if close is not None:
            await close()  # stop its paging now, not when it is collected


Verdict = Literal["found", "none", "unchecked"]


@dataclass(slots=True)
class RuleCheck:
    """One asset's rule: the queries to run, then what they found."""

    rule: int
    selections: tuple[Selection, ...] = ()
    queries: list[Query] = field(default_factory=list)
    verdict: Verdict = "none"
    reason: str = ""

    def show(self) -> str:
        if self.reason:
            return f"rule {self.rule}: {self.reason}"
        return f"rule {self.rule} ({', '.join(s.show() for s in self.selections)})"


async def run_checks(
    finder: ProductFinder, checks: Sequence[RuleCheck], *, identifier: str | None = None
) -> int:
    """
    Run the queries of many assets' rules with as few reads as possible; set each verdict.

    Args:
        finder: The PIM.
        checks: The rule checks of every sampled asset (those with a ``reason`` are skipped).
        identifier: The identifier attribute's code: the only value read when no attribute
            selection needs values.

    Returns:
        The number of searches sent (each may read several pages).
    """
    groups: dict[tuple[ProductKind, str, bool], list[tuple[RuleCheck, Query]]] = {}
    for check in checks:
        if check.reason:
            continue
        for query in check.queries:
            groups.setdefault(query.group, []).append((check, query))
    reads = 0
    for (kind, _, keyed), members in groups.items():
        search = members[0][1].search
        wanted_values = sorted({s.field for _, q in members for s in q.local})
        attributes = wanted_values or ([identifier] if identifier else None)
        records: list[Product] = []
        truncated = False
        if keyed:
            wanted = sorted({k for _, q in members for k in q.keys or ()})
            for start in range(0, len(wanted), MAX_IN):
                ask = {
                    **search,
                    "identifier": [{"operator": "IN", "value": wanted[start : start + MAX_IN]}],
                }
                reads += 1
                async for record in finder.iter_products(ask, kind=kind, attributes=attributes):
                    records.append(record)
        else:
            reads += 1
            truncated = await _scan(
                finder.iter_products(search, kind=kind, attributes=attributes), records
            )
        for check, query in members:
            if check.verdict == "found":
                continue
            if any(selects(record, query) for record in records):
                check.verdict = "found"
            elif truncated:
                check.verdict = "unchecked"
                check.reason = (
                    f"not checked: its selection reads more than {SCAN_LIMIT} "
                    f"{kind.replace('_', ' ')}s without an identifier"
                )
    return reads


__all__ = [
    "KINDS",
    "MAX_IN",
    "PLACEHOLDER",
    "SCAN_LIMIT",
    "ProductFields",
    "ProductFinder",
    "Query",
    "RuleCheck",
    "RuleSkipped",
    "Selection",
    "assignment_targets",
    "fill",
    "plan_queries",
    "resolve_rule",
    "run_checks",
    "selection_fields",
    "selects",
]
