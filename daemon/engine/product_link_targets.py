"""
Which product collections an asset wants, from its DAM metadata and its family's link rules.

Pure: the rules are compiled once (paths, templates), and each written asset gives one
:class:`~daemon.store.product_link_store.LinkWant` per rule. An identifier value may be a text, a
number or a list of them (several products); ``split`` cuts a text into several. A value the
rule cannot use (an object, a position that is no number) is a :class:`ProductLinkError` naming
the asset, the rule and the field, and that rule is skipped for that asset alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.core.errors import PermanentError, SyncError
from daemon.core.records import DamAsset
from daemon.mapping.paths import Getter, ValueProblem, compile_path, compile_template, text_of
from daemon.mapping.product_link_rules import ProductLinkRule
from daemon.pim.models import ProductAttribute
from daemon.store.product_link_store import LinkTarget, LinkWant, WantedLink


class ProductLinkError(SyncError, PermanentError):
    """A product link of one asset cannot be made (bad metadata, unknown product, refusal)."""


#: Rule keys lie in ``[KEY_BASE, 2**31)`` (a PostgreSQL ``integer``); a stored ``rule`` below it
#: is a rule's index, as written before rules had a stable key (taken over by position once).
KEY_BASE = 1 << 30


def rule_name(family: str, index: int) -> str:
    """How a link rule is named in messages: ``model_pictures.product_links[0]``."""
    return f"{family}.product_links[{index}]"


def rule_key(rule: ProductLinkRule, occurrence: int = 0) -> int:
    """
    A link rule's stable identity, stored in the ``rule`` columns: derived from the collection
    it writes (kind, attribute, locale, scope), never from its place, so reordering the rules
    keeps track of older ``replace`` links. ``occurrence`` tells apart rules of one family that
    write the same collection (the 2nd, 3rd... of them, in their order).
    """
    text = "\x1f".join((rule.kind, rule.attribute, rule.locale or "", rule.scope or ""))
    if occurrence:
        text += f"\x1f{occurrence}"
    digest = hashlib.sha256(text.encode()).digest()
    return KEY_BASE + int.from_bytes(digest[:4], "big") % KEY_BASE


def key_name(
    family: str, key: int, names: Mapping[tuple[str, int], int], attribute: str = ""
) -> str:
    """The message name of the rule stored as ``key`` (its index when known)."""
    index = names.get((family, key), key if key < KEY_BASE else None)
    if index is not None:
        return rule_name(family, index)
    return f"{family}.product_links[attribute {attribute!r}]"


def attribute_problem(
    attribute: ProductAttribute, family: str, locale: str | None, scope: str | None
) -> str:
    """Why a rule cannot write into ``attribute`` (empty when it can)."""
    code = attribute.code
    if not attribute.is_asset_collection:
        return f"product attribute {code!r} is a {attribute.type}, not an asset collection"
    if attribute.reference_data_name != family:
        return (
            f"product attribute {code!r} holds assets of family "
            f"{attribute.reference_data_name!r}, not {family!r}"
        )
    for name, needed, given in (
        ("locale", attribute.localizable, locale),
        ("scope", attribute.scopable, scope),
    ):
        if needed and given is None:
            return f"product attribute {code!r} needs a {name}: set {name} in the rule"
        if not needed and given is not None:
            return f"product attribute {code!r} has no {name}: remove {name} from the rule"
    return ""


@dataclass(frozen=True, slots=True)
class CompiledLinkRule:
    """One link rule, its identifier and position getters built once."""

    index: int
    rule: ProductLinkRule
    identifiers: Getter
    position: Getter | None
    key: int = 0


def compile_link_rules(rules: Sequence[ProductLinkRule]) -> tuple[CompiledLinkRule, ...]:
    """Compile a family rule's ``product_links`` (their syntax was checked at load)."""
    out = []
    seen: dict[int, int] = {}
    for index, rule in enumerate(rules):
        base = rule_key(rule)
        occurrence = seen[base] = seen.get(base, -1) + 1
        if rule.identifier_path is not None:
            getter = compile_path(rule.identifier_path)
        else:
            getter = compile_template(rule.identifier_template or "")
        position = compile_path(rule.position_path) if rule.position_path else None
        key = rule_key(rule, occurrence)
        out.append(CompiledLinkRule(index, rule, getter, position, key))
    return tuple(out)


def identifiers_of(value: Any, split: str | None) -> list[str]:
    """
    The product identifiers (or model codes) in a metadata value, in order, without repeats.

    Raises:
        ValueProblem: an object, or a list holding one.
    """
    items = value if isinstance(value, list | tuple) else [value]
    found: list[str] = []
    for item in items:
        if item is None:
            continue
        text = text_of(item)
        parts = text.split(split) if split else [text]
        found += [p.strip() for p in parts if p.strip()]
    return list(dict.fromkeys(found))


def position_of(value: Any) -> float | None:
    """
    A position: a number or numeric text (lower first), or a flag (true first).

    Raises:
        ValueProblem: anything else.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return 0.0 if value else 1.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueProblem(f"expected a number or true/false, got {str(value)[:40]!r}")


def wants_of(
    asset: DamAsset, family: str, code: str, rules: Sequence[CompiledLinkRule]
) -> tuple[list[LinkWant], list[ProductLinkError]]:
    """
    What ``asset`` (PIM key ``family``/``code``) wants from each link rule of its family.

    Returns:
        One want per usable rule (a ``replace`` rule with no identifier wants none: the asset
        leaves that rule's products), and the problems of the others.
    """
    wants: list[LinkWant] = []
    problems: list[ProductLinkError] = []
    for compiled in rules:
        rule = compiled.rule
        name = rule_name(family, compiled.index)
        field = rule.identifier_path or rule.identifier_template
        try:
            keys = identifiers_of(compiled.identifiers(asset), rule.split)
            field = rule.position_path
            position = position_of(compiled.position(asset)) if compiled.position else None
        except ValueProblem as exc:
            problems.append(
                ProductLinkError(f"asset {asset.id!r}: {name}: field {field!r}: {exc.reason}")
            )
            continue
        targets = tuple(
            WantedLink(
                LinkTarget(rule.kind, key, rule.attribute, rule.locale, rule.scope), position
            )
            for key in keys
        )
        wants.append(
            LinkWant(asset.id, compiled.key, family, code, rule.mode, rule.placement, targets)
        )
    return wants, problems


__all__ = [
    "KEY_BASE",
    "CompiledLinkRule",
    "ProductLinkError",
    "attribute_problem",
    "compile_link_rules",
    "identifiers_of",
    "key_name",
    "position_of",
    "rule_key",
    "rule_name",
    "wants_of",
]
