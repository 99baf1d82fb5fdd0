"""
The PIM client's own result records: what the Akeneo API answered, typed.

The shared records (``AssetFamily``, ``AssetAttribute``, ``Channel``, ``PimAsset``) live in
``daemon.core.records``; these are the answers only this client produces (per-item bulk outcomes,
listed families and assets, options, product attributes). Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from daemon.core.errors import FieldError, PimError
from daemon.core.records import PimValue

#: How one item of a bulk write ended. ``failed`` means the whole request carrying the item
#: failed (network, 5xx after retries, 413, unreadable answer): ``error`` says why.
Outcome = Literal["created", "updated", "rejected", "failed"]

#: The key that names a line of a product bulk PATCH.
LineKey = Literal["identifier", "uuid", "code"]

#: Which product-like resource: a product (``/products``) or a product model (``/product-models``).
ProductKind = Literal["product", "product_model"]


class ClientState(enum.Enum):
    """Lifecycle of a :class:`~daemon.pim.client.PimClient` (as httpx's ``ClientState``)."""

    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


class UpsertStatus(enum.Enum):
    """The answer to a single upsert PATCH: 201 or 204."""

    CREATED = 201
    UPDATED = 204


class _ItemOutcome:
    """What the results of a bulk write's items share: ``ok`` read from the ``outcome``."""

    __slots__ = ()
    outcome: Outcome

    @property
    def ok(self) -> bool:
        return self.outcome in ("created", "updated")


@dataclass(frozen=True, slots=True)
class AssetUpsertResult(_ItemOutcome):
    """
    The fate of one asset of a bulk upsert, reported at the asset's input position.

    Args:
        index: Position in the caller's input.
        code: The asset code sent (``None`` when the input had no usable code).
        outcome: ``created`` (201), ``updated`` (204), ``rejected`` (the PIM or the client
            refused this item) or ``failed`` (its whole request failed).
        status_code: The per-item status, the request status for ``failed``, or ``None`` when
            the client refused the item before sending it.
        message: Akeneo's message, empty on success.
        errors: Akeneo's per-field errors.
        error: The request error for ``failed`` items.
    """

    index: int
    code: str | None
    outcome: Outcome
    status_code: int | None = None
    message: str = ""
    errors: tuple[FieldError, ...] = ()
    error: PimError | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class LineResult(_ItemOutcome):
    """
    The fate of one line of a product / product-model NDJSON bulk PATCH, in input order.

    Args:
        index: Position in the caller's input.
        key: ``identifier``, ``uuid`` or ``code``.
        value: That key's value as sent (``None`` when missing).
        line: The 1-based line number within its request (``None`` when never sent).
        outcome: As for :class:`AssetUpsertResult`.
        status_code: The line's status (or the request's for ``failed``).
        message: Akeneo's message.
        errors: Per-field errors; ``attribute``, ``locale`` and ``scope`` (as ``channel``) kept.
        error: The request error for ``failed`` lines.
    """

    index: int
    key: LineKey
    value: str | None
    line: int | None
    outcome: Outcome
    status_code: int | None = None
    message: str = ""
    errors: tuple[FieldError, ...] = ()
    error: PimError | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class AssetFamilyInfo:
    """One asset family as listed (without its attributes; see ``get_family_structure``)."""

    code: str
    labels: Mapping[str, str] = field(default_factory=dict)
    attribute_as_main_media: str | None = None
    naming_convention: Mapping[str, Any] = field(default_factory=dict)
    product_link_rules: tuple[Mapping[str, Any], ...] = ()
    transformations: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class AttributeOption:
    """One option of a ``single_option`` / ``multiple_options`` asset attribute."""

    code: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RemoteAsset:
    """An asset as the PIM returns it; ``created``/``updated`` exist from PIM 6.0 on."""

    family: str
    code: str
    values: Mapping[str, tuple[PimValue, ...]] = field(default_factory=dict)
    created: datetime | None = None
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProductAttribute:
    """A product attribute; ``reference_data_name`` is the asset family of an asset collection."""

    code: str
    type: str
    localizable: bool = False
    scopable: bool = False
    reference_data_name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_asset_collection(self) -> bool:
        return self.type == "pim_catalog_asset_collection"


@dataclass(frozen=True, slots=True)
class ProductValue:
    """
    One product value as read: ``locale``/``scope`` (``None`` when not localizable/scopable).

    ``data`` is kept as the PIM sent it (for an asset collection: the ordered list of asset
    codes); read-only extras (``linked_data``, ``attribute_type``...) are dropped.
    """

    data: Any
    locale: str | None = None
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class Product:
    """
    A product or product model as listed by ``iter_products``.

    Args:
        kind: ``product`` or ``product_model``.
        key: What names it in a bulk PATCH: the identifier of a product (its uuid when it has
            no identifier, PIM 7+), the code of a product model.
        updated: When the PIM last changed it (``None`` if the PIM did not say).
        values: Values by attribute code, as read (only the asked ``attributes`` if any).
        uuid: A product's uuid (``None`` for product models or PIMs before 7).
        identifier: A product's identifier, ``None`` for product models or without one.
    """

    kind: ProductKind
    key: str
    updated: datetime | None
    values: Mapping[str, tuple[ProductValue, ...]] = field(default_factory=dict)
    uuid: str | None = None
    identifier: str | None = None

    @property
    def line_key(self) -> LineKey:
        """The NDJSON key this record is written back with."""
        if self.kind == "product_model":
            return "code"
        return "identifier" if self.identifier else "uuid"


__all__ = [
    "AssetFamilyInfo",
    "AssetUpsertResult",
    "AttributeOption",
    "ClientState",
    "LineKey",
    "LineResult",
    "Outcome",
    "Product",
    "ProductAttribute",
    "ProductKind",
    "ProductValue",
    "RemoteAsset",
    "UpsertStatus",
]
