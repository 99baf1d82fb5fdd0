"""
Product link rules, direct mode: which product asset collections an asset goes into.

One ``[[sources.mapping.families.product_links]]`` table per rule::

    [[sources.mapping.families.product_links]]
    attribute = "model_pictures"         # asset collection of the family (checked on the PIM)
    kind = "product"                     # or "product_model" (identifiers are then codes)
    identifier_path = "metadata.skus"    # a string or a list of strings: several products
    # identifier_template = "{metadata.sku}"   (exactly one of path or template)
    split = ","                          # optional: "a,b" names two products
    locale = "en_US"                     # only when the attribute is localizable
    scope = "ecommerce"                  # only when it is scopable
    mode = "add"                         # add | replace
    position_path = "metadata.position"  # optional: lower first (true before false)
    placement = "last"                   # damsync's codes first | last, others keep their order

``add`` only ever adds damsync's codes; ``replace`` makes damsync's own codes of this rule on a
product exactly the current set (an asset whose metadata no longer names a product leaves it).
Codes damsync did not add are never removed, whatever the mode. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from daemon.core.config_model import Model
from daemon.mapping.paths import parse_path, parse_template

CODE = re.compile(r"^[A-Za-z0-9_]+$")

LinkMode = Literal["add", "replace"]
LinkPlacement = Literal["first", "last"]
LinkKind = Literal["product", "product_model"]


class ProductLinkRule(Model):
    """One direct product link rule of a family rule; see the module docstring."""

    attribute: str = Field(min_length=1)
    kind: LinkKind = "product"
    identifier_path: str | None = None
    identifier_template: str | None = None
    split: str | None = Field(None, min_length=1)
    locale: str | None = Field(None, min_length=1)
    scope: str | None = Field(None, min_length=1)
    mode: LinkMode = "add"
    position_path: str | None = None
    placement: LinkPlacement = "last"

    @field_validator("attribute")
    @classmethod
    def _attribute_code(cls, value: str) -> str:
        if not CODE.match(value):
            raise ValueError(
                f"attribute {value!r} is not a product attribute code (letters, digits, _)"
            )
        return value

    @field_validator("identifier_path", "position_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value

    @field_validator("identifier_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            parse_template(value)
        return value

    @model_validator(mode="after")
    def _one_identifier_source(self) -> ProductLinkRule:
        given = [self.identifier_path, self.identifier_template]
        if sum(v is not None for v in given) != 1:
            raise ValueError("set exactly one of identifier_path, identifier_template")
        return self


__all__ = ["LinkKind", "LinkMode", "LinkPlacement", "ProductLinkRule"]
